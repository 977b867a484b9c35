import { Hono, type MiddlewareHandler } from "hono";
import type { Env } from "./env";
import type { AppEnv } from "./http/app-env";
import { hashPassword } from "./security/passwords";

/**
 * Support for `npm run bench` (bench/run.mjs), active only when the BENCH_MODE var is "1". Production
 * never sets it: without it these routes answer the ordinary 404 and the meter does nothing.
 */
export const isBenchMode = (env: Env): boolean => env.BENCH_MODE === "1";

const BENCH_PASSWORD = "correct horse battery staple";

/**
 * `/__bench/floor`: the cheapest response the worker can give through the same middleware stack,
 * the platform floor every API route is compared with. `/__bench/pbkdf2`: one password hash,
 * exactly as register computes it, and nothing else.
 * Plain Hono routes on purpose: they must not appear in the OpenAPI document.
 */
export const benchRoutes = new Hono<AppEnv>()
  .all("/__bench/floor", (c) => (isBenchMode(c.env) ? c.json({ ok: true }) : c.notFound()))
  .all("/__bench/pbkdf2", async (c) => {
    if (!isBenchMode(c.env)) return c.notFound();
    const hash = await hashPassword(BENCH_PASSWORD, c.env.PASSWORD_PEPPER);
    return c.json({ ok: true, length: hash.length });
  })
  .all("/__bench/limiter-rows", async (c) => {
    if (!isBenchMode(c.env)) return c.notFound();
    const db = c.env.DB;
    const inWindow = Math.min(Number(c.req.query("inWindow") ?? 5) || 0, 1000);
    const windowMs = 60 * 60 * 1000;
    await db.batch([
      db.prepare(`CREATE TABLE IF NOT EXISTS ${LIMITER_TABLE} (policy TEXT NOT NULL, at INTEGER NOT NULL)`),
      db.prepare(`CREATE INDEX IF NOT EXISTS ${LIMITER_TABLE}_policy_at ON ${LIMITER_TABLE} (policy, at)`),
    ]);
    const fresh = `new-${crypto.randomUUID()}`;
    const returning = `returning-${crypto.randomUUID()}`;
    // A returning client: `inWindow` hits inside the window and one that has just left it.
    const now = Date.now();
    await db.batch([
      db.prepare(LIMITER_STATEMENTS.record).bind(returning, now - windowMs - 1000),
      ...Array.from({ length: inWindow }, (_, i) => db.prepare(LIMITER_STATEMENTS.record).bind(returning, now - 1000 * (i + 1))),
    ]);
    const result = {
      newClient: await replayLimiterCall(db, fresh, windowMs),
      returningClient: await replayLimiterCall(db, returning, windowMs),
    };
    await db.prepare(`DELETE FROM ${LIMITER_TABLE} WHERE policy IN (?, ?)`).bind(fresh, returning).run();
    return c.json(result);
  });

/**
 * The rate limiter's per-call statements (src/rate-limit/rate-limiter.ts, decide()) on a scratch D1 table.
 * D1's `meta` and a SQLite-backed Durable Object count rows the same way (local D1 *is* such an object),
 * and the limiter cannot report its own counts without changing it, so the bench replays them here.
 */
const LIMITER_TABLE = "bench_limiter_hits";
const LIMITER_STATEMENTS = {
  prune: `DELETE FROM ${LIMITER_TABLE} WHERE policy = ? AND at <= ?`,
  count: `SELECT COUNT(*) AS count, MIN(at) AS oldest FROM ${LIMITER_TABLE} WHERE policy = ?`,
  record: `INSERT INTO ${LIMITER_TABLE} (policy, at) VALUES (?, ?)`,
};

async function replayLimiterCall(db: D1Database, policy: string, windowMs: number): Promise<StatementCost[]> {
  const now = Date.now();
  const costs: StatementCost[] = [];
  for (const [name, statement] of [
    ["prune", db.prepare(LIMITER_STATEMENTS.prune).bind(policy, now - windowMs)],
    ["count", db.prepare(LIMITER_STATEMENTS.count).bind(policy)],
    ["record", db.prepare(LIMITER_STATEMENTS.record).bind(policy, now)],
  ] as const) {
    const { meta } = await statement.run();
    costs.push({ sql: name, rowsRead: meta.rows_read, rowsWritten: meta.rows_written, durationMs: meta.duration });
  }
  return costs;
}

