import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { loadConfig } from "../env";
import type { AppEnv } from "./app-env";
import { BOOKMARK_HEADER } from "./d1-sessions";
import { REQUEST_ID_HEADER } from "./request-id";

/** Response headers a browser app may read: rate limits, the created resource, log correlation, read-your-writes. */
export const EXPOSED_HEADERS = ["RateLimit", "RateLimit-Policy", "Retry-After", "Location", REQUEST_ID_HEADER, BOOKMARK_HEADER];
export const ALLOWED_REQUEST_HEADERS = ["Authorization", "Content-Type", REQUEST_ID_HEADER, BOOKMARK_HEADER];
const ALLOWED_METHODS = ["GET", "HEAD", "POST", "PATCH", "DELETE"];

// Only ever invoked for an origin already checked against CORS_ORIGINS, so it echoes it.
const corsForAllowedOrigin = cors({
  origin: (origin) => origin,
  allowMethods: ALLOWED_METHODS,
  allowHeaders: ALLOWED_REQUEST_HEADERS,
  exposeHeaders: EXPOSED_HEADERS,
  credentials: false,
  maxAge: 600,
});

function isAllowedOrigin(allowed: string[], origin: string): boolean {
  return allowed.includes("*") || allowed.includes(origin);
}

/**
 * CORS for the origins in CORS_ORIGINS. A request from any other origin gets no Access-Control-*
 * header at all (hono/cors alone would still send the exposed/allowed lists), and its preflight is
 * answered 204 without them, so the browser refuses it. Preflights end here, before routing, so
 * the method-not-allowed middleware never turns them into 405.
 */
export const corsPolicy: MiddlewareHandler<AppEnv> = async (c, next) => {
  const origin = c.req.header("Origin");
  if (origin !== undefined && isAllowedOrigin(loadConfig(c.env).corsOrigins, origin)) {
    return corsForAllowedOrigin(c, next);
  }
  if (c.req.method === "OPTIONS" && c.req.header("Access-Control-Request-Method") !== undefined) {
    return new Response(null, { status: 204, headers: { Vary: "Origin" } });
  }
  await next();
  c.header("Vary", "Origin", { append: true });
};
