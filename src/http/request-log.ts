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

/**
 * One structured JSON line per request, after everything else has run (errors, 404 and 405
 * included). It holds no token, password, email, query string or raw path, by construction: only
 * the fields listed here are ever written.
 */
export const requestLog: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  await next();
  const status = c.res.status;
  const line = {
    msg: "request",
    method: c.req.method,
    route: routePattern(c),
    status,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    requestId: c.get("requestId") ?? null,
    tenantId: c.get("caller")?.tenantId ?? null,
  };
  if (status >= 500) console.error(JSON.stringify(line));
  else console.log(JSON.stringify(line));
};
