import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import { loadConfig } from "../../env";
import type { AppEnv } from "../../http/app-env";
import { INVITE_POLICIES } from "../../db/schema";
import { anyMember, authenticate, requireRole } from "../../http/authenticate";
import { bearerSecurity, errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { IsoTimestampSchema } from "../../http/schemas";
import { requireJsonBody, validationHook } from "../../http/validation";
import { emailSchema, passwordSchema, redirectOriginSchema } from "../../http/fields";
import { FORBIDDEN_NAME_CHARACTERS } from "../../lib/names";
import { HOUR_MS, limitPerClient } from "../../rate-limit/middleware";
import { createTenant, getTenant, getTenantSettings, updateTenantSettings } from "./service";

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
  security: bearerSecurity,
  middleware: [...anyMember] as const,
  request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid" }) }) },
  responses: {
    200: jsonContent(TenantSchema, "The tenant"),
    ...errorResponses(401, 404),
  },
});

export const MAX_REDIRECT_ORIGINS = 10;

const TenantSettingsSchema = z
  .object({
    id: z.uuid(),
    name: z.string().openapi({ example: "Initech" }),
    invitePolicy: z.enum(INVITE_POLICIES),
    redirectOrigins: z.array(z.string()).openapi({ example: ["https://app.initech.test"] }),
    createdAt: IsoTimestampSchema,
    updatedAt: IsoTimestampSchema,
  })
  .openapi("TenantSettings");

const ChangeTenantSettingsSchema = z
  .object({
    invitePolicy: z.enum(INVITE_POLICIES, "invitePolicy must be AdminsOnly or Members").optional(),
    redirectOrigins: z
      .array(redirectOriginSchema)
      .max(MAX_REDIRECT_ORIGINS, `at most ${MAX_REDIRECT_ORIGINS} redirectOrigins`)
      .transform((origins) => [...new Set(origins)])
      .optional()
  })
  .refine((change) => change.invitePolicy !== undefined || change.redirectOrigins !== undefined, { message: "Give invitePolicy, redirectOrigins or both" })
  .openapi("ChangeTenantSettings");

const getSettingsRoute = createRoute({
  method: "get",
  path: "/tenants/current",
  tags: ["Tenants"],
  security: bearerSecurity,
  middleware: [...anyMember] as const,
  responses: {
    200: jsonContent(TenantSettingsSchema, "The tenant"),
    ...errorResponses(401, 404),
  },
});

const patchSettingsRoute = createRoute({
  method: "patch",
  path: "/tenants/current",
  tags: ["Tenants"],
  security: bearerSecurity,
  middleware: [authenticate, requireRole("Owner"), requireJsonBody] as const,
  request: { body: jsonBody(ChangeTenantSettingsSchema) },
  responses: {
    200: jsonContent(TenantSettingsSchema, "The tenant as changed"),
    ...errorResponses(400, 401, 403, 404, 413, 415),
  },
});

export const tenantRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createTenantRoute, async (c) => {
    const created = await createTenant(c.env, c.req.valid("json"));
    return c.json(created, 201);
  })
  .openapi(getSettingsRoute, async (c) => c.json(await getTenantSettings(c.env, c.get("caller").tenantId), 200))
  .openapi(patchSettingsRoute, async (c) => c.json(await updateTenantSettings(c.env, c.get("caller"), c.req.valid("json")), 200))
  .openapi(getTenantRoute, async (c) => c.json(await getTenant(c.env, c.get("caller").tenantId, c.req.valid("param").id), 200));
