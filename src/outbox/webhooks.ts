import { systemActor } from "../events/catalogue";
import { eventStatements } from "../events/record";
import { requireSecret, type Env } from "../env";
import { newId } from "../lib/ids";
import { DAY_MS, iso } from "../lib/time";
import { webhookHeaders, webhookSecretContext } from "../security/webhook-signing";
import { loadTokenKeyring, openSecret, TokenDecryptionError, type TokenKeyring } from "../security/tokens";

/**
 * Webhook delivery (DESIGN §2.8): a transactional outbox in D1 (`webhook_deliveries`, one row per
 * attempt, the first written in the same batch as its event) drained through the
 * `edge-invites-webhooks` Queue.
 *
 * - dispatch: after a change commits, its Pending rows are handed to the Queue at once
 *   (dispatchPending, from the HTTP layer's waitUntil);
 * - the consumer claims the row, POSTs the signed event, records the attempt; a failure writes the next
 *   attempt and retries the same message with that delay (`message.retry({delaySeconds})`);
 * - the cron sweeps Pending rows the Queue should have delivered long ago (a lost hand-off, a crash),
 *   so no event is lost: at-least-once, with `webhook-id` = the event id for the receiver to dedupe.
 * The row in D1 is the truth; a message is only a wake-up call, so duplicates are harmless.
 */
export interface WebhookMessage {
  endpointId: string;
  eventId: string;
}

export const WEBHOOK_QUEUE_NAME = "edge-invites-webhooks";
/** After attempt n (1-based) fails, attempt n+1 follows RETRY_DELAYS_SECONDS[n-1] later; after the 7th, none. */
export const RETRY_DELAYS_SECONDS = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600] as const;
export const MAX_AUTOMATIC_ATTEMPTS = RETRY_DELAYS_SECONDS.length + 1;
export const DELIVERY_TIMEOUT_MS = 10_000;
/** An endpoint failing this long (no success since its first failure) is disabled. */
export const DISABLE_AFTER_FAILING_MS = 3 * DAY_MS;
/** A claimed attempt is invisible to other consumers this long (longer than the request timeout). */
const CLAIM_LEASE_MS = 60_000;
/** A Pending attempt this overdue was lost by the Queue (or its hand-off): the sweeper sends it again. */
export const SWEEP_GRACE_MS = 5 * 60_000;
/** Queues refuse delays over 12 hours. */
const MAX_QUEUE_DELAY_SECONDS = 12 * 3600;
const DISPATCH_LIMIT = 100;
const ERROR_MAX_LENGTH = 200;
export const WEBHOOK_USER_AGENT = "edge-invites-webhooks/1 (+https://www.standardwebhooks.com)";

/** The INVITE_TOKEN_KEY ring (current + INVITE_TOKEN_PREVIOUS_KEYS) also seals webhook signing secrets. */
export function secretKeyring(env: Env): Promise<TokenKeyring> {
  return loadTokenKeyring(requireSecret(env, "INVITE_TOKEN_KEY"), env.INVITE_TOKEN_PREVIOUS_KEYS);
}

const delaySeconds = (ms: number) => Math.min(MAX_QUEUE_DELAY_SECONDS, Math.max(0, Math.ceil(ms / 1000)));

interface OutboxRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  scheduled_at: number;
}

/** Sends one message per row; rows whose hand-off failed go back to "never enqueued" for the next try. */
async function enqueue(env: Env, rows: OutboxRow[], now: number): Promise<number> {
  if (rows.length === 0) return 0;
  try {
    await env.WEBHOOK_QUEUE.sendBatch(
      rows.map((row) => ({ body: { endpointId: row.endpoint_id, eventId: row.event_id }, delaySeconds: delaySeconds(row.scheduled_at - now) })),
    );
  } catch (error) {
    const ids = rows.map((row) => row.id);
    await env.DB.prepare(`UPDATE webhook_deliveries SET enqueued_at = NULL WHERE id IN (${ids.map(() => "?").join(", ")})`)
      .bind(...ids)
      .run()
      .catch(() => undefined);
    throw error;
  }
  return rows.length;
}

/** Hands every Pending attempt that was never enqueued to the Queue (claimed first, so two dispatchers do not double up). */
export async function dispatchPending(env: Env, now = Date.now()): Promise<number> {
  const { results } = await env.DB.prepare(
    `UPDATE webhook_deliveries SET enqueued_at = ?1
     WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'Pending' AND enqueued_at IS NULL ORDER BY scheduled_at LIMIT ?2)
     RETURNING id, endpoint_id, event_id, scheduled_at`,
  )
    .bind(now, DISPATCH_LIMIT)
    .all<OutboxRow>();
  return enqueue(env, results, now);
}

