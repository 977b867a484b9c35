import { OpenAPIHono } from "@hono/zod-openapi";
import type { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import { methodNotAllowed } from "hono/method-not-allowed";
import { ConfigError } from "./env";
import type { AppEnv } from "./http/app-env";
import { ApiError, errorResponse } from "./http/errors";
import { validationHook } from "./http/validation";
import { settleAuthority } from "./http/authenticate";
import { registerApiDocs } from "./http/api-docs";
import { corsPolicy } from "./http/cors";
import { d1Sessions } from "./http/d1-sessions";
import { outboxDispatch } from "./http/outbox-dispatch";
import { requestId } from "./http/request-id";
import { requestLog, routePattern } from "./http/request-log";
import { securityHeaders } from "./http/security-headers";
import { healthRoutes } from "./features/health/routes";
import { authRoutes, wellKnownRoutes } from "./features/auth/routes";
import { inviteRoutes } from "./features/invites/routes";
import { emailVerificationRoutes } from "./features/email-verification/routes";
import { passwordResetRoutes } from "./features/password-reset/routes";
import { tenantRoutes } from "./features/tenants/routes";
import { userRoutes } from "./features/users/routes";
import { eventRoutes } from "./features/events/routes";
import { webhookRoutes } from "./features/webhooks/routes";
import { operatorRoutes } from "./features/operator/routes";
import { devMailRoutes } from "./pages/dev-mail";
import { pageRoutes } from "./pages/routes";

export const MAX_BODY_BYTES = 16 * 1024;
export const MAX_BULK_BODY_BYTES = 256 * 1024;
export const BULK_PATH = "/api/v1/invites/bulk";
/** The body limit of a request path: 256 KiB for bulk create, 16 KiB everywhere else. */
export const bodyLimitFor = (path: string) => (path === BULK_PATH ? MAX_BULK_BODY_BYTES : MAX_BODY_BYTES);

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof HTTPException) {
    // Hono raises these for malformed JSON and the like: keep the status, use our envelope.
    if (error.status === 400) return new ApiError(400, "VALIDATION_ERROR", "The request body is not valid JSON");
    if (error.status === 413) return new ApiError(413, "PAYLOAD_TOO_LARGE", `Request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    // @hono/zod-openapi's own media-type gate, stricter than ours (e.g. "application/json;;;").
    if (error.status === 415) return new ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the body as JSON with Content-Type: application/json");
    if (error.status === 401) return new ApiError(401, "UNAUTHORIZED", "Missing or invalid access token");
  }
  if (error instanceof ConfigError) {
    return new ApiError(500, "INTERNAL_ERROR", `Server misconfiguration: ${error.message}`);
  }
  return new ApiError(500, "INTERNAL_ERROR", "An unexpected error occurred");
}

export const api = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .route("/", tenantRoutes)
  .route("/", authRoutes)
  .route("/", emailVerificationRoutes)
  .route("/", passwordResetRoutes)
  .route("/", inviteRoutes)
  .route("/", userRoutes)
  .route("/", eventRoutes)
  .route("/", webhookRoutes)
  .route("/", operatorRoutes);

export type ApiType = typeof api;

/** `extraRoutes` (bench/worker.ts only) are mounted behind the whole middleware stack, outside the API. */
export function createApp(extraRoutes?: Hono<AppEnv>) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.onError(async (error, c) => {
    let apiError = toApiError(error);
    if (!(error instanceof ApiError)) {
      console.error(JSON.stringify({ msg: "unhandled error", route: routePattern(c), method: c.req.method, requestId: c.get("requestId"), error: String(error), stack: (error as Error)?.stack }));
    }
    // A one-round-trip route refusing its input before its own D1 call: the caller's authority still
    // decides first (401/403/404 over 400/415), as on every other route.
    if (apiError.status === 400 || apiError.status === 415) {
      try {
        await settleAuthority(c);
      } catch (authorityError) {
        apiError = toApiError(authorityError);
      }
    }
    return errorResponse(apiError);
  });
  app.notFound((c) => errorResponse(new ApiError(404, "NOT_FOUND", `No route for ${c.req.method} ${c.req.path}`)));

  // Outermost first: each wraps everything registered after it, errors, 404 and 405 included.
  app.use(requestId);
  app.use(requestLog);
  app.use(securityHeaders);
  // Before routing, so preflights are answered here and every response, errors too, gets CORS headers.
  app.use(corsPolicy);
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        const response = errorResponse(new ApiError(405, "METHOD_NOT_ALLOWED", `${c.req.method} is not allowed here; use ${methods.join(", ")}`));
        response.headers.set("Allow", methods.join(", "));
        return response;
      },
    }),
  );
  const limitBodies = (maxSize: number) =>
    bodyLimit({
      maxSize,
      onError: () => {
        throw new ApiError(413, "PAYLOAD_TOO_LARGE", `Request bodies are limited to ${maxSize} bytes`);
      },
    });
  const standardBodies = limitBodies(MAX_BODY_BYTES);
  // Up to 100 create bodies at once (each may carry 2 × 4 KiB of metadata).
  const bulkBodies = limitBodies(MAX_BULK_BODY_BYTES);
  app.use("/api/*", (c, next) => (c.req.path === BULK_PATH ? bulkBodies : standardBodies)(c, next));

  app.use(d1Sessions);
  // Inside d1Sessions: it sees the request's session-bound DB, the one services append events to.
  app.use(outboxDispatch);

  // Chained so that AppType (below) carries the routes for hc<AppType>.
  const routes = app.route("/api/v1", api).route("/", healthRoutes);
  app.route("/", wellKnownRoutes);
  // Hosted HTML pages (invite, verify email, reset password): the default target of mailed links.
  app.route("/", pageRoutes());
  // 404 unless the MAIL_CATCHER var is set (npm run dev); not part of the typed or documented API.
  app.route("/", devMailRoutes);
  if (extraRoutes) app.route("/", extraRoutes);

  registerApiDocs(app);
  return routes;
}

export const app = createApp();
/** The typed routes for Hono RPC: `hc<AppType>(baseUrl)` (see examples/spa-client.ts). */
export type AppType = typeof app;
