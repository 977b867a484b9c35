import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { loadConfig } from "../../env";
import type { AppEnv } from "../../http/app-env";
import { errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { requireJsonBody, validationHook } from "../../http/validation";
import { emailSchema, passwordSchema } from "../../http/fields";
import { HOUR_MS, limitPerClient } from "../../rate-limit/middleware";
import { createTenant } from "./service";

const TenantSignupSchema = z
  .object({
    name: z.string().trim().min(1, "name is required").max(100, "name must be at most 100 characters").openapi({ example: "Initech" }),
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

export const tenantRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(createTenantRoute, async (c) => {
  const created = await createTenant(c.env, c.req.valid("json"));
  return c.json(created, 201);
});
