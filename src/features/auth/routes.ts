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
  summary: "Exchange email and password for an access token and a refresh token",
  description:
    "401 INVALID_CREDENTIALS for an unknown email, a wrong password and an account with no active membership alike. " +
    "With `tenantId`: 403 NOT_A_MEMBER when the password is right but the account is not an active member there. " +
    "429 RATE_LIMITED (with Retry-After) past any of: LOGIN_FAILURES_PER_5_MIN failed attempts (default 10) per client IP, " +
    "and per email from the client's network (IPv4 /24, IPv6 /64) — so guessing from one network never locks the owner out " +
    "elsewhere; LOGIN_FAILURES_PER_HOUR_PER_EMAIL failures (100) per email from all networks together; " +
    "LOGIN_SUCCESSES_PER_HOUR_PER_EMAIL (20) and LOGIN_SUCCESSES_PER_HOUR_PER_IP (100) successful logins.",
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
  summary: "Open a session in another tenant the caller belongs to",
  description:
    "Returns a login-shaped token pair for `tenantId` (a new refresh family; the current session stays valid). " +
    "403 NOT_A_MEMBER unless the caller's membership there is Active, also for a tenant that does not exist.",
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
  summary: "Trade a refresh token for a new pair; the presented one is spent",
  description:
    "Refresh tokens rotate: each works once. Presenting a spent token revokes its whole family (every token descended from the same login), so a stolen token and the legitimate one both stop working. Any refusal is 401 INVALID_REFRESH_TOKEN. " +
    "Each family (one signed-in session) may refresh REFRESH_LIMIT_PER_HOUR times per sliding hour (default 20); beyond that 429 RATE_LIMITED with Retry-After.",
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
  summary: "Revoke the refresh token's family (this session on every device it was rotated to)",
  description: "Always 204 for a well-formed body, whether or not the token is known, so the endpoint is no token oracle.",
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
  summary: "Public keys that verify access tokens (current signing key first, then retired ones still accepted)",
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
