import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { INVITE_ROLES } from "../../db/schema";
import { loadConfig } from "../../env";
import type { AppEnv } from "../../http/app-env";
import { authenticate, requireRole } from "../../http/authenticate";
import { emailSchema, passwordSchema } from "../../http/fields";
import { bearerSecurity, errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { enumFilter, pageQuerySchema, resolveSortField } from "../../http/pagination";
import { requireJsonBody, validationHook } from "../../http/validation";
import { HOUR_MS, limitPerClient } from "../../rate-limit/middleware";
import { createInvite, INVITE_SORT_FIELDS, INVITE_STATUSES, listInvites, redeemInvite } from "./service";

const ISO = z.iso.datetime().openapi({ example: "2026-07-10T14:32:00.000Z" });

export const InviteSchema = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    token: z.string().openapi({ example: "inv_3q2-796tvu_erb7v3q2-796tvu_erb7v3q2-796tvu8" }),
    targetRole: z.enum(INVITE_ROLES),
    expiresAt: ISO,
    usedAt: ISO.nullable(),
    status: z.enum(INVITE_STATUSES),
    createdAt: ISO,
    email: z.string().nullable(),
    createdBy: z.uuid(),
    revokedAt: ISO.nullable(),
    updatedAt: ISO,
  })
  .openapi("Invite");

const CreateInviteSchema = z
  .object({
    validityDays: z
      .number("validityDays must be an integer")
      .int("validityDays must be an integer")
      .min(1, "validityDays must be between 1 and 30")
      .max(30, "validityDays must be between 1 and 30")
      .default(7)
      .openapi({ example: 7 }),
    role: z
      .enum(INVITE_ROLES, "role must be Developer, Viewer or Admin (an Owner is never invited)")
      .default("Developer")
      .openapi({ example: "Developer" }),
    email: emailSchema.optional().openapi({ description: "Bind the invite to this email (case-insensitive)" }),
  })
  .openapi("CreateInvite");

const RegisterSchema = z.object({ email: emailSchema, password: passwordSchema }).openapi("Register");

export const UserSchema = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    email: z.string(),
    status: z.enum(["Active", "Inactive"]),
    role: z.enum(["Owner", "Admin", "Developer", "Viewer"]),
    createdAt: ISO,
    updatedAt: ISO,
  })
  .openapi("User");

const InviteListQuery = pageQuerySchema(INVITE_SORT_FIELDS).extend({ Status: enumFilter("Status", INVITE_STATUSES) });

const InvitePageSchema = z.object({ total: z.number().int(), items: z.array(InviteSchema) }).openapi("InvitePage");

const adminOnly = [authenticate, requireRole("Owner", "Admin")] as const;

const createInviteRoute = createRoute({
  method: "post",
  path: "/invites",
  tags: ["Invites"],
  summary: "Create an invite",
  security: bearerSecurity,
  middleware: [...adminOnly, requireJsonBody] as const,
  request: { body: jsonBody(CreateInviteSchema) },
  responses: {
    201: {
      ...jsonContent(InviteSchema, "Invite created; `token` composes the registration link"),
      headers: { Location: { schema: { type: "string" }, description: "/api/v1/invites/{id}" } },
    },
    ...errorResponses(400, 401, 403, 404, 409, 413, 415),
  },
});

const listInvitesRoute = createRoute({
  method: "get",
  path: "/invites",
  tags: ["Invites"],
  summary: "List the tenant's invites",
  security: bearerSecurity,
  middleware: [...adminOnly] as const,
  request: { query: InviteListQuery },
  responses: {
    200: jsonContent(InvitePageSchema, "A page of invites; `total` counts every match"),
    ...errorResponses(400, 401, 403, 404),
  },
});

const registerRoute = createRoute({
  method: "post",
  path: "/invites/{token}/register",
  tags: ["Invites"],
  summary: "Register with an invite token",
  middleware: [
    limitPerClient((c) => ({ name: "register", limit: loadConfig(c.env).limits.registerPerHour, windowMs: HOUR_MS })),
    requireJsonBody,
  ] as const,
  request: {
    params: z.object({ token: z.string().openapi({ param: { name: "token", in: "path" }, example: "inv_…" }) }),
    body: jsonBody(RegisterSchema),
  },
  responses: {
    201: jsonContent(UserSchema, "User created with the invite's role"),
    ...errorResponses(400, 404, 409, 413, 415, 429, 503),
  },
});

export const inviteRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createInviteRoute, async (c) => {
    const invite = await createInvite(c.env, c.get("caller"), c.req.valid("json"));
    c.header("Location", `/api/v1/invites/${invite.id}`);
    return c.json(invite, 201);
  })
  .openapi(listInvitesRoute, async (c) => {
    const query = c.req.valid("query");
    const page = await listInvites(c.env, c.get("caller").tenantId, {
      page: query.Pg,
      perPage: query.Qt,
      sortField: resolveSortField(query.CpOrd, INVITE_SORT_FIELDS),
      direction: query.TpOrd,
      status: query.Status,
    });
    return c.json(page, 200);
  })
  .openapi(registerRoute, async (c) => {
    const user = await redeemInvite(c.env, c.req.valid("param").token, c.req.valid("json"));
    return c.json(user, 201);
  });
