import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";

export type Database = DrizzleD1Database;

/**
 * A drizzle handle on `d1`. Without `{ schema }`: nothing uses the relational query API (`db.query`),
 * and passing the schema made every call rebuild its relations config (several calls per request).
 */
export function database(d1: D1Database): Database {
  return drizzle(d1);
}

/** D1 reports a violated unique index as "UNIQUE constraint failed: <table>.<column>". */
export function uniqueViolation(error: unknown): string | null {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    const match = /UNIQUE constraint failed: ([\w.]+)/.exec(current.message);
    if (match) return match[1] ?? null;
  }
  return null;
}

/** A drizzle query as a plain D1 statement, so it can share one raw batch with others (an event's, say). */
export function asStatement(d1: D1Database, query: { toSQL(): { sql: string; params: unknown[] } }): D1PreparedStatement {
  const { sql, params } = query.toSQL();
  return d1.prepare(sql).bind(...params);
}
