export const DAY_MS = 24 * 60 * 60 * 1000;

/** ISO-8601 UTC with milliseconds, e.g. 2026-07-03T14:32:00.000Z */
export const iso = (epochMs: number): string => new Date(epochMs).toISOString();
export const isoOrNull = (epochMs: number | null): string | null => (epochMs === null ? null : iso(epochMs));
