import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import { loadConfig } from "../../env";
import type { AppEnv } from "../../http/app-env";
import { anyMember } from "../../http/authenticate";
import { bearerSecurity, errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { requireJsonBody, validationHook } from "../../http/validation";
import { emailSchema, passwordSchema } from "../../http/fields";
import { FORBIDDEN_NAME_CHARACTERS } from "../../lib/names";
import { HOUR_MS, limitPerClient } from "../../rate-limit/middleware";
import { createTenant, getTenant } from "./service";

const TenantSignupSchema = z
  .object({
    name: z
      .string()
      .trim()
      .min(1, "name is required")
      .max(100, "name must be at most 100 characters")
      .refine((name) => !FORBIDDEN_NAME_CHARACTERS.test(name), "name must not contain control or invisible formatting characters (e.g. U+202E, U+200B)")
      .openapi({
        example: "Initech",
        description: "Unique after NFKC normalization and case folding (Café = Cafe\u0301 = CAFÉ, straße = STRASSE); control and format characters (Unicode Cc/Cf) are refused",
      }),
    adminEmail: emailSchema,
    adminPassword: passwordSchema,
  })
  .openapi("TenantSignup");

const TenantCreatedSchema = z
  .object({
    tenantId: z.uuid(),
    tenantName: z.string(),
    tenantCreatedAt: z.iso.datetime(),
    adminUserId: z.uuid(),
    adminEmail: z.string(),
    adminRole: z.literal("Owner"),
    adminCreatedAt: z.iso.datetime(),
  })
  .openapi("TenantCreated");

const createTenantRoute = createRoute({
  method: "post",
  path: "/tenants",
  tags: ["Tenants"],
  summary: "Sign up: create a tenant and its Owner",
  middleware: [
    limitPerClient((c) => ({ name: "tenant-signup", limit: loadConfig(c.env).limits.tenantSignupPerHour, windowMs: HOUR_MS })),
    requireJsonBody,
  ] as const,
  request: { body: jsonBody(TenantSignupSchema) },
  responses: {
    201: jsonContent(TenantCreatedSchema, "Tenant and Owner created"),
    ...errorResponses(400, 409, 413, 415, 429, 503),
  },
});

const TenantSchema = z
  .object({
    id: z.uuid(),
    name: z.string().openapi({ example: "Initech" }),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    memberCount: z.number().int().openapi({ description: "Members of the tenant, Active and Inactive" }),
  })
  .openapi("Tenant");

const getTenantRoute = createRoute({
  method: "get",
  path: "/tenants/{id}",
  tags: ["Tenants"],
  summary: "The caller's tenant (any member)",
  description: "Any id other than the caller's own tenant (another tenant's included) is 404 TENANT_NOT_FOUND.",
  security: bearerSecurity,
  middleware: [...anyMember] as const,
  request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid" }) }) },
  responses: {
    200: jsonContent(TenantSchema, "The tenant"),
    ...errorResponses(401, 404),
  },
});

export const tenantRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createTenantRoute, async (c) => {
    const created = await createTenant(c.env, c.req.valid("json"));
    return c.json(created, 201);
  })
  .openapi(getTenantRoute, async (c) => c.json(await getTenant(c.env, c.get("caller").tenantId, c.req.valid("param").id), 200));
