import type { MiddlewareHandler } from "hono";
import { withBindings } from "../env";
import type { AppEnv } from "./app-env";

export const BOOKMARK_HEADER = "X-D1-Bookmark";

/** D1 bookmarks look like `00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683`. */
export const WELL_FORMED_BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/i;

const SAFE_METHODS = new Set(["GET", "HEAD"]);

/**
 * A D1Database whose queries run in `session`. Only prepare() and batch() exist on a session;
 * exec() and dump() stay on the binding (the primary), as they would without a session.
 */
function bindToSession(binding: D1Database, session: D1DatabaseSession): D1Database {
  const bound: D1Database = {
    prepare: (query) => session.prepare(query),
    batch: <T>(statements: D1PreparedStatement[]) => session.batch<T>(statements),
    exec: (query) => binding.exec(query),
    withSession: (constraintOrBookmark) => binding.withSession(constraintOrBookmark),
    dump: () => binding.dump(),
  };
  return bound;
}

/**
 * Global reads with the D1 Sessions API (read replicas) while each client still reads its own writes.
 *
 * - GET/HEAD run in a session that starts at the client's X-D1-Bookmark, so any replica at least that
 *   fresh may answer; without one, any instance may ("first-unconstrained"). A header that is present
 *   but malformed cannot be honoured exactly, so the session starts at the primary instead.
 * - Every other method (writes, invite redemption, login) runs in a "first-primary" session: its first
 *   statement, and every write, goes to the primary, and anything read after that is at least as fresh.
 *   Its bookmark then covers the request's writes without an extra round trip to fetch one.
 * - The caller's authority is read in the same session, in the same batch as the data on the hot routes.
 *   Freshness rule: a write checks authority on the primary, inside its own statement on the hot routes,
 *   so a demotion stops the next write at once; a GET without a bookmark may be answered by a replica
 *   at most the replica lag behind, so a demoted caller may still read for that long (with the
 *   bookmark of the demotion, not at all).
 *
 * Every response that knows a bookmark returns it in X-D1-Bookmark for the client to send back.
 */
export const d1Sessions: MiddlewareHandler<AppEnv> = async (c, next) => {
  const offered = c.req.header(BOOKMARK_HEADER)?.trim() || undefined;
  const bookmark = offered !== undefined && WELL_FORMED_BOOKMARK.test(offered) ? offered : undefined;
  const binding = c.env.DB;
  const constraint = SAFE_METHODS.has(c.req.method) ? (bookmark ?? (offered ? "first-primary" : "first-unconstrained")) : "first-primary";
  const session = binding.withSession(constraint);
  c.env = withBindings(c.env, { DB: bindToSession(binding, session) });
  await next();
  const returned = session.getBookmark() ?? bookmark;
  if (returned) c.header(BOOKMARK_HEADER, returned);
};
