import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { loadConfig } from "../../env";
import type { AppEnv } from "../../http/app-env";
import { ApiError } from "../../http/errors";
import { emailSchema } from "../../http/fields";
import { errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { requireJsonBody, validationHook } from "../../http/validation";
import { clientKey, FIVE_MINUTES_MS, peek, record, rateLimited, type RateLimitPolicy } from "../../rate-limit/middleware";
import { checkCredentials, issueTokens } from "./service";

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

const invalidCredentials = () => new ApiError(401, "INVALID_CREDENTIALS", "Email or password is incorrect");

export const authRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(loginRoute, async (c) => {
  const { email, password } = c.req.valid("json");
  const policy: RateLimitPolicy = { name: "login-failures", limit: loadConfig(c.env).limits.loginFailuresPer5Min, windowMs: FIVE_MINUTES_MS };
  const keys = [clientKey(c), `email:${email}`];
  for (const key of keys) {
    const decision = await peek(c, key, policy);
    if (!decision.allowed) throw rateLimited(policy, decision);
  }
  const user = await checkCredentials(c.env, email, password);
  if (!user) {
    for (const key of keys) await record(c, key, policy);
    throw invalidCredentials();
  }
  return c.json(await issueTokens(c.env, user), 200);
});
