import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "./app-env";

/**
 * The pattern of the route that handled the request (`/api/v1/invites/:token/register`), or null
 * when none matched. Never the raw path: register and preview paths carry an invite token.
 */
export function routePattern(c: Context): string | null {
  const routes = matchedRoutes(c);
  // app.use() middleware is registered for ALL methods; the route's own handlers carry its method.
  const isRoute = (route: (typeof routes)[number] | undefined) => route !== undefined && route.method !== "ALL";
  const reached = routes[c.req.routeIndex];
  if (isRoute(reached)) return reached!.path;
  return routes.find(isRoute)?.path ?? null;
}

/** JSON string literal: values from a closed alphabet (methods, route patterns, ids) need no escaping. */
const NEEDS_NO_ESCAPING = /^[\w.:/{}*!#$%&'+^`|~-]*$/;
const jsonString = (value: string | null): string =>
  value === null ? "null" : NEEDS_NO_ESCAPING.test(value) ? `"${value}"` : JSON.stringify(value);

/**
 * One structured JSON line per request, after everything else has run (errors, 404 and 405
 * included). It holds no token, password, email, query string or raw path, by construction: only
 * the fields listed here are ever written. The line is written as text in one pass (requestLogLine),
 * not through JSON.stringify's generic walk: it runs on every request.
 */
export const requestLog: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  await next();
  const line: RequestLogLine = {
    method: c.req.method,
    route: routePattern(c),
    status: c.res.status,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    requestId: c.get("requestId") ?? null,
    tenantId: c.get("caller")?.tenantId ?? null,
  };
  if (line.status >= 500) console.error(requestLogLine(line));
  else console.log(requestLogLine(line));
};

export interface RequestLogLine {
  method: string;
  route: string | null;
  status: number;
  durationMs: number;
  requestId: string | null;
  tenantId: string | null;
}

/** The same text as JSON.stringify({ msg: "request", ...line }), in one pass. */
export const requestLogLine = (line: RequestLogLine): string =>
  `{"msg":"request","method":${jsonString(line.method)},"route":${jsonString(line.route)},"status":${line.status},` +
  `"durationMs":${line.durationMs},"requestId":${jsonString(line.requestId)},"tenantId":${jsonString(line.tenantId)}}`;
