import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import { loadConfig } from "../../env";
import type { AppEnv } from "../../http/app-env";
import { emailSchema, passwordSchema } from "../../http/fields";
import { errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { requireJsonBody, validationHook } from "../../http/validation";
import { LOCALES } from "../../lib/locale";
import { clientBudgets, HOUR_MS, limit } from "../../rate-limit/middleware";
import { confirmPasswordReset, requestPasswordReset } from "./service";

const requestRoute = createRoute({
  method: "post",
  path: "/auth/password-reset",
  tags: ["Auth"],
  middleware: [requireJsonBody] as const,
  request: { body: jsonBody(z.object({ email: emailSchema, locale: z.enum(LOCALES).optional() }).openapi("PasswordResetRequest")) },
  responses: {
    202: jsonContent(z.object({}).openapi("PasswordResetAccepted"), "Accepted (whether or not the account exists)"),
    ...errorResponses(400, 413, 415, 429, 503),
  },
});

const confirmRoute = createRoute({
  method: "post",
  path: "/auth/password-reset/confirm",
  tags: ["Auth"],
  middleware: [requireJsonBody] as const,
  request: { body: jsonBody(z.object({ token: z.string().max(200).openapi({ example: "pr_…" }), password: passwordSchema }).openapi("PasswordResetConfirm")) },
  responses: { 204: { description: "Password changed; every session ended" }, ...errorResponses(400, 413, 415) },
});

export const passwordResetRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(requestRoute, async (c) => {
    const { email, locale } = c.req.valid("json");
    const limits = loadConfig(c.env).limits;
    const perIp = { name: "password-reset-ip", limit: limits.passwordResetPerHourPerIp, windowMs: HOUR_MS };
    const perEmail = { name: "password-reset-email", limit: limits.passwordResetPerHourPerEmail, windowMs: HOUR_MS };
    await limit(c, [...(await clientBudgets(c, perIp)), { key: `email:${email}`, policies: [perEmail] }]);
    await requestPasswordReset(c.env, email, locale ?? "en");
    return c.json({}, 202);
  })
  .openapi(confirmRoute, async (c) => {
    const { token, password } = c.req.valid("json");
    await confirmPasswordReset(c.env, token, password);
    return c.body(null, 204);
  });
