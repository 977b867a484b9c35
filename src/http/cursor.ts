import * as z from "../lib/zod";
import { UUID_PATTERN } from "../lib/ids";
import { decodeBase64Url, encodeBase64Url, utf8Bytes } from "../security/encoding";
import { ApiError, validationError } from "./errors";

/**
 * Cursor pagination (DESIGN §2.8, §2.9) over UUIDv7 ids, newest first: `starting_after` = the page
 * after (older than) a cursor, `ending_before` = the page before (newer than) it. A cursor is opaque
 * to clients: base64url of a versioned JSON `{v:1,id}`, so its format can change without a new parameter.
 */
export interface CursorPage<T> {
  items: T[];
  /** pass as `starting_after` for the next (older) page; null on the last page */
  nextCursor: string | null;
  /** pass as `ending_before` for the previous (newer) page; null on the first page */
  prevCursor: string | null;
}

export function encodeCursor(id: string): string {
  return encodeBase64Url(utf8Bytes(JSON.stringify({ v: 1, id })).buffer).replace(/=+$/, "");
}

const invalidCursor = (name: string) => new ApiError(400, "INVALID_CURSOR", `${name} is not a cursor this API issued`, { fields: { [name]: ["invalid cursor"] } });

export function decodeCursor(name: string, cursor: string): string {
  try {
    const parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(decodeBase64Url(cursor))) as { v?: unknown; id?: unknown };
    if (parsed?.v === 1 && typeof parsed.id === "string" && UUID_PATTERN.test(parsed.id)) return parsed.id.toLowerCase();
  } catch {
    // fall through
  }
  throw invalidCursor(name);
}

const cursorParam = (description: string) =>
  z
    .string()
    .max(200)
    .optional()
    .openapi({ description, example: "eyJ2IjoxLCJpZCI6IjAxOTNhMmI0LTAwMDAtNzAwMC04MDAwLTAwMDAwMDAwMDAwMCJ9" });

/** `Qt` (1–100, default 10) + the two cursors; both cursors at once is 400. */
export const cursorQuerySchema = z.object({
  Qt: z
    .string()
    .max(12)
    .regex(/^\s*\d+\s*$/, "Qt must be an integer")
    .transform(Number)
    .pipe(z.number().int().min(1, "Qt must be at least 1").max(100, "Qt must be at most 100"))
    .optional()
    .default(10)
    .openapi({ type: "integer", minimum: 1, maximum: 100, default: 10, description: "Items per page (1–100)" }),
  starting_after: cursorParam("The page after this cursor (older items): a `nextCursor` from a previous page"),
  ending_before: cursorParam("The page before this cursor (newer items): a `prevCursor` from a previous page"),
});

export interface CursorRequest {
  limit: number;
  /** id bound and direction: `older` than after, or `newer` than before */
  after?: string;
  before?: string;
}

export function cursorRequest(query: { Qt: number; starting_after?: string | undefined; ending_before?: string | undefined }): CursorRequest {
  if (query.starting_after !== undefined && query.ending_before !== undefined) {
    throw validationError("Give starting_after or ending_before, not both", { starting_after: ["cannot be combined with ending_before"] });
  }
  return {
    limit: query.Qt,
    ...(query.starting_after !== undefined ? { after: decodeCursor("starting_after", query.starting_after) } : {}),
    ...(query.ending_before !== undefined ? { before: decodeCursor("ending_before", query.ending_before) } : {}),
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
  if (request.before !== undefined) {
    const rows = await fetch({ op: ">", id: request.before }, "ASC", limit + 1);
    const hasNewer = rows.length > limit;
    const page = rows.slice(0, limit).reverse();
    return {
      items: page.map(view),
      nextCursor: page.length ? encodeCursor(page[page.length - 1]!.id) : encodeCursor(request.before),
      prevCursor: hasNewer && page.length ? encodeCursor(page[0]!.id) : null,
    };
  }
  const rows = await fetch(request.after !== undefined ? { op: "<", id: request.after } : null, "DESC", limit + 1);
  const hasOlder = rows.length > limit;
  const page = rows.slice(0, limit);
  return {
    items: page.map(view),
    nextCursor: hasOlder ? encodeCursor(page[page.length - 1]!.id) : null,
    prevCursor: request.after !== undefined && page.length ? encodeCursor(page[0]!.id) : null,
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
