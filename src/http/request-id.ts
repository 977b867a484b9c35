import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./app-env";

export const REQUEST_ID_HEADER = "X-Request-Id";

/** What a caller may send to correlate its own logs with ours; anything else could forge or pollute log lines. */
const WELL_FORMED_REQUEST_ID = /^[A-Za-z0-9._-]{8,128}$/;

/**
 * Every response carries X-Request-Id: the caller's own id when it is well formed, a fresh UUID
 * otherwise. The id is also what the request log line and error logs are keyed by.
 */
export const requestId: MiddlewareHandler<AppEnv> = async (c, next) => {
  const offered = c.req.header(REQUEST_ID_HEADER);
  const id = offered !== undefined && WELL_FORMED_REQUEST_ID.test(offered) ? offered : crypto.randomUUID();
  c.set("requestId", id);
  c.header(REQUEST_ID_HEADER, id);
  await next();
  c.header(REQUEST_ID_HEADER, id);
};