/**
 * The cron's safety net: Pending attempts overdue by more than SWEEP_GRACE_MS whose last hand-off is
 * as old are sent again (never-enqueued rows included). Up to `maxBatches` × 100 per run.
 */
export async function sweepOutbox(env: Env, now = Date.now(), maxBatches = 10): Promise<number> {
  let swept = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const { results } = await env.DB.prepare(
      `UPDATE webhook_deliveries SET enqueued_at = ?1
       WHERE id IN (SELECT id FROM webhook_deliveries
                    WHERE status = 'Pending' AND scheduled_at < ?2 AND (enqueued_at IS NULL OR enqueued_at < ?2)
                    ORDER BY scheduled_at LIMIT ?3)
       RETURNING id, endpoint_id, event_id, scheduled_at`,
    )
      .bind(now, now - SWEEP_GRACE_MS, DISPATCH_LIMIT)
      .all<OutboxRow>();
    swept += await enqueue(env, results, now);
    if (results.length < DISPATCH_LIMIT) break;
  }
  return swept;
}

interface AttemptRow {
  id: string;
  tenant_id: string;
  attempt: number;
  manual: number;
  scheduled_at: number;
  url: string;
  enabled: number;
  secret_ciphertext: string;
  previous_secret_ciphertext: string | null;
  previous_secret_expires_at: number | null;
  failing_since: number | null;
  type: string;
  data: string;
  occurred_at: number;
  actor_type: string;
  actor_id: string | null;
}

/** What the consumer does with a message: ack it, or have the Queue bring it back after `retryAfterSeconds`. */
export interface MessageOutcome {
  retryAfterSeconds?: number;
}

/** The JSON body POSTed for an event (Standard Webhooks: `{type, timestamp, data}`). */
export function webhookBody(row: Pick<AttemptRow, "type" | "data" | "occurred_at" | "tenant_id" | "actor_type" | "actor_id">): string {
  return JSON.stringify({
    type: row.type,
    timestamp: iso(row.occurred_at),
    data: { ...JSON.parse(row.data), tenantId: row.tenant_id, actor: { type: row.actor_type, id: row.actor_id } },
  });
}

interface AttemptResult {
  ok: boolean;
  status: number | null;
  durationMs: number;
  error: string | null;
}

