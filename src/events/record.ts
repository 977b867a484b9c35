import { newIdAt } from "../lib/ids";
import type { Actor, EventData, EventType } from "./catalogue";

export interface NewEvent<T extends EventType = EventType> {
  tenantId: string;
  type: T;
  actor: Actor;
  data: EventData<T>;
  /** defaults to Date.now() */
  occurredAt?: number;
}

/**
 * A condition the event is written under, in the same statement: the event exists only if the change
 * it reports happened (e.g. `EXISTS (SELECT 1 FROM invites WHERE id = ?)` after a conditional insert).
 * Plain `?` placeholders, bound in order from `params`.
 */
export interface EventGuard {
  sql: string;
  params: unknown[];
}

export interface EventStatements {
  id: string;
  occurredAt: number;
  /** append to the change's own D1 batch, after the change's statements */
  statements: D1PreparedStatement[];
}

/**
 * A delivery id from its event's id: the UUIDv7 time prefix (so attempts sort with their event) and
 * 62 fresh random bits, made in SQL because one INSERT … SELECT writes a row per subscribed endpoint.
 */
const DELIVERY_ID_SQL = "substr(ev.id, 1, 19) || '8' || substr(lower(hex(randomblob(2))), 2, 3) || '-' || lower(hex(randomblob(6)))";

/** The first attempt of `eventId` for every enabled endpoint of its tenant subscribed to its type (the outbox rows). */
export const FAN_OUT_SQL = `INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, attempt, manual, status, scheduled_at, created_at)
  SELECT ${DELIVERY_ID_SQL}, ev.tenant_id, e.id, ev.id, 1, 0, 'Pending', ev.occurred_at, ev.occurred_at
  FROM events ev JOIN webhook_endpoints e ON e.tenant_id = ev.tenant_id
  WHERE ev.id = ? AND e.enabled = 1
    AND (e.event_types IS NULL OR EXISTS (SELECT 1 FROM json_each(e.event_types) WHERE json_each.value = ev.type))
  RETURNING id`;

/** The fan-out statements made by eventStatements: a batch result says whether one wrote outbox rows. */
const fanOuts = new WeakSet<D1PreparedStatement>();

/**
 * The statements that record `event` and its webhook deliveries. Every service appends them to the
 * SAME D1 batch as the change they report, so the change, its event and its outbox rows commit or
 * fail together (D1 runs a batch as one transaction). Nothing is sent here: the dispatcher
 * (src/outbox/webhooks.ts) hands the new rows to the Queue after the commit, and the cron sweeps up
 * any it missed.
 */
export function eventStatements<T extends EventType>(db: D1Database, event: NewEvent<T>, guard?: EventGuard): EventStatements {
  const occurredAt = event.occurredAt ?? Date.now();
  // An id of the event's own moment: the list sorts by it and the purge expires by it (no other index).
  const id = newIdAt(occurredAt);
  const values = [id, event.tenantId, event.type, event.actor.type, event.actor.id, JSON.stringify(event.data), occurredAt];
  const insert = db
    .prepare(
      `INSERT INTO events (id, tenant_id, type, actor_type, actor_id, data, occurred_at)
       SELECT ?, ?, ?, ?, ?, ?, ? WHERE ${guard ? `(${guard.sql})` : "1"}`,
    )
    .bind(...values, ...(guard?.params ?? []));
  const fanOut = db.prepare(FAN_OUT_SQL).bind(id);
  fanOuts.add(fanOut);
  return { id, occurredAt, statements: [insert, fanOut] };
}

/**
 * Which D1 handles have written webhook outbox rows this request: the HTTP layer hands the outbox to the
 * Queue after responding only then (src/http/outbox-dispatch.ts), so a change in a tenant with no
 * endpoint subscribed to its event costs no D1 call after the response.
 */
const written = new WeakSet<D1Database>();
export function markOutboxWritten(db: D1Database) {
  written.add(db);
}
export function outboxMayHaveRows(db: D1Database): boolean {
  return written.has(db);
}

/**
 * `db` with its batches watched: a batch in which one of eventStatements' fan-out statements inserted a
 * delivery row marks the returned handle (markOutboxWritten). Fan-out statements only run in batches.
 */
export function watchingFanOut(db: D1Database): D1Database {
  const watched: D1Database = {
    prepare: (query) => db.prepare(query),
    batch: async <T>(statements: D1PreparedStatement[]) => {
      const results = await db.batch<T>(statements);
      if (statements.some((statement, i) => fanOuts.has(statement) && (results[i]?.results.length ?? 0) > 0)) markOutboxWritten(watched);
      return results;
    },
    exec: (query) => db.exec(query),
    withSession: (constraintOrBookmark) => db.withSession(constraintOrBookmark),
    dump: () => db.dump(),
  };
  return watched;
}

/**
 * Several events of one change: the first is written under `guard`, each later one only if the first
 * was (so `changes() = 1` right after the change's UPDATE guards them all).
 */
export function eventsStatements(db: D1Database, events: NewEvent[], guard?: EventGuard): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  let first: string | undefined;
  for (const event of events) {
    const written = eventStatements(db, event, first === undefined ? guard : { sql: "EXISTS (SELECT 1 FROM events WHERE id = ?)", params: [first] });
    first ??= written.id;
    statements.push(...written.statements);
  }
  return statements;
}
