import * as z from "../lib/zod";
import { sql, type SQL, type SQLWrapper } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../db/client";
import { UUID_PATTERN } from "../lib/ids";
import { decodeBase64Url, encodeBase64Url } from "../security/encoding";
import { ApiError, validationError } from "./errors";

export const integerParam = (name: string, min: number, max: number, fallback: number) =>
  z
    .string()
    .max(12)
    .regex(/^\s*\d+\s*$/, `${name} must be an integer`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`))
    .optional()
    .default(fallback)
    .openapi({ type: "integer", minimum: min, maximum: max, default: fallback });

export type SortDirection = "asc" | "desc";

/** HookSentry's shared list parameters (§2.2): names exact, values case-insensitive. */
export function pageQuerySchema<F extends string>(sortFields: readonly F[]) {
  return z.object({
    Qt: integerParam("Qt", 1, 100, 10).openapi({ description: "Items per page (1–100)", example: 10 }),
    Pg: integerParam("Pg", 1, 1_000_000, 1).openapi({ description: "Page number, 1-based", example: 1 }),
    CpOrd: z
      .string()
      .max(64)
      .optional()
      .openapi({ description: `Sort field: ${sortFields.join(", ")} (case-insensitive)`, example: "id", default: "id" }),
    TpOrd: z
      .string()
      .max(8)
      .optional()
      .transform((value, ctx) => {
        const direction = (value ?? "desc").trim().toLowerCase();
        if (direction !== "asc" && direction !== "desc") {
          ctx.addIssue({ code: "custom", message: "TpOrd must be Asc or Desc" });
          return z.NEVER;
        }
        return direction as SortDirection;
      })
      .openapi({ type: "string", enum: ["Asc", "Desc"], default: "Desc", description: "Sort direction (case-insensitive)" }),
  });
}

export function resolveSortField<F extends string>(requested: string | undefined, sortFields: readonly F[]): F {
  if (requested === undefined || requested.trim() === "") return sortFields[0] as F;
  const wanted = requested.trim().toLowerCase();
  const match = sortFields.find((field) => field.toLowerCase() === wanted);
  if (!match) {
    throw new ApiError(400, "INVALID_SORT_FIELD", `CpOrd must be one of: ${sortFields.join(", ")}`, {
      fields: { CpOrd: [`unknown sort field "${requested.slice(0, 64)}"`] },
      allowed: sortFields,
    });
  }
  return match;
}

/** An enum filter given by numeric value or by name, case-insensitively (`Status=0` ≡ `Status=pending`). */
export function enumFilter<V extends string>(name: string, values: readonly V[]) {
  return z
    .string()
    .max(32)
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return undefined;
      const value = raw.trim();
      const byIndex = /^\d+$/.test(value) ? values[Number(value)] : undefined;
      const byName = values.find((candidate) => candidate.toLowerCase() === value.toLowerCase());
      const resolved = byIndex ?? byName;
      if (!resolved) {
        ctx.addIssue({ code: "custom", message: `${name} must be one of ${values.map((v, i) => `${i} (${v})`).join(", ")}` });
        return z.NEVER;
      }
      return resolved;
    })
    .openapi({
      type: "string",
      description: `Filter by ${name}: ${values.map((v, i) => `${i} = ${v}`).join(", ")} (number or name, case-insensitive)`,
    });
}

export interface Page<T> {
  total: number;
  items: T[];
}

/* ------------------------------------------------------------------------------------------------
 * Cursor pagination (DESIGN §2.9, seed 002), alongside Pg. A cursor is opaque to clients:
 * base64url of a versioned JSON `{v:1, s: sort field, d: direction, k: sort key, id}` — the position
 * of one row in one ordering. The next page is a keyset WHERE `(key, id) < (k, id)` on the
 * (tenant_id, key, id) index, so a deep page reads what the first does. A cursor carries its
 * ordering: CpOrd/TpOrd may be omitted with it; given and different, the cursor is refused.
 * A list whose ordering another list shares (id descending) may also name itself in `l`: its
 * cursors then work there only, and a list without a name refuses a cursor that carries one.
 * ---------------------------------------------------------------------------------------------- */

export type CursorKey = string | number | null;

export interface Cursor {
  sort: string;
  direction: SortDirection;
  /** the row's sort key (absent for sort field `id`, whose key is the id) */
  key: CursorKey;
  id: string;
  /** the list that issued it (`l`), when the list names itself */
  list?: string | undefined;
}

/** The kind of value a sort field's key is, so a decoded cursor can be checked before it reaches SQL. */
export type CursorKeyKind = "id" | "integer" | "nullableInteger" | "text";

const CURSOR_TEXT_KEY_MAX = 320;

export function encodeCursor(cursor: Cursor): string {
  const payload: Record<string, unknown> = { v: 1, s: cursor.sort, d: cursor.direction };
  if (cursor.list !== undefined) payload.l = cursor.list;
  if (cursor.sort !== "id") payload.k = cursor.key;
  payload.id = cursor.id;
  return encodeBase64Url(new TextEncoder().encode(JSON.stringify(payload)).buffer as ArrayBuffer).replace(/=+$/, "");
}

export const invalidCursor = (param: string, reason = "not a cursor this API issued") =>
  new ApiError(400, "INVALID_CURSOR", `${param} is invalid: ${reason}`, { fields: { [param]: [reason] } });

function keyMatches(kind: CursorKeyKind, key: unknown): key is CursorKey {
  switch (kind) {
    case "id":
      return key === undefined;
    case "integer":
      return Number.isSafeInteger(key);
    case "nullableInteger":
      return key === null || Number.isSafeInteger(key);
    case "text":
      return typeof key === "string" && key.length <= CURSOR_TEXT_KEY_MAX;
  }
}

/**
 * Decodes and checks a cursor against the list's sort fields (name → key kind). Anything else —
 * not base64url, not JSON, another version, an unknown field, a key of the wrong type — is 400
 * INVALID_CURSOR, never a 500 and never SQL with a surprising value.
 */
export function decodeCursor<F extends string>(param: string, raw: string, fields: Record<F, CursorKeyKind>, list?: string): Cursor & { sort: F } {
  let parsed: Record<string, unknown> | null = null;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(raw)) throw new Error("alphabet");
    const bytes = decodeBase64Url(raw.padEnd(raw.length + ((4 - (raw.length % 4)) % 4), "="));
    const value = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes)) as unknown;
    if (typeof value === "object" && value !== null && !Array.isArray(value)) parsed = value as Record<string, unknown>;
  } catch {
    parsed = null;
  }
  if (!parsed || parsed.v !== 1) throw invalidCursor(param);
  if (parsed.l !== list) throw invalidCursor(param, "issued by another list");
  const sort = typeof parsed.s === "string" ? parsed.s : "id";
  const direction = parsed.d === undefined ? "desc" : parsed.d;
  const kind = Object.prototype.hasOwnProperty.call(fields, sort) ? fields[sort as F] : undefined;
  if (!kind || (direction !== "asc" && direction !== "desc")) throw invalidCursor(param);
  if (typeof parsed.id !== "string" || !UUID_PATTERN.test(parsed.id) || !keyMatches(kind, parsed.k)) throw invalidCursor(param);
  const id = parsed.id.toLowerCase();
  return { sort: sort as F, direction, key: kind === "id" ? id : (parsed.k as CursorKey), id, list };
}

const cursorParam = (description: string) =>
  z
    .string()
    .max(1024, "cursors are at most 1024 characters")
    .optional()
    .openapi({ description, example: "eyJ2IjoxLCJzIjoiaWQiLCJkIjoiZGVzYyIsImlkIjoiMDE5N2ExYjItN2MzZC03ZTRmLThhOWItMGMxZDJlM2Y0YTViIn0" });

/** `starting_after` / `ending_before`, merged into a list's query schema. */
export const cursorQueryFields = {
  starting_after: cursorParam("Opaque cursor (a page's `nextCursor`): the page after that row, in the cursor's ordering"),
  ending_before: cursorParam("Opaque cursor (a page's `prevCursor`): the page before that row, in the cursor's ordering"),
};

/** Where a page starts: a page number (the seed's OFFSET paging) or one side of a cursor. */
export type PageStart = { kind: "page"; page: number } | { kind: "after" | "before"; cursor: Cursor };

export interface ResolvedPage<F extends string> {
  sortField: F;
  direction: SortDirection;
  start: PageStart;
}

export interface PageQueryInput {
  Pg: number;
  CpOrd?: string | undefined;
  TpOrd: SortDirection;
  starting_after?: string | undefined;
  ending_before?: string | undefined;
}

/** The one cursor a list request presents, if any: 400 for both at once (a page is after one row or before another). */
export function presentedCursor(query: {
  starting_after?: string | undefined;
  ending_before?: string | undefined;
}): { param: "starting_after" | "ending_before"; raw: string; side: "after" | "before" } | null {
  const { starting_after: after, ending_before: before } = query;
  if (after !== undefined && before !== undefined) {
    throw validationError("Give starting_after or ending_before, not both", { starting_after: ["cannot be combined with ending_before"] });
  }
  if (after !== undefined) return { param: "starting_after", raw: after, side: "after" };
  if (before !== undefined) return { param: "ending_before", raw: before, side: "before" };
  return null;
}

/** Sort field, direction and start of a list request, with the cursor rules of §2.9 applied. */
export function resolvePage<F extends string>(
  query: PageQueryInput & { rawTpOrd?: string | undefined },
  fields: Record<F, CursorKeyKind>,
  sortFields: readonly F[],
): ResolvedPage<F> {
  const presented = presentedCursor(query);
  if (!presented) {
    return { sortField: resolveSortField(query.CpOrd, sortFields), direction: query.TpOrd, start: { kind: "page", page: query.Pg } };
  }
  if (query.Pg !== 1) throw validationError("Pg cannot be combined with a cursor", { Pg: ["cannot be combined with starting_after/ending_before"] });
  const { param, raw, side } = presented;
  const cursor = decodeCursor(param, raw, fields);
  if (query.CpOrd !== undefined && query.CpOrd.trim() !== "" && resolveSortField(query.CpOrd, sortFields) !== cursor.sort) {
    throw invalidCursor(param, `issued for CpOrd=${cursor.sort}`);
  }
  if (query.rawTpOrd !== undefined && query.rawTpOrd.trim() !== "" && query.TpOrd !== cursor.direction) {
    throw invalidCursor(param, `issued for TpOrd=${cursor.direction === "asc" ? "Asc" : "Desc"}`);
  }
  return { sortField: cursor.sort as F, direction: cursor.direction, start: { kind: side, cursor } };
}

/** The seed's `{total, items}`, then the cursors (null where there is no such page). */
export interface CursorPageOf<T> extends Page<T> {
  nextCursor: string | null;
  prevCursor: string | null;
}

/** One sort column of a keyset scan. `nullable` columns sort NULL first ascending (SQLite), last descending. */
export interface KeysetColumn {
  expr: SQL | SQLWrapper;
  nullable: boolean;
  /** the column is the id itself (or as unique): it alone orders the rows, no `id` tiebreak */
  unique?: boolean;
}

/**
 * The keyset conditions and orderings that read the rows strictly after `cursor` when scanning in
 * `direction` — one segment per run of the index to read, in order. A non-nullable key is one range
 * `(key, id) > (k, id)`; a nullable key also reads the NULL run before (asc) or after (desc) the values,
 * each on the same index, so no segment needs a sort. Callers LIMIT each segment and concatenate.
 * (Row values compare lexicographically, so `(key, id) >= (k, id)` is "after, or this very row".)
 */
export function keysetSegments(
  column: KeysetColumn,
  idColumn: SQLWrapper,
  direction: SortDirection,
  cursor: Pick<Cursor, "key" | "id"> | null,
  /** also the cursor's own row (to ask "is anything at or behind this position?") */
  inclusive = false,
): { where: SQL | undefined; orderBy: SQL[] }[] {
  const ord = (expr: SQL | SQLWrapper) => (direction === "asc" ? sql`${expr} asc` : sql`${expr} desc`);
  const cmp = sql.raw((direction === "asc" ? ">" : "<") + (inclusive ? "=" : ""));
  // A repeated ORDER BY term makes SQLite sort in a temp b-tree instead of reading the index in order.
  if (column.unique) {
    return [{ where: cursor ? sql`${column.expr} ${cmp} ${cursor.key}` : undefined, orderBy: [ord(column.expr)] }];
  }
  const both = [ord(column.expr), ord(idColumn)];
  if (!cursor) return [{ where: undefined, orderBy: both }];
  if (!column.nullable || cursor.key !== null) {
    const range = sql`(${column.expr}, ${idColumn}) ${cmp} (${cursor.key}, ${cursor.id})`;
    if (!column.nullable) return [{ where: range, orderBy: both }];
    // Non-NULL key: ascending, every NULL came before it; descending, the NULL run follows the values.
    return direction === "asc"
      ? [{ where: range, orderBy: both }]
      : [
          { where: range, orderBy: both },
          { where: sql`${column.expr} IS NULL`, orderBy: [ord(idColumn)] },
        ];
  }
  const inNullRun = sql`${column.expr} IS NULL AND ${idColumn} ${cmp} ${cursor.id}`;
  return direction === "asc"
    ? [
        { where: inNullRun, orderBy: [ord(idColumn)] },
        { where: sql`${column.expr} IS NOT NULL`, orderBy: both },
      ]
    : [{ where: inNullRun, orderBy: [ord(idColumn)] }];
}

export const flip = (direction: SortDirection): SortDirection => (direction === "asc" ? "desc" : "asc");

/**
 * Shapes a cursor page from rows read in scan order: `ahead` (limit + 1 rows after the start, in the
 * scan direction) and `behind` (at most one row at the cursor or on the other side of it: is there a page there?).
 * For `before`, the scan ran in the opposite direction and the rows are put back in list order.
 */
export function shapeCursorPage<R, T>(
  start: PageStart,
  limit: number,
  ahead: R[],
  behind: R[],
  cursorOf: (row: R) => string,
  startCursor: string | null,
): { rows: R[]; nextCursor: string | null; prevCursor: string | null } {
  const more = ahead.length > limit;
  const taken = ahead.slice(0, limit);
  if (start.kind === "before") {
    const rows = taken.reverse();
    return {
      rows,
      prevCursor: more && rows.length ? cursorOf(rows[0] as R) : null,
      nextCursor: behind.length ? (rows.length ? cursorOf(rows[rows.length - 1] as R) : startCursor) : null,
    };
  }
  return {
    rows: taken,
    nextCursor: more && taken.length ? cursorOf(taken[taken.length - 1] as R) : null,
    prevCursor: behind.length ? (taken.length ? cursorOf(taken[0] as R) : startCursor) : null,
  };
}

/** The OpenAPI shape of a list page: the seed's `{total, items}`, then the cursors. */
export const cursorPageSchema = <T extends z.ZodType>(item: T, name: string) =>
  z
    .object({
      total: z.number().int().openapi({ description: "Every match, not just this page" }),
      items: z.array(item),
      nextCursor: z.string().nullable().openapi({ description: "Pass as `starting_after` for the next page; null on the last page" }),
      prevCursor: z.string().nullable().openapi({ description: "Pass as `ending_before` for the previous page; null on the first page" }),
    })
    .openapi(name);

export interface PageRead<R> {
  db: Database;
  column: KeysetColumn;
  idColumn: SQLWrapper;
  direction: SortDirection;
  start: PageStart;
  perPage: number;
  /** one row `{ total }` (absent for a list without one: its total is then 0) */
  total?: BatchItem<"sqlite">;
  /** the rows of a `Pg` page, in list order */
  offsetRows: (orderBy: SQL[], limit: number, offset: number) => BatchItem<"sqlite">;
  /** the rows of one keyset segment */
  keysetRows: (where: SQL | undefined, orderBy: SQL[], limit: number) => BatchItem<"sqlite">;
  cursorOf: (row: R) => string;
  /** a statement run first in the same batch (the caller's authority): its rows come back as `lead` */
  lead?: BatchItem<"sqlite">;
}

/**
 * Reads one page of a list — a `Pg` page by OFFSET, or a cursor page by keyset segments — with its
 * total in the same batch, and shapes `{total, rows, nextCursor, prevCursor}`. Each list supplies its
 * own statements (filters, deferred joins); this owns the cursor rules, once for every list.
 */
export async function readPage<R>(
  read: PageRead<R>,
): Promise<{ total: number; rows: R[]; nextCursor: string | null; prevCursor: string | null; lead: unknown[] }> {
  const { start, perPage } = read;
  const lead = [...(read.lead ? [read.lead] : []), ...(read.total ? [read.total] : [])];
  const run = async (statements: BatchItem<"sqlite">[]) => {
    const results = (await read.db.batch([...lead, ...statements] as unknown as [BatchItem<"sqlite">])) as unknown[][];
    const leadRows = read.lead ? results.shift()! : [];
    const [counted] = (read.total ? results.shift()! : []) as { total: number }[];
    return { leadRows, total: counted?.total ?? 0, results: results as R[][] };
  };
  if (start.kind === "page") {
    const [orderBy] = keysetSegments(read.column, read.idColumn, read.direction, null).map((segment) => segment.orderBy);
    const { leadRows, total, results } = await run([read.offsetRows(orderBy!, perPage + 1, (start.page - 1) * perPage)]);
    const fetched = results[0]!;
    const rows = fetched.slice(0, perPage);
    return {
      total,
      rows,
      nextCursor: fetched.length > perPage ? read.cursorOf(rows[rows.length - 1]!) : null,
      prevCursor: start.page > 1 && rows.length ? read.cursorOf(rows[0]!) : null,
      lead: leadRows,
    };
  }
  // `ahead`: perPage + 1 rows past the cursor in the scan direction; `behind`: one row at the cursor or
  // on its other side (is there a page there?). Each segment is one indexed range with its own LIMIT.
  const scan = start.kind === "after" ? read.direction : flip(read.direction);
  const segments = (direction: SortDirection, limit: number, inclusive: boolean) =>
    keysetSegments(read.column, read.idColumn, direction, start.cursor, inclusive).map((segment) => read.keysetRows(segment.where, segment.orderBy, limit));
  const ahead = segments(scan, perPage + 1, false);
  const behind = segments(flip(scan), 1, true);
  const { leadRows, total, results } = await run([...ahead, ...behind]);
  const page = shapeCursorPage(start, perPage, results.slice(0, ahead.length).flat(), results.slice(ahead.length).flat(), read.cursorOf, encodeCursor(start.cursor));
  return { total, ...page, lead: leadRows };
}

/**
 * The start of a list with one fixed ordering (no Pg, CpOrd or TpOrd): its first page, or one side of a
 * cursor that this very list issued (its sort field, direction and list name); anything else is 400.
 */
export function cursorStart(
  query: { starting_after?: string | undefined; ending_before?: string | undefined },
  ordering: { sort: string; direction: SortDirection; kind: CursorKeyKind; list: string },
): PageStart {
  const presented = presentedCursor(query);
  if (!presented) return { kind: "page", page: 1 };
  const { param, raw, side } = presented;
  const cursor = decodeCursor(param, raw, { [ordering.sort]: ordering.kind }, ordering.list);
  if (cursor.direction !== ordering.direction) throw invalidCursor(param);
  return { kind: side, cursor };
}
