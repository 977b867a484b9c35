import { getTableColumns, SQL, type Table } from "drizzle-orm";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";

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

const dialect = new SQLiteAsyncDialect();

/**
 * A drizzle query, or a `sql` fragment (drizzle's own batch cannot carry raw `INSERT … SELECT`), as a plain
 * D1 statement, so it can share one raw batch with others (an event's, a mail job's).
 */
export function asStatement(d1: D1Database, query: SQL | { toSQL(): { sql: string; params: unknown[] } }): D1PreparedStatement {
  const { sql, params } = query instanceof SQL ? dialect.sqlToQuery(query) : query.toSQL();
  return d1.prepare(sql).bind(...params);
}

const columnsOf = new WeakMap<Table, Array<[string, ReturnType<typeof getTableColumns>[string]]>>();

/**
 * A row as D1 returns it (column names) → as Drizzle would (field names, each value decoded by its
 * column: JSON text parsed, booleans from 0/1).
 */
export function fromColumns<T extends Table>(table: T, raw: Record<string, unknown>): T["$inferSelect"] {
  let columns = columnsOf.get(table);
  if (!columns) columnsOf.set(table, (columns = Object.entries(getTableColumns(table))));
  const row: Record<string, unknown> = {};
  for (const [field, column] of columns) {
    const value = raw[column.name];
    row[field] = value === null || value === undefined ? value : column.mapFromDriverValue(value);
  }
  return row as T["$inferSelect"];
}
