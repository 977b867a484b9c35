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
