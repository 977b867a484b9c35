import { asc, desc, gt, lt, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import * as z from "../lib/zod";
import { decodeCursor, encodeCursor, integerParam, invalidCursor, presentedCursor } from "./pagination";

/**
 * Cursor pages (DESIGN §2.8, §2.9) of lists that only go newest first by UUIDv7 id (events, webhook
 * deliveries): `starting_after` = the page after (older than) a cursor, `ending_before` = the page
 * before (newer than) it. The cursor is the one codec of src/http/pagination.ts (sort field `id`,
 * descending), so one format and one INVALID_CURSOR rule serve every list.
 */
export interface CursorPage<T> {
  items: T[];
  /** pass as `starting_after` for the next (older) page; null on the last page */
  nextCursor: string | null;
  /** pass as `ending_before` for the previous (newer) page; null on the first page */
  prevCursor: string | null;
}

/** The cursor of one id in a newest-first list: the codec of src/http/pagination.ts, sort field `id` (and the list's name, if it has one). */
export const idCursor = (id: string, list?: string): string => encodeCursor({ sort: "id", direction: "desc", key: id, id, list });

/** Any cursor of that codec for `id` descending of this list (older `{v:1,id}` cursors included); anything else is 400 INVALID_CURSOR. */
export function decodeIdCursor(name: string, raw: string, list?: string): string {
  const cursor = decodeCursor(name, raw, { id: "id" }, list);
  if (cursor.direction !== "desc") throw invalidCursor(name);
  return cursor.id;
}

const cursorParam = (description: string) =>
  z
    .string()
    .max(200)
    .optional()
    .openapi({ description, example: "eyJ2IjoxLCJpZCI6IjAxOTNhMmI0LTAwMDAtNzAwMC04MDAwLTAwMDAwMDAwMDAwMCJ9" });

/** `Qt`: items per page, 1–100, `fallback` when absent. */
export const perPageParam = (fallback: number) => integerParam("Qt", 1, 100, fallback).openapi({ description: "Items per page (1–100)" });

/** `Qt` (1–100, default 10) + the two cursors; both cursors at once is 400. */
export const cursorQuerySchema = z.object({
  Qt: perPageParam(10),
  starting_after: cursorParam("The page after this cursor (older items): a `nextCursor` from a previous page"),
  ending_before: cursorParam("The page before this cursor (newer items): a `prevCursor` from a previous page"),
});

export interface CursorRequest {
  limit: number;
  /** id bound and direction: `older` than after, or `newer` than before */
  after?: string;
  before?: string;
  /** the list's name in its cursors (see src/http/pagination.ts) */
  list?: string;
}

export function cursorRequest(query: { Qt: number; starting_after?: string | undefined; ending_before?: string | undefined }, list?: string): CursorRequest {
  const presented = presentedCursor(query);
  return {
    limit: query.Qt,
    ...(list !== undefined ? { list } : {}),
    ...(presented ? { [presented.side]: decodeIdCursor(presented.param, presented.raw, list) } : {}),
  };
}

/**
 * Runs `fetch(boundOp, boundId, order, limit + 1)` and shapes the page, newest first. `fetch` reads ids
 * `<` (order DESC) or `>` (order ASC) the bound, or all of them without one.
 */
export async function cursorPage<Row extends { id: string }, T>(
  request: CursorRequest,
  fetch: (bound: { op: "<" | ">"; id: string } | null, order: "DESC" | "ASC", limit: number) => Promise<Row[]>,
  view: (row: Row) => T,
): Promise<CursorPage<T>> {
  const { limit } = request;
  const cursorOf = (id: string) => idCursor(id, request.list);
  if (request.before !== undefined) {
    const rows = await fetch({ op: ">", id: request.before }, "ASC", limit + 1);
    const hasNewer = rows.length > limit;
    const page = rows.slice(0, limit).reverse();
    return {
      items: page.map(view),
      nextCursor: page.length ? cursorOf(page[page.length - 1]!.id) : cursorOf(request.before),
      prevCursor: hasNewer && page.length ? cursorOf(page[0]!.id) : null,
    };
  }
  const rows = await fetch(request.after !== undefined ? { op: "<", id: request.after } : null, "DESC", limit + 1);
  const hasOlder = rows.length > limit;
  const page = rows.slice(0, limit);
  return {
    items: page.map(view),
    nextCursor: hasOlder ? cursorOf(page[page.length - 1]!.id) : null,
    prevCursor: request.after !== undefined && page.length ? cursorOf(page[0]!.id) : null,
  };
}

/** A cursorPage fetch's id range and order on a drizzle id column (the lists queried through drizzle). */
export function idRange(column: SQLiteColumn, bound: { op: "<" | ">"; id: string } | null, order: "DESC" | "ASC"): { where: SQL | undefined; orderBy: SQL } {
  return {
    where: bound === null ? undefined : bound.op === "<" ? lt(column, bound.id) : gt(column, bound.id),
    orderBy: order === "DESC" ? desc(column) : asc(column),
  };
}

export const cursorPageSchema = <T extends z.ZodType>(item: T, name: string) =>
  z
    .object({
      items: z.array(item),
      nextCursor: z.string().nullable().openapi({ description: "`starting_after` for the next (older) page; null on the last page" }),
      prevCursor: z.string().nullable().openapi({ description: "`ending_before` for the previous (newer) page; null on the first page" }),
    })
    .openapi(name);