async function send(env: Env, row: AttemptRow, endpointId: string, eventId: string, now: number): Promise<AttemptResult> {
  const ring = await secretKeyring(env);
  const context = webhookSecretContext(row.tenant_id, endpointId);
  const secrets: string[] = [];
  try {
    secrets.push(await openSecret(ring, row.secret_ciphertext, context));
    if (row.previous_secret_ciphertext && row.previous_secret_expires_at !== null && row.previous_secret_expires_at > now) {
      secrets.push(await openSecret(ring, row.previous_secret_ciphertext, context));
    }
  } catch (error) {
    if (!(error instanceof TokenDecryptionError)) throw error;
    // Nothing is sent unsigned: a failed attempt the log shows, retried as any other (rotate-secret mends it).
    return { ok: false, status: null, durationMs: 0, error: "the signing secret does not open with INVITE_TOKEN_KEY or INVITE_TOKEN_PREVIOUS_KEYS" };
  }
  const body = webhookBody(row);
  const headers = await webhookHeaders(secrets, eventId, Math.floor(now / 1000), body);
  const started = performance.now();
  try {
    // No redirects: a 3xx is a failure (Standard Webhooks), and following one would let a receiver
    // point our requests somewhere else.
    const response = await fetch(row.url, {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json", "User-Agent": WEBHOOK_USER_AGENT },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    await response.body?.cancel();
    const ok = response.status >= 200 && response.status < 300;
    return { ok, status: response.status, durationMs: Math.round(performance.now() - started), error: ok ? null : `HTTP ${response.status}` };
  } catch (error) {
    const name = (error as Error)?.name;
    const message = name === "TimeoutError" || name === "AbortError" ? `timed out after ${DELIVERY_TIMEOUT_MS / 1000} s` : String((error as Error)?.message ?? error);
    return { ok: false, status: null, durationMs: Math.round(performance.now() - started), error: message.slice(0, ERROR_MAX_LENGTH) };
  }
}

/** One message: find its current Pending attempt, claim it, send it, record the result. */
export async function deliverMessage(env: Env, message: WebhookMessage, now = Date.now()): Promise<MessageOutcome> {
  const row = await env.DB.prepare(
    `SELECT d.id, d.tenant_id, d.attempt, d.manual, d.scheduled_at,
            e.url, e.enabled, e.secret_ciphertext, e.previous_secret_ciphertext, e.previous_secret_expires_at, e.failing_since,
            ev.type, ev.data, ev.occurred_at, ev.actor_type, ev.actor_id
     FROM webhook_deliveries d
     JOIN webhook_endpoints e ON e.id = d.endpoint_id
     JOIN events ev ON ev.id = d.event_id
     WHERE d.endpoint_id = ?1 AND d.event_id = ?2 AND d.status = 'Pending'
     ORDER BY d.id LIMIT 1`,
  )
    .bind(message.endpointId, message.eventId)
    .first<AttemptRow>();
  // Delivered, given up, or the endpoint or event is gone: nothing left for this message.
  if (!row) return {};
  if (!row.enabled) {
    await env.DB.prepare("UPDATE webhook_deliveries SET status = 'Cancelled', error = 'endpoint disabled' WHERE id = ?1 AND status = 'Pending'").bind(row.id).run();
    return {};
  }
  // Early (a duplicate message, or another consumer holds the lease): come back when it is due.
  if (row.scheduled_at > now + 1000) return { retryAfterSeconds: Math.max(1, delaySeconds(row.scheduled_at - now)) };
  const claimed = await env.DB.prepare(
    "UPDATE webhook_deliveries SET scheduled_at = ?1 WHERE id = ?2 AND status = 'Pending' AND scheduled_at = ?3 RETURNING id",
  )
    .bind(now + CLAIM_LEASE_MS, row.id, row.scheduled_at)
    .first<{ id: string }>();
  if (!claimed) return {}; // another consumer won this attempt; its message carries on from here

  const result = await send(env, row, message.endpointId, message.eventId, now);
  const finished = now + result.durationMs;
  const db = env.DB;
  const statements: D1PreparedStatement[] = [
    db
      .prepare("UPDATE webhook_deliveries SET status = ?1, attempted_at = ?2, response_status = ?3, duration_ms = ?4, error = ?5 WHERE id = ?6")
      .bind(result.ok ? "Succeeded" : "Failed", now, result.status, result.durationMs, result.error, row.id),
  ];
  if (result.ok) {
    statements.push(db.prepare("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?1 AND failing_since IS NOT NULL").bind(message.endpointId));
    await db.batch(statements);
    return {};
  }

  const failingSince = row.failing_since ?? now;
  const gone = result.status === 410;
  const disable = gone || now - failingSince >= DISABLE_AFTER_FAILING_MS;
  const delay = !row.manual && !disable ? RETRY_DELAYS_SECONDS[row.attempt - 1] : undefined;
  statements.push(db.prepare("UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?1) WHERE id = ?2").bind(now, message.endpointId));
  if (delay !== undefined) {
    statements.push(
      db
        .prepare(
          `INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, attempt, manual, status, scheduled_at, enqueued_at, created_at)
           VALUES (?1, ?2, ?3, ?4, ?5, 0, 'Pending', ?6, ?7, ?7)`,
        )
        .bind(newId(), row.tenant_id, message.endpointId, message.eventId, row.attempt + 1, finished + delay * 1000, now),
    );
  }
  if (disable) statements.push(...disableStatements(db, row.tenant_id, message.endpointId, gone ? "gone" : "failing", failingSince, now));
  await db.batch(statements);
  if (disable) await dispatchPending(env, now);
  return delay === undefined ? {} : { retryAfterSeconds: delay };
}

/**
 * Disables the endpoint, records webhook.disabled (once: the event is written only if this batch's
 * UPDATE changed the row, so two consumers failing at once produce one event) and cancels what it had pending.
 */
function disableStatements(db: D1Database, tenantId: string, endpointId: string, reason: "failing" | "gone", failingSince: number, now: number) {
  const disable = db
    .prepare("UPDATE webhook_endpoints SET enabled = 0, disabled_at = ?1, disabled_reason = ?2, updated_at = ?1 WHERE id = ?3 AND enabled = 1")
    .bind(now, reason, endpointId);
  const event = eventStatements(
    db,
    { tenantId, type: "webhook.disabled", actor: systemActor, data: { webhookId: endpointId, reason, failingSince: iso(failingSince) }, occurredAt: now },
    { sql: "changes() = 1", params: [] },
  );
  const cancel = db.prepare("UPDATE webhook_deliveries SET status = 'Cancelled', error = 'endpoint disabled' WHERE endpoint_id = ?1 AND status = 'Pending'").bind(endpointId);
  return [disable, ...event.statements, cancel];
}

/** The Queue consumer: every message of the batch concurrently; a thrown error retries that message only. */
export async function consumeWebhookBatch(batch: MessageBatch<WebhookMessage>, env: Env): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      try {
        const outcome = await deliverMessage(env, message.body);
        if (outcome.retryAfterSeconds !== undefined) message.retry({ delaySeconds: outcome.retryAfterSeconds });
        else message.ack();
      } catch (error) {
        console.error(JSON.stringify({ msg: "webhook delivery error", endpointId: message.body?.endpointId, eventId: message.body?.eventId, error: String(error) }));
        message.retry({ delaySeconds: 30 });
      }
    }),
  );
}
