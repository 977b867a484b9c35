import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { loadConfig } from "../../env";
import type { AppEnv } from "../../http/app-env";
import { ApiError } from "../../http/errors";
import { emailSchema } from "../../http/fields";
import { errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { requireJsonBody, validationHook } from "../../http/validation";
import { clientBudgets, FIVE_MINUTES_MS, reserve, type RateLimitPolicy } from "../../rate-limit/middleware";
import { checkCredentials, endSession, issueTokens, publicSigningKeys, refreshSession } from "./service";

const LoginSchema = z
  .object({
    email: emailSchema,
    // Not the signup policy: any string is checked, so the policy never leaks through 400 vs 401.
    password: z.string().min(1, "password is required").max(1024).openapi({ example: "correct horse battery staple" }),
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

const loginRoute = createRoute({
  method: "post",
  path: "/auth/login",
  tags: ["Auth"],
  summary: "Exchange email and password for an access token and a refresh token",
  middleware: [requireJsonBody] as const,
  request: { body: jsonBody(LoginSchema) },
  responses: {
    200: jsonContent(TokenPairSchema, "Signed in"),
    ...errorResponses(400, 401, 413, 415, 429, 503),
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
    "Refresh tokens rotate: each works once. Presenting a spent token revokes its whole family (every token descended from the same login), so a stolen token and the legitimate one both stop working. Any refusal is 401 INVALID_REFRESH_TOKEN.",
  middleware: [requireJsonBody] as const,
  request: { body: jsonBody(RefreshTokenBodySchema) },
  responses: {
    200: jsonContent(TokenPairSchema, "A new access token and refresh token"),
    ...errorResponses(400, 401, 413, 415),
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

const invalidCredentials = () => new ApiError(401, "INVALID_CREDENTIALS", "Email or password is incorrect");

export const authRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(loginRoute, async (c) => {
  const { email, password } = c.req.valid("json");
  const policy: RateLimitPolicy = { name: "login-failures", limit: loadConfig(c.env).limits.loginFailuresPer5Min, windowMs: FIVE_MINUTES_MS };
  const budgets = [...(await clientBudgets(c, policy)), { key: `email:${email}`, policy }];
  // Every attempt takes a failure slot before the password is checked, so a burst of simultaneous
  // guesses gets no more checks than the limit; a successful login gives its slots back.
  const attempt = await reserve(c, budgets);
  const user = await checkCredentials(c.env, email, password);
  if (!user) throw invalidCredentials();
  await attempt.release();
  return c.json(await issueTokens(c.env, user), 200);
})
  .openapi(refreshRoute, async (c) => c.json(await refreshSession(c.env, c.req.valid("json").refreshToken), 200))
  .openapi(logoutRoute, async (c) => {
    await endSession(c.env, c.req.valid("json").refreshToken);
    return c.body(null, 204);
  });
