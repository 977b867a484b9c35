import { OpenAPIHono } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import { methodNotAllowed } from "hono/method-not-allowed";
import { ConfigError } from "./env";
import type { AppEnv } from "./http/app-env";
import { ApiError, errorResponse } from "./http/errors";
import { validationHook } from "./http/validation";
import { authRoutes } from "./features/auth/routes";
import { inviteRoutes } from "./features/invites/routes";
import { tenantRoutes } from "./features/tenants/routes";

export const MAX_BODY_BYTES = 16 * 1024;

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof HTTPException) {
    // Hono raises these for malformed JSON and the like: keep the status, use our envelope.
    if (error.status === 400) return new ApiError(400, "VALIDATION_ERROR", "The request body is not valid JSON");
    if (error.status === 413) return new ApiError(413, "PAYLOAD_TOO_LARGE", `Request bodies are limited to ${MAX_BODY_BYTES} bytes`);
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
  .route("/", inviteRoutes);

export type ApiType = typeof api;

export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.onError((error, c) => {
    const apiError = toApiError(error);
    if (!(error instanceof ApiError)) {
      console.error(JSON.stringify({ msg: "unhandled error", route: c.req.routePath, method: c.req.method, error: String(error), stack: (error as Error)?.stack }));
    }
    return errorResponse(apiError);
  });
  app.notFound((c) => errorResponse(new ApiError(404, "NOT_FOUND", `No route for ${c.req.method} ${c.req.path}`)));

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
  app.use(
    "/api/*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError(413, "PAYLOAD_TOO_LARGE", `Request bodies are limited to ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );

  app.route("/api/v1", api);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "edge-invites", version: "1.0.0", description: "Invite-based onboarding for multi-tenant SaaS on Cloudflare Workers." },
  });
  return app;
}

export const app = createApp();
export type AppType = typeof app;