export interface StatementCost {
  /** the statement's first words, to tell them apart in a report */
  sql: string;
  rowsRead: number;
  rowsWritten: number;
  durationMs: number;
}

export interface RequestCost {
  statements: StatementCost[];
  durableObjectRequests: number;
}

export const BENCH_COST_HEADER = "X-Bench-Cost";

function meteredD1(db: D1Database, cost: RequestCost): D1Database {
  const unwrapped = new WeakMap<object, D1PreparedStatement>();
  const sqlOf = new WeakMap<D1PreparedStatement, string>();
  const record = (sql: string, meta: D1Meta) =>
    cost.statements.push({ sql, rowsRead: meta.rows_read ?? 0, rowsWritten: meta.rows_written ?? 0, durationMs: meta.duration ?? 0 });
  const wrap = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
    const sql = query.replace(/\s+/g, " ").trim().slice(0, 72);
    const all = async <T>() => {
      const result = await statement.all<T>();
      record(sql, result.meta);
      return result;
    };
    // first() and raw() do not expose meta: run them as all() and reshape, as drizzle itself does for batches.
    const wrapped = {
      bind: (...values: unknown[]) => wrap(statement.bind(...values), query),
      all,
      run: async <T>() => {
        const result = await statement.run<T>();
        record(sql, result.meta);
        return result;
      },
      first: async (column?: string) => {
        const row = (await all<Record<string, unknown>>()).results[0];
        if (row === undefined) return null;
        return column === undefined ? row : (row[column] ?? null);
      },
      raw: async (options?: { columnNames?: boolean }) => {
        const rows = (await all<Record<string, unknown>>()).results;
        const values = rows.map((row) => Object.values(row));
        return options?.columnNames ? [Object.keys(rows[0] ?? {}), ...values] : values;
      },
    };
    unwrapped.set(wrapped, statement);
    sqlOf.set(wrapped as unknown as D1PreparedStatement, sql);
    return wrapped as unknown as D1PreparedStatement;
  };
  const batch =
    (target: Pick<D1Database, "batch">) =>
    async <T>(statements: D1PreparedStatement[]) => {
      const results = await target.batch<T>(statements.map((statement) => unwrapped.get(statement) ?? statement));
      results.forEach((result, i) => record(sqlOf.get(statements[i] as D1PreparedStatement) ?? "?", result.meta));
      return results;
    };
  // Sessions (read replicas, see http/d1-sessions.ts) run the same statements: meter them too.
  const meteredSession = (session: D1DatabaseSession): D1DatabaseSession => ({
    prepare: (query: string) => wrap(session.prepare(query), query),
    batch: batch(session),
    getBookmark: () => session.getBookmark(),
  });
  const metered = {
    prepare: (query: string) => wrap(db.prepare(query), query),
    batch: batch(db),
    exec: (query: string) => db.exec(query),
    dump: () => db.dump(),
    withSession: (constraintOrBookmark?: string) => meteredSession(db.withSession(constraintOrBookmark)),
  };
  return metered as unknown as D1Database;
}

function meteredNamespace<T extends object>(namespace: T, cost: RequestCost): T {
  const meteredStub = (stub: object) =>
    new Proxy(stub, {
      get(target, property) {
        const value = Reflect.get(target, property);
        if (typeof value !== "function" || typeof property !== "string" || property === "then") return value;
        return (...args: unknown[]) => {
          cost.durableObjectRequests += 1;
          // Reflect.apply: an RPC stub treats `.apply` itself as a remote method name.
          return Reflect.apply(value, target, args);
        };
      },
    });
  return new Proxy(namespace, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (typeof value !== "function") return value;
      if (property === "get" || property === "getByName") {
        return (...args: unknown[]) => meteredStub(Reflect.apply(value, target, args) as object);
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

/**
 * In bench mode, a request sent with `X-Bench-Cost: 1` runs against metered bindings and gets back the
 * D1 `meta` of every statement it ran and the number of Durable Object calls, as JSON in the same header.
 * It is a probe for the cost model, not for timing: load runs never send the header.
 */
export const benchCostMeter: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!isBenchMode(c.env) || c.req.header(BENCH_COST_HEADER) !== "1") return next();
  const cost: RequestCost = { statements: [], durableObjectRequests: 0 };
  c.env = { ...c.env, DB: meteredD1(c.env.DB, cost), RATE_LIMITER: meteredNamespace(c.env.RATE_LIMITER, cost) };
  await next();
  c.res.headers.set(BENCH_COST_HEADER, JSON.stringify(cost));
};
