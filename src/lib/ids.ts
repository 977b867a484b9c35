import { v7 as uuidv7 } from "uuid";

/** UUIDv7: time-ordered, so sorting by id is sorting by creation. */
export const newId = (): string => uuidv7();

/** The UUIDv7 counter of newIdAt: increasing within the isolate, so ids of one millisecond keep their order. */
// (Random values cannot be made in a Worker's global scope: drawn on first use.)
let sequence: number | undefined;

/** A UUIDv7 of the moment `ms` (not of now): for rows whose id must sort and expire with a time they carry. */
export function newIdAt(ms: number): string {
  sequence = ((sequence ?? crypto.getRandomValues(new Uint32Array(1))[0]!) + 1) >>> 0;
  return uuidv7({ msecs: ms, seq: sequence });
}

/**
 * The smallest id string of millisecond `ms`: every UUIDv7 of an earlier moment compares below it, every
 * one of `ms` or later above it. `WHERE id < ?` with it is a range over the primary key.
 */
export function idsBefore(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}`;
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
