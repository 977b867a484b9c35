import { env } from "cloudflare:test";
import type { Env } from "../src/env";
import { randomIp } from "./helpers";

export const ORIGIN = "https://edge-invites.test";

/**
 * The real D1 binding, observed: records which statements ran on the plain binding (the primary)
 * and which inside a Sessions API session, and with which constraint or bookmark each session began.
 * Every call goes through to D1 unchanged.
 */
export function observedD1(binding: D1Database = env.DB) {
  const log = { plain: [] as string[], sessions: [] as { constraint: string | undefined; sql: string[] }[] };
  const observedSession = (session: D1DatabaseSession, sql: string[]) =>
    new Proxy(session, {
      get(target, property) {
        if (property === "prepare") return (query: string) => (sql.push(query), target.prepare(query));
        const value = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const db = new Proxy(binding, {
    get(target, property) {
      if (property === "prepare") return (query: string) => (log.plain.push(query), target.prepare(query));
      if (property === "withSession") {
        return (constraint?: string) => {
          const entry = { constraint, sql: [] as string[] };
          log.sessions.push(entry);
          return observedSession(target.withSession(constraint), entry.sql);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db, log };
}

/** The test env with some vars or bindings replaced, for app.request(). */
export function envWith(overrides: Partial<Env>): Env {
  return { ...(env as Env), ...overrides };
}

/** Request headers with a fresh client IP, so per-IP limits never bite across tests. */
export function headers(extra: Record<string, string> = {}): Record<string, string> {
  return { "CF-Connecting-IP": randomIp(), ...extra };
}

export interface CapturedStatement {
  sql: string;
  params: unknown[];
}

/**
 * The real D1 binding, recording every statement that runs (on the binding, in a session or in a
 * batch) with its bound parameters, so a test can EXPLAIN exactly what the app sent.
 */
export function capturingD1(binding: D1Database = env.DB) {
  const statements: CapturedStatement[] = [];
  const originals = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement, sql: string, params: unknown[]): D1PreparedStatement => {
    const record = () => statements.push({ sql, params });
    const wrapped = {
      bind: (...values: unknown[]) => wrap(statement.bind(...values), sql, values),
      all: (...args: []) => (record(), statement.all(...args)),
      run: (...args: []) => (record(), statement.run(...args)),
      first: (column?: string) => (record(), column === undefined ? statement.first() : statement.first(column)),
      raw: (options?: { columnNames?: false }) => (record(), statement.raw(options)),
    };
    originals.set(wrapped, statement);
    (wrapped as { record?: () => void }).record = record;
    return wrapped as unknown as D1PreparedStatement;
  };
  const batchOf = (target: { batch: D1Database["batch"] }) => (list: D1PreparedStatement[]) => {
    for (const statement of list) (statement as { record?: () => void }).record?.();
    return target.batch(list.map((statement) => originals.get(statement) ?? statement));
  };
  const session = (inner: D1DatabaseSession): D1DatabaseSession => ({
    prepare: (sql: string) => wrap(inner.prepare(sql), sql, []),
    batch: batchOf(inner) as D1DatabaseSession["batch"],
    getBookmark: () => inner.getBookmark(),
  });
  const db = {
    prepare: (sql: string) => wrap(binding.prepare(sql), sql, []),
    batch: batchOf(binding),
    exec: (sql: string) => binding.exec(sql),
    dump: () => binding.dump(),
    withSession: (constraint?: string) => session(binding.withSession(constraint)),
  } as unknown as D1Database;
  return { db, statements };
}
