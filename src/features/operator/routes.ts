import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import { INVITE_POLICIES, INVITE_ROLES } from "../../db/schema";
import type { AppEnv } from "../../http/app-env";
import { authenticate, operatorOnly } from "../../http/authenticate";
import { cursorPageSchema, cursorQuerySchema, cursorRequest } from "../../http/cursor";
import { bearerSecurity, errorResponses, jsonContent } from "../../http/openapi";
import { validationHook } from "../../http/validation";
import { INVITE_STATUSES } from "../invites/service";
import { viewInvites, viewTenants } from "./service";

const ISO = z.iso.datetime();

/** Never a token: the operator reads, never redeems. */
const OperatorInviteSchema = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    tenantName: z.string().nullable(),
    targetRole: z.enum(INVITE_ROLES),
    status: z.enum(INVITE_STATUSES),
    email: z.string().nullable(),
    createdBy: z.uuid(),
    createdAt: ISO,
    expiresAt: ISO,
    usedAt: ISO.nullable(),
    revokedAt: ISO.nullable(),
    uses: z.number().int(),
    maxUses: z.number().int(),
    allowedDomains: z.array(z.string()).nullable(),
  })
  .openapi("OperatorInvite");

const OperatorTenantSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    invitePolicy: z.enum(INVITE_POLICIES),
    inviteCount: z.number().int(),
    memberCount: z.number().int(),
    createdAt: ISO,
    updatedAt: ISO,
  })
  .openapi("OperatorTenant");

const listInvitesRoute = createRoute({
  method: "get",
  path: "/operator/invites",
  tags: ["Operator"],
  security: bearerSecurity,
  middleware: [authenticate, operatorOnly] as const,
  request: { query: cursorQuerySchema.extend({ TenantId: z.uuid("TenantId must be a tenant id").optional() }) },
  responses: { 200: jsonContent(cursorPageSchema(OperatorInviteSchema, "OperatorInvitePage"), "A page of invites, newest first"), ...errorResponses(400, 401, 403) },
});

const listTenantsRoute = createRoute({
  method: "get",
  path: "/operator/tenants",
  tags: ["Operator"],
  security: bearerSecurity,
  middleware: [authenticate, operatorOnly] as const,
  request: { query: cursorQuerySchema },
  responses: { 200: jsonContent(cursorPageSchema(OperatorTenantSchema, "OperatorTenantPage"), "A page of tenants, newest first"), ...errorResponses(400, 401, 403) },
});

export const operatorRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(listInvitesRoute, async (c) => {
    const query = c.req.valid("query");
    return c.json(await viewInvites(c.env, c.get("caller"), cursorRequest(query), query.TenantId), 200);
  })
  .openapi(listTenantsRoute, async (c) => c.json(await viewTenants(c.env, c.get("caller"), cursorRequest(c.req.valid("query"))), 200));
