import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import type { AppEnv } from "../../http/app-env";
import { ApiError } from "../../http/errors";
import { emailSchema } from "../../http/fields";
import { ROLES } from "../../db/schema";
import { authenticate } from "../../http/authenticate";
import { bearerSecurity, errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { requireJsonBody, validationHook } from "../../http/validation";
import { loadConfig } from "../../env";
import { countLoginAttempt } from "../../rate-limit/login";
import { HOUR_MS, limit, type RateLimitPolicy } from "../../rate-limit/middleware";
import { checkCredentials, endSession, publicSigningKeys, refreshSession, signIn, switchTenant } from "./service";

const LoginSchema = z
  .object({
    email: emailSchema,
    // Not the signup policy: any string is checked, so the policy never leaks through 400 vs 401.
    password: z.string().min(1, "password is required").max(1024).openapi({ example: "correct horse battery staple" }),
    tenantId: z
      .uuid("tenantId must be a UUID")
      .optional()
      .openapi({ description: "The tenant to sign in to; default: the one signed in to most recently, else the oldest membership" }),
  })
  .openapi("Login");

export const TokenPairSchema = z
  .object({
    accessToken: z.string(),
    tokenType: z.literal("Bearer"),
    expiresIn: z.number().int().openapi({ example: 900 }),
    expiresAt: z.iso.datetime(),
    refreshToken: z.string().openapi({ example: "rt_…" }),
  })
  .openapi("TokenPair");

const TenantChoiceSchema = z
  .object({ tenantId: z.uuid(), tenantName: z.string().openapi({ example: "Initech" }), role: z.enum(ROLES) })
  .openapi("TenantChoice");

export const SignInSchema = TokenPairSchema.extend({
  tenantId: z.uuid().openapi({ description: "The tenant this session (and the access token's tenant_id) is for" }),
  tenants: z.array(TenantChoiceSchema).openapi({ description: "Every tenant the account is an active member of" }),
}).openapi("SignIn");

const loginRoute = createRoute({
  method: "post",
  path: "/auth/login",
  tags: ["Auth"],
  middleware: [requireJsonBody] as const,
  request: { body: jsonBody(LoginSchema) },
  responses: {
    200: jsonContent(SignInSchema, "Signed in"),
    ...errorResponses(400, 401, 403, 413, 415, 429, 503),
  },
});

const SwitchTenantSchema = z.object({ tenantId: z.uuid("tenantId must be a UUID") }).openapi("SwitchTenant");

const switchTenantRoute = createRoute({
  method: "post",
  path: "/auth/switch-tenant",
  tags: ["Auth"],
  security: bearerSecurity,
  middleware: [authenticate, requireJsonBody] as const,
  request: { body: jsonBody(SwitchTenantSchema) },
  responses: {
    200: jsonContent(SignInSchema, "Signed in to the tenant"),
    ...errorResponses(400, 401, 403, 413, 415),
  },
});

const RefreshTokenBodySchema = z
  .object({ refreshToken: z.string().max(512).openapi({ example: "rt_…" }) })
  .openapi("RefreshTokenBody");

const refreshRoute = createRoute({
  method: "post",
  path: "/auth/refresh",
  tags: ["Auth"],
  middleware: [requireJsonBody] as const,
  request: { body: jsonBody(RefreshTokenBodySchema) },
  responses: {
    200: jsonContent(TokenPairSchema, "A new access token and refresh token"),
    ...errorResponses(400, 401, 413, 415, 429, 503),
  },
});

const logoutRoute = createRoute({
  method: "post",
  path: "/auth/logout",
  tags: ["Auth"],
  middleware: [requireJsonBody] as const,
  request: { body: jsonBody(RefreshTokenBodySchema) },
  responses: {
    204: { description: "Signed out" },
    ...errorResponses(400, 413, 415),
  },
});

/** Verifiers may cache the key set this long; key rotation waits it out (README, "Key rotation"). */
export const JWKS_MAX_AGE_SECONDS = 300;

const JwkSchema = z
  .object({
    kty: z.literal("OKP"),
    crv: z.literal("Ed25519"),
    x: z.string(),
    kid: z.string(),
    alg: z.literal("EdDSA"),
    use: z.literal("sig"),
  })
  .openapi("PublicJwk");

const jwksRoute = createRoute({
  method: "get",
  path: "/.well-known/jwks.json",
  tags: ["Auth"],
  responses: {
    200: {
      ...jsonContent(z.object({ keys: z.array(JwkSchema) }).openapi("JsonWebKeySet"), "JSON Web Key Set"),
      headers: { "Cache-Control": { schema: { type: "string" }, description: `public, max-age=${JWKS_MAX_AGE_SECONDS}` } },
    },
  },
});

/** Served from the site root, not under /api/v1: verifiers look for it at this well-known path. */
export const wellKnownRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(jwksRoute, async (c) => {
  c.header("Cache-Control", `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
  return c.json({ keys: await publicSigningKeys(c.env) }, 200);
});

const invalidCredentials = (headers: Record<string, string>) =>
  new ApiError(401, "INVALID_CREDENTIALS", "Email or password is incorrect", {}, headers);

export const authRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(loginRoute, async (c) => {
  const { email, password, tenantId } = c.req.valid("json");
  const credentials = await checkCredentials(c.env, email, password);
  // One limiter call, after the check: nothing about the password is answered unless it is admitted.
  const headers = await countLoginAttempt(c, email, credentials !== null);
  if (!credentials) throw invalidCredentials(headers);
  // A right password counts as a success even when the asked tenant is refused (403 NOT_A_MEMBER).
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
  return c.json(await signIn(c.env, credentials, tenantId), 200);
})
  .openapi(switchTenantRoute, async (c) => c.json(await switchTenant(c.env, c.get("caller").userId, c.req.valid("json").tenantId), 200))
  .openapi(refreshRoute, async (c) => {
    const policy: RateLimitPolicy = { name: "refresh", limit: loadConfig(c.env).limits.refreshesPerHour, windowMs: HOUR_MS };
    const pair = await refreshSession(c.env, c.req.valid("json").refreshToken, async (familyId) => {
      await limit(c, [{ key: `refresh-family:${familyId}`, policies: [policy] }]);
    });
    return c.json(pair, 200);
  })
  .openapi(logoutRoute, async (c) => {
    await endSession(c.env, c.req.valid("json").refreshToken);
    return c.body(null, 204);
  });
