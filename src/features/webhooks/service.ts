import type { Env } from "../../env";
import { isEventType, userActor, type EventType } from "../../events/catalogue";
import { eventStatements, markOutboxWritten } from "../../events/record";
import type { Caller } from "../../http/app-env";
import { cursorPage, type CursorPage, type CursorRequest } from "../../http/cursor";
import { ApiError, conflict, notFound, validationError } from "../../http/errors";
import { newId, UUID_PATTERN } from "../../lib/ids";
import { DAY_MS, iso, isoOrNull } from "../../lib/time";
import { secretKeyring } from "../../outbox/webhooks";
import { ciphertextPrefix, openSecret, sealSecret } from "../../security/tokens";
import { generateWebhookSecret, webhookSecretContext as secretContext } from "../../security/webhook-signing";

export const MAX_WEBHOOKS_PER_TENANT = 10;
export const MAX_WEBHOOK_URL_LENGTH = 2048;
/** After a rotation the replaced secret keeps signing this long (both signatures are sent). */
export const SECRET_OVERLAP_MS = DAY_MS;

export interface WebhookView {
  id: string;
  url: string;
  /** subscribed event types; null = every type */
  events: EventType[] | null;
  enabled: boolean;
  disabledAt: string | null;
  /** why it was disabled automatically: `failing` (3 days without a success) or `gone` (the receiver answered 410) */
  disabledReason: "failing" | "gone" | null;
  failingSince: string | null;
  /** until when the secret replaced by the last rotation still signs; null when none does */
  previousSecretExpiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

interface EndpointRecord {
  id: string;
  tenant_id: string;
  url: string;
  event_types: string | null;
  enabled: number;
  secret_ciphertext: string;
  previous_secret_expires_at: number | null;
  failing_since: number | null;
  disabled_at: number | null;
  disabled_reason: "failing" | "gone" | null;
  created_at: number;
  updated_at: number;
}

const ENDPOINT_COLUMNS =
  "id, tenant_id, url, event_types, enabled, secret_ciphertext, previous_secret_expires_at, failing_since, disabled_at, disabled_reason, created_at, updated_at";

function toView(row: EndpointRecord, now = Date.now()): WebhookView {
  return {
    id: row.id,
    url: row.url,
    events: row.event_types === null ? null : (JSON.parse(row.event_types) as EventType[]),
    enabled: Boolean(row.enabled),
    disabledAt: isoOrNull(row.disabled_at),
    disabledReason: row.disabled_reason,
    failingSince: isoOrNull(row.failing_since),
    previousSecretExpiresAt: row.previous_secret_expires_at !== null && row.previous_secret_expires_at > now ? iso(row.previous_secret_expires_at) : null,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

const webhookNotFound = () => notFound("WEBHOOK_NOT_FOUND", "No webhook endpoint matches this id");

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);
const IPV4_LITERAL = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const LOCAL_SUFFIXES = [".localhost", ".local", ".internal", ".intranet", ".lan", ".home.arpa", ".corp"];

/**
 * The URL rules (DESIGN §2.8, and SSRF): `https:` only, with a DNS name that can be public — no IP
 * literals, single-label or local-only names, no credentials, no fragment. With ALLOW_LOCAL_WEBHOOKS = "1"
 * (`npm run dev`), `http:` or `https:` to localhost / 127.0.0.1 / [::1] is allowed as well. The URL
 * parser normalizes first, so `https://2130706433/` is seen as 127.0.0.1.
 */
export function checkWebhookUrl(raw: string, allowLocal: boolean): string {
  const refuse = (why: string) => validationError("The webhook URL is not allowed", { url: [why] });
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) throw refuse(`at most ${MAX_WEBHOOK_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw refuse("not an absolute URL");
  }
  if (url.username || url.password) throw refuse("credentials in the URL are refused; authenticate the request by its signature");
  if (url.hash) throw refuse("a fragment is never sent; remove it");
  const host = url.hostname.toLowerCase();
  const loopback = LOOPBACK_HOSTS.has(host);
  if (loopback && allowLocal && (url.protocol === "http:" || url.protocol === "https:")) return url.href;
  if (url.protocol !== "https:") {
    throw refuse(allowLocal ? "must be https: (http: only to localhost or 127.0.0.1)" : "must be https:");
  }
  if (IPV4_LITERAL.test(host) || host.startsWith("[")) throw refuse("use a DNS name, not an IP address");
  if (!host.includes(".") || LOCAL_SUFFIXES.some((suffix) => host.endsWith(suffix)) || host === "localhost") {
    throw refuse(allowLocal ? "must be a public host name (or localhost / 127.0.0.1 in development)" : "must be a public host name");
  }
  return url.href;
}

function normalizeEventTypes(types: string[] | null | undefined): EventType[] | null {
  if (types === undefined || types === null) return null;
  const unknown = types.filter((type) => !isEventType(type));
  if (unknown.length) throw validationError("Unknown event types", { events: unknown.map((type) => `unknown event type "${type.slice(0, 64)}"`) });
  if (types.length === 0) throw validationError("Subscribe to at least one event type, or omit events for all", { events: ["must not be empty"] });
  return [...new Set(types as EventType[])].sort();
}

async function findEndpoint(env: Env, tenantId: string, id: string): Promise<EndpointRecord | null> {
  if (!UUID_PATTERN.test(id)) return null;
  return env.DB.prepare(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1 AND tenant_id = ?2`).bind(id.toLowerCase(), tenantId).first<EndpointRecord>();
}

const endpointExists = (id: string, tenantId: string) => ({ sql: "EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = ? AND tenant_id = ?)", params: [id, tenantId] });

export interface NewWebhook {
  url: string;
  events?: string[] | null | undefined;
  enabled?: boolean | undefined;
}

export async function createWebhook(env: Env, caller: Caller, input: NewWebhook): Promise<WebhookView & { secret: string }> {
  const url = checkWebhookUrl(input.url, env.ALLOW_LOCAL_WEBHOOKS === "1");
  const eventTypes = normalizeEventTypes(input.events);
  const enabled = input.enabled ?? true;
  const ring = await secretKeyring(env);
  const secret = generateWebhookSecret();
  const id = newId();
  const now = Date.now();
  const db = env.DB;
  const event = eventStatements(
    db,
    { tenantId: caller.tenantId, type: "webhook.created", actor: userActor(caller.userId), data: { webhookId: id, events: eventTypes, enabled }, occurredAt: now },
    endpointExists(id, caller.tenantId),
  );
  // The per-tenant cap is checked by the insert itself, so concurrent creates cannot exceed it.
  const [inserted] = await db.batch([
    db
      .prepare(
        `INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, enabled, secret_ciphertext, created_at, updated_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7
         WHERE (SELECT COUNT(*) FROM webhook_endpoints WHERE tenant_id = ?2) < ?8`,
      )
      .bind(id, caller.tenantId, url, eventTypes === null ? null : JSON.stringify(eventTypes), enabled ? 1 : 0, await sealSecret(ring, secret, secretContext(caller.tenantId, id)), now, MAX_WEBHOOKS_PER_TENANT),
    ...event.statements,
  ]);
  if ((inserted?.meta.changes ?? 0) !== 1) {
    throw conflict("WEBHOOK_LIMIT_REACHED", `A tenant has at most ${MAX_WEBHOOKS_PER_TENANT} webhook endpoints`);
  }
  const row = await findEndpoint(env, caller.tenantId, id);
  return { ...toView(row!, now), secret };
}

/** The name in this list's cursors: its ordering (id descending) is the events' and the deliveries' too. */
export const WEBHOOK_LIST = "webhooks";

/** Newest first, keyset on (tenant_id, id); the default page (Qt 10) holds all MAX_WEBHOOKS_PER_TENANT. */
export async function listWebhooks(env: Env, tenantId: string, request: CursorRequest): Promise<CursorPage<WebhookView>> {
  const now = Date.now();
  return cursorPage<EndpointRecord, WebhookView>(
    request,
    async (bound, order, limit) => {
      const { results } = await env.DB.prepare(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = ?1 ${bound ? `AND id ${bound.op} ?3` : ""} ORDER BY id ${order} LIMIT ?2`)
        .bind(tenantId, limit, ...(bound ? [bound.id] : []))
        .all<EndpointRecord>();
      return results;
    },
    (row) => toView(row, now),
  );
}

export async function getWebhook(env: Env, tenantId: string, id: string): Promise<WebhookView> {
  const row = await findEndpoint(env, tenantId, id);
  if (!row) throw webhookNotFound();
  return toView(row);
}

export interface WebhookChange {
  url?: string | undefined;
  events?: string[] | null | undefined;
  enabled?: boolean | undefined;
}

/** Changes url/events/enabled; enabling an endpoint clears its failure record. One batch with its event. */
export async function updateWebhook(env: Env, caller: Caller, id: string, change: WebhookChange): Promise<WebhookView> {
  const current = await findEndpoint(env, caller.tenantId, id);
  if (!current) throw webhookNotFound();
  const url = change.url !== undefined ? checkWebhookUrl(change.url, env.ALLOW_LOCAL_WEBHOOKS === "1") : current.url;
  const eventTypes = change.events !== undefined ? normalizeEventTypes(change.events) : current.event_types === null ? null : (JSON.parse(current.event_types) as EventType[]);
  const enabled = change.enabled ?? Boolean(current.enabled);
  const changed = (["url", "events", "enabled"] as const).filter((field) => change[field] !== undefined);
  const now = Date.now();
  const db = env.DB;
  const event = eventStatements(
    db,
    { tenantId: caller.tenantId, type: "webhook.updated", actor: userActor(caller.userId), data: { webhookId: current.id, changed, events: eventTypes, enabled }, occurredAt: now },
    endpointExists(current.id, caller.tenantId),
  );
  const reenabled = enabled && !current.enabled;
  const results = await db.batch<EndpointRecord>([
    db
      .prepare(
        `UPDATE webhook_endpoints SET url = ?1, event_types = ?2, enabled = ?3, updated_at = ?4,
           failing_since = CASE WHEN ?5 THEN NULL ELSE failing_since END,
           disabled_at = CASE WHEN ?3 THEN NULL WHEN enabled = 1 THEN ?4 ELSE disabled_at END,
           disabled_reason = CASE WHEN ?3 THEN NULL WHEN enabled = 1 THEN NULL ELSE disabled_reason END
         WHERE id = ?6 AND tenant_id = ?7`,
      )
      .bind(url, eventTypes === null ? null : JSON.stringify(eventTypes), enabled ? 1 : 0, now, reenabled ? 1 : 0, current.id, caller.tenantId),
    ...event.statements,
    // Disabling stops what was waiting for it.
    db.prepare("UPDATE webhook_deliveries SET status = 'Cancelled', error = 'endpoint disabled' WHERE endpoint_id = ?1 AND status = 'Pending' AND ?2 = 0").bind(current.id, enabled ? 1 : 0),
    db.prepare(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1 AND tenant_id = ?2`).bind(current.id, caller.tenantId),
  ]);
  const row = results[results.length - 1]?.results[0];
  if (!row) throw webhookNotFound(); // deleted meanwhile
  return toView(row, now);
}

export async function deleteWebhook(env: Env, caller: Caller, id: string): Promise<void> {
  const current = await findEndpoint(env, caller.tenantId, id);
  if (!current) throw webhookNotFound();
  const db = env.DB;
  const event = eventStatements(
    db,
    { tenantId: caller.tenantId, type: "webhook.deleted", actor: userActor(caller.userId), data: { webhookId: current.id } },
    endpointExists(current.id, caller.tenantId),
  );
  const [insertEvent, fanOut] = event.statements as [D1PreparedStatement, D1PreparedStatement];
  // The event first (guarded by the endpoint's existence), then the delete (its attempts go with it),
  // then the fan-out, so the deleted endpoint is not told about its own deletion.
  const [, deleted] = await db.batch([
    insertEvent,
    db.prepare("DELETE FROM webhook_endpoints WHERE id = ?1 AND tenant_id = ?2 RETURNING id").bind(current.id, caller.tenantId),
    fanOut,
  ]);
  if ((deleted?.results.length ?? 0) !== 1) throw webhookNotFound();
}

/** A new secret; the replaced one keeps signing for SECRET_OVERLAP_MS (a second rotation within it retires the older one at once). */
export async function rotateWebhookSecret(env: Env, caller: Caller, id: string): Promise<WebhookView & { secret: string }> {
  const current = await findEndpoint(env, caller.tenantId, id);
  if (!current) throw webhookNotFound();
  const ring = await secretKeyring(env);
  const secret = generateWebhookSecret();
  const now = Date.now();
  const expiresAt = now + SECRET_OVERLAP_MS;
  const db = env.DB;
  const event = eventStatements(
    db,
    { tenantId: caller.tenantId, type: "webhook.secret_rotated", actor: userActor(caller.userId), data: { webhookId: current.id, previousSecretExpiresAt: iso(expiresAt) }, occurredAt: now },
    endpointExists(current.id, caller.tenantId),
  );
  const results = await db.batch<EndpointRecord>([
    db
      .prepare(
        `UPDATE webhook_endpoints SET previous_secret_ciphertext = secret_ciphertext, previous_secret_expires_at = ?1,
           secret_ciphertext = ?2, updated_at = ?3 WHERE id = ?4 AND tenant_id = ?5`,
      )
      .bind(expiresAt, await sealSecret(ring, secret, secretContext(caller.tenantId, current.id)), now, current.id, caller.tenantId),
    ...event.statements,
    db.prepare(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1 AND tenant_id = ?2`).bind(current.id, caller.tenantId),
  ]);
  const row = results[results.length - 1]?.results[0];
  if (!row) throw webhookNotFound();
  return { ...toView(row, now), secret };
}

export interface DeliveryView {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  attempt: number;
  /** true for a redelivery asked for by hand (it is tried once, without automatic retries) */
  manual: boolean;
  status: "Pending" | "Succeeded" | "Failed" | "Cancelled";
  /** when a Pending attempt is due */
  scheduledAt: string | null;
  attemptedAt: string | null;
  responseStatus: number | null;
  durationMs: number | null;
  error: string | null;
  createdAt: string;
}

interface DeliveryRecord {
  id: string;
  endpoint_id: string;
  event_id: string;
  type: string;
  attempt: number;
  manual: number;
  status: DeliveryView["status"];
  scheduled_at: number;
  attempted_at: number | null;
  response_status: number | null;
  duration_ms: number | null;
  error: string | null;
  created_at: number;
}

const DELIVERY_SELECT = `SELECT d.id, d.endpoint_id, d.event_id, ev.type, d.attempt, d.manual, d.status, d.scheduled_at, d.attempted_at,
  d.response_status, d.duration_ms, d.error, d.created_at
  FROM webhook_deliveries d JOIN events ev ON ev.id = d.event_id`;

const toDeliveryView = (row: DeliveryRecord): DeliveryView => ({
  id: row.id,
  webhookId: row.endpoint_id,
  eventId: row.event_id,
  eventType: row.type,
  attempt: row.attempt,
  manual: Boolean(row.manual),
  status: row.status,
  scheduledAt: row.status === "Pending" ? iso(row.scheduled_at) : null,
  attemptedAt: isoOrNull(row.attempted_at),
  responseStatus: row.response_status,
  durationMs: row.duration_ms,
  error: row.error,
  createdAt: iso(row.created_at),
});

/** The endpoint's attempts, newest first (one row per attempt: its status, response code and duration). */
export async function listDeliveries(env: Env, tenantId: string, id: string, request: CursorRequest): Promise<CursorPage<DeliveryView>> {
  const endpoint = await findEndpoint(env, tenantId, id);
  if (!endpoint) throw webhookNotFound();
  return cursorPage<DeliveryRecord, DeliveryView>(
    request,
    async (bound, order, limit) => {
      const { results } = await env.DB.prepare(`${DELIVERY_SELECT} WHERE d.endpoint_id = ?1 ${bound ? `AND d.id ${bound.op} ?3` : ""} ORDER BY d.id ${order} LIMIT ?2`)
        .bind(endpoint.id, limit, ...(bound ? [bound.id] : []))
        .all<DeliveryRecord>();
      return results;
    },
    toDeliveryView,
  );
}

/**
 * Sends an event to the endpoint again, once (no automatic retries), as a new attempt. If an attempt of
 * that event is already Pending there, that one is returned instead: a double click sends once.
 */
export async function redeliver(env: Env, tenantId: string, id: string, deliveryId: string): Promise<DeliveryView> {
  const endpoint = await findEndpoint(env, tenantId, id);
  if (!endpoint) throw webhookNotFound();
  const source = UUID_PATTERN.test(deliveryId)
    ? await env.DB.prepare(`${DELIVERY_SELECT} WHERE d.id = ?1 AND d.endpoint_id = ?2`).bind(deliveryId.toLowerCase(), endpoint.id).first<DeliveryRecord>()
    : null;
  if (!source) throw notFound("DELIVERY_NOT_FOUND", "No delivery of this webhook matches this id");
  if (!endpoint.enabled) throw new ApiError(409, "WEBHOOK_DISABLED", "This webhook endpoint is disabled; enable it (PATCH enabled: true) before redelivering");
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, attempt, manual, status, scheduled_at, created_at)
     SELECT ?1, ?2, ?3, ?4, (SELECT MAX(attempt) + 1 FROM webhook_deliveries WHERE endpoint_id = ?3 AND event_id = ?4), 1, 'Pending', ?5, ?5
     WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries WHERE endpoint_id = ?3 AND event_id = ?4 AND status = 'Pending')`,
  )
    .bind(newId(), tenantId, endpoint.id, source.event_id, now)
    .run();
  markOutboxWritten(env.DB);
  const pending = await env.DB.prepare(`${DELIVERY_SELECT} WHERE d.endpoint_id = ?1 AND d.event_id = ?2 AND d.status = 'Pending' ORDER BY d.id DESC LIMIT 1`)
    .bind(endpoint.id, source.event_id)
    .first<DeliveryRecord>();
  if (!pending) throw webhookNotFound(); // the endpoint or the event vanished meanwhile
  return toDeliveryView(pending);
}

/**
 * The nightly job's part for webhooks (after an INVITE_TOKEN_KEY rotation): endpoint secrets sealed under
 * a previous key are re-sealed under the current one, so the old key can leave INVITE_TOKEN_PREVIOUS_KEYS.
 * A secret no configured key opens is counted and left alone (rotate-secret replaces it).
 */
export async function reencryptWebhookSecrets(env: Env): Promise<{ reencrypted: number; undecryptable: number }> {
  const ring = await secretKeyring(env);
  const prefix = ciphertextPrefix(ring.current);
  const { results } = await env.DB.prepare(
    `SELECT id, tenant_id, secret_ciphertext, previous_secret_ciphertext FROM webhook_endpoints
     WHERE substr(secret_ciphertext, 1, 12) <> ?1 OR substr(previous_secret_ciphertext, 1, 12) <> ?1 LIMIT 500`,
  )
    .bind(prefix)
    .all<{ id: string; tenant_id: string; secret_ciphertext: string; previous_secret_ciphertext: string | null }>();
  let reencrypted = 0;
  let undecryptable = 0;
  const writes: D1PreparedStatement[] = [];
  for (const row of results) {
    const context = secretContext(row.tenant_id, row.id);
    const reseal = async (ciphertext: string | null) =>
      ciphertext === null || ciphertext.startsWith(prefix) ? ciphertext : sealSecret(ring, await openSecret(ring, ciphertext, context), context);
    try {
      const [secret, previous] = [await reseal(row.secret_ciphertext), await reseal(row.previous_secret_ciphertext)];
      writes.push(
        env.DB.prepare("UPDATE webhook_endpoints SET secret_ciphertext = ?1, previous_secret_ciphertext = ?2 WHERE id = ?3 AND secret_ciphertext = ?4 AND previous_secret_ciphertext IS ?5")
          .bind(secret, previous, row.id, row.secret_ciphertext, row.previous_secret_ciphertext),
      );
    } catch {
      undecryptable++;
    }
  }
  if (writes.length) reencrypted = (await env.DB.batch(writes)).filter((outcome) => outcome.meta.changes > 0).length;
  return { reencrypted, undecryptable };
}
