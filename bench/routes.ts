// Bench-only routes and the cost meter of bench/worker.ts. Never part of the deployed bundle.
import { and, desc, eq, inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { importJWK } from "jose";
import { database } from "../src/db/client";
import * as schema from "../src/db/schema";
import { invites } from "../src/db/schema";
import { passwordPeppers, requireSecret } from "../src/env";
import type { AppEnv } from "../src/http/app-env";
import { requestLogLine, type RequestLogLine } from "../src/http/request-log";
import { loadKeyRing } from "../src/security/jwt";
import { hashPassword } from "../src/security/passwords";
import { decodeBase64 } from "../src/security/encoding";
import { loadTokenKeyring } from "../src/security/tokens";
import { resolveClient, spend } from "../src/rate-limit/middleware";

/** console.log as it was before the profile silenced it (null while it is not silenced). */
let loudConsoleLog: typeof console.log | null = null;

/**
 * Mean µs per call of `fn` in this isolate, after a warm-up: calls it for at least `budgetMs` (the Workers
 * clock only moves in whole milliseconds, so a short run would read as zero) and at most `n` times.
 */
async function microseconds(n: number, fn: () => unknown, budgetMs = 40): Promise<number> {
  for (let i = 0; i < 20; i++) await fn();
  const started = performance.now();
  let calls = 0;
  while (calls < n && (calls < 10 || performance.now() - started < budgetMs)) {
    await fn();
    calls++;
  }
  return ((performance.now() - started) * 1000) / calls;
}

const BENCH_PASSWORD = "correct horse battery staple";

/**
 * `/__bench/floor`: the cheapest response the worker can give through the same middleware stack,
 * the platform floor every API route is compared with. `/__bench/pbkdf2`: one password hash,
 * exactly as register computes it, and nothing else.
 * Plain Hono routes on purpose: they must not appear in the OpenAPI document.
 */
export const benchRoutes = new Hono<AppEnv>()
  .all("/__bench/floor", (c) => c.json({ ok: true }))
  .all("/__bench/pbkdf2", async (c) => {
    const hash = await hashPassword(BENCH_PASSWORD, await passwordPeppers(c.env));
    return c.json({ ok: true, length: hash.length });
  })
  // The floor plus one rate-limiter call (a 1-second window, so the object's log stays tiny): what one
  // Durable Object RPC costs the Worker's isolate here, for reading the profile of routes that make one.
  .all("/__bench/limiter-call", async (c) => {
    const client = await resolveClient(c);
    await spend(c, [{ key: `bench-probe:${client.key}`, policies: [{ name: "bench-probe", limit: 1_000_000_000, windowMs: 1000 }] }]);
    return c.json({ ok: true });
  })
  // The profile's slices run quiet: locally console.log blocks on wrangler dev's log pipe, which no
  // deployed Worker does, and would bury the Worker's own CPU. The timed runs keep logging.
  .post("/__bench/console", (c) => {
    const quiet = c.req.query("quiet") === "1";
    if (quiet && loudConsoleLog === null) {
      loudConsoleLog = console.log;
      console.log = () => {};
    } else if (!quiet && loudConsoleLog !== null) {
      console.log = loudConsoleLog;
      loudConsoleLog = null;
    }
    return c.json({ quiet: loudConsoleLog !== null });
  })
  // Each CPU lever of issue 16, before and after, measured side by side in this isolate (µs per call).
  .get("/__bench/levers", async (c) => {
    const n = Math.min(Number(c.req.query("n") ?? 200_000) || 200_000, 1_000_000);
    const line: RequestLogLine = { method: "GET", route: "/api/v1/invites", status: 200, durationMs: 3.2, requestId: crypto.randomUUID(), tenantId: crypto.randomUUID() };
    const jwk = requireSecret(c.env, "JWT_PRIVATE_KEY");
    const aesKey = requireSecret(c.env, "INVITE_TOKEN_KEY");
    const tenantId = crypto.randomUUID();
    const pageQuery = (db: ReturnType<typeof database>) => {
      const ids = db.select({ id: invites.id }).from(invites).where(eq(invites.tenantId, tenantId)).orderBy(desc(invites.id)).limit(20).offset(0);
      return db.select().from(invites).where(and(eq(invites.tenantId, tenantId), inArray(invites.id, ids))).orderBy(desc(invites.id)).toSQL();
    };
    const levers = {
      requestLogLine: {
        before: await microseconds(n, () => JSON.stringify({ msg: "request", ...line })),
        after: await microseconds(n, () => requestLogLine(line)),
      },
      jwtKeyRing: {
        before: await microseconds(n, async () => {
          const parsed = JSON.parse(jwk);
          const { d: _d, ...publicJwk } = parsed;
          await importJWK(parsed, "EdDSA");
          await importJWK(publicJwk, "EdDSA");
        }),
        after: await microseconds(n, () => loadKeyRing(jwk, c.env.JWT_PREVIOUS_PUBLIC_KEYS)),
      },
      aesKey: {
        before: await microseconds(n, () => crypto.subtle.importKey("raw", decodeBase64(aesKey), { name: "AES-GCM" }, false, ["encrypt", "decrypt"])),
        after: await microseconds(n, () => loadTokenKeyring(aesKey, c.env.INVITE_TOKEN_PREVIOUS_KEYS)),
      },
      drizzleInstance: {
        before: await microseconds(n, () => drizzle(c.env.DB, { schema })),
        after: await microseconds(n, () => database(c.env.DB)),
      },
      listQueryBuilding: {
        before: await microseconds(n, () => {
          const query = pageQuery(database(c.env.DB));
          return c.env.DB.prepare(query.sql).bind(...query.params);
        }),
        after: await microseconds(n, () => c.env.DB.prepare(LIST_PAGE_SQL).bind(tenantId, 20, 0)),
      },
    };
    return c.json(Object.fromEntries(Object.entries(levers).map(([name, { before, after }]) => [name, { beforeUs: before, afterUs: after, ratio: after / before }])));
  })
  .all("/__bench/limiter-rows", async (c) => {
    const db = c.env.DB;
    const inWindow = Math.min(Number(c.req.query("inWindow") ?? 5) || 0, 1000);
    const windowMs = 60 * 60 * 1000;
    await db.prepare(
      `CREATE TABLE IF NOT EXISTS ${LIMITER_TABLE} (policy TEXT NOT NULL, at INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (policy, at, seq)) WITHOUT ROWID`,
    ).run();
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

/** A hand-written page query of the same shape, prepared but not run: the floor for query building. */
const LIST_PAGE_SQL =
  "SELECT * FROM invites WHERE tenant_id = ?1 AND id IN (SELECT id FROM invites WHERE tenant_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3) ORDER BY id DESC";

/**
 * The rate limiter's per-call statements (src/rate-limit/rate-limiter.ts, decide()) on a scratch D1 table.
 * D1's `meta` and a SQLite-backed Durable Object count rows the same way (local D1 *is* such an object),
 * and the limiter cannot report its own counts without changing it, so the bench replays them here.
 */
const LIMITER_TABLE = "bench_limiter_hits";
const LIMITER_STATEMENTS = {
  prune: `DELETE FROM ${LIMITER_TABLE} WHERE policy = ? AND at <= ?`,
  count: `SELECT COUNT(*) AS count, MIN(at) AS oldest FROM ${LIMITER_TABLE} WHERE policy = ?`,
  record: `INSERT INTO ${LIMITER_TABLE} (policy, at, seq) VALUES (?1, ?2, (SELECT COALESCE(MAX(seq) + 1, 0) FROM ${LIMITER_TABLE} WHERE policy = ?1 AND at = ?2))`,
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
  /** which D1 call (round trip) of the request ran it, from 1 */
  call?: number;
  rowsRead: number;
  rowsWritten: number;
  durationMs: number;
}

export interface RequestCost {
  statements: StatementCost[];
  /** round trips to D1: each run/all/first/raw and each batch (however many statements it holds) is one */
  d1Calls: number;
  /**
   * of those, calls the response does not wait for: the webhook outbox hand-off (src/http/outbox-dispatch.ts)
   * runs in waitUntil after a request that wrote an event
   */
  d1CallsAfterResponse?: number;
  durableObjectRequests: number;
}

export const BENCH_COST_HEADER = "X-Bench-Cost";

/** The webhook outbox hand-off (src/outbox/webhooks.ts dispatchPending), run in waitUntil after the response. */
export const AFTER_RESPONSE_SQL = /^UPDATE webhook_deliveries SET enqueued_at/;

export function meteredD1(db: D1Database, cost: RequestCost): D1Database {
  const unwrapped = new WeakMap<object, D1PreparedStatement>();
  const sqlOf = new WeakMap<D1PreparedStatement, string>();
  const record = (sql: string, meta: D1Meta, call: number) =>
    cost.statements.push({ sql, call, rowsRead: meta.rows_read ?? 0, rowsWritten: meta.rows_written ?? 0, durationMs: meta.duration ?? 0 });
  const wrap = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
    const sql = query.replace(/\s+/g, " ").trim().slice(0, 72);
    const all = async <T>() => {
      const call = ++cost.d1Calls;
      const result = await statement.all<T>();
      record(sql, result.meta, call);
      return result;
    };
    // first() and raw() do not expose meta: run them as all() and reshape, as drizzle itself does for batches.
    const wrapped = {
      bind: (...values: unknown[]) => wrap(statement.bind(...values), query),
      all,
      run: async <T>() => {
        const call = ++cost.d1Calls;
        const result = await statement.run<T>();
        record(sql, result.meta, call);
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
      const call = ++cost.d1Calls;
      const results = await target.batch<T>(statements.map((statement) => unwrapped.get(statement) ?? statement));
      results.forEach((result, i) => record(sqlOf.get(statements[i] as D1PreparedStatement) ?? "?", result.meta, call));
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

export function meteredNamespace<T extends object>(namespace: T, cost: RequestCost): T {
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

