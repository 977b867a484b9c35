import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import type { AppEnv } from "../../http/app-env";
import { authenticate } from "../../http/authenticate";
import { bearerSecurity, errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { optionalJsonBody, requireJsonBody, validationHook } from "../../http/validation";
import { LOCALES } from "../../lib/locale";
import { limit } from "../../rate-limit/middleware";
import { resendVerification, verifyEmail } from "./service";

/** One verification mail per account per minute: enough for a lost mail, too little to flood a mailbox. */
const RESEND_POLICY = { name: "verify-resend", limit: 1, windowMs: 60 * 1000 };

const verifyRoute = createRoute({
  method: "post",
  path: "/auth/verify-email",
  tags: ["Auth"],
  middleware: [requireJsonBody] as const,
  request: { body: jsonBody(z.object({ token: z.string().max(200).openapi({ example: "ev_…" }) }).openapi("VerifyEmail")) },
  responses: { 204: { description: "Verified" }, ...errorResponses(400, 413, 415) },
});

const resendRoute = createRoute({
  method: "post",
  path: "/auth/verify-email/resend",
  tags: ["Auth"],
  security: bearerSecurity,
  middleware: [authenticate, optionalJsonBody] as const,
  request: { body: { ...jsonBody(z.object({ locale: z.enum(LOCALES).optional() }).openapi("ResendVerification")), required: false } },
  responses: {
    202: jsonContent(z.object({ queued: z.boolean() }).openapi("VerificationQueued"), "Accepted"),
    ...errorResponses(400, 401, 413, 415, 429),
  },
});

export const emailVerificationRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(verifyRoute, async (c) => {
    await verifyEmail(c.env, c.req.valid("json").token);
    return c.body(null, 204);
  })
  .openapi(resendRoute, async (c) => {
    const caller = c.get("caller");
    await limit(c, [{ key: `account:${caller.userId}`, policies: [RESEND_POLICY] }]);
    const locale = (c.req.valid("json") as { locale?: (typeof LOCALES)[number] } | undefined)?.locale ?? "en";
    return c.json(await resendVerification(c.env, caller.userId, locale), 202);
  });
