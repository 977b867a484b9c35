import type { Env } from "../../env";
import { DAY_MS } from "../../lib/time";
import { reencryptInviteTokens, type ReencryptResult } from "../invites/service";
import { EVENT_RETENTION_DAYS } from "../events/service";
import { renormalizeTenantNames, type RenormalizeResult } from "../tenants/service";
import { reencryptWebhookSecrets } from "../webhooks/service";

/** The cron of the daily clean-up (wrangler.toml); every other cron run (every 5 minutes) only sweeps the webhook outbox. */
export const PURGE_CRON = "17 3 * * *";

/** An invite is kept this long after its expiry, so an admin can still see it, and renew it, for a while. */
export const INVITE_RETENTION_MS = 30 * DAY_MS;
export const EVENT_RETENTION_MS = EVENT_RETENTION_DAYS * DAY_MS;

export interface PurgeOptions {
  /** rows deleted per statement: each statement is one short write, never one huge transaction */
  batchSize?: number;
  /** statements per table per run; whatever is left waits for the next run */
  maxBatches?: number;
}

export interface PurgeResult {
  invites: number;
  refreshTokens: number;
  /** events older than 90 days (their webhook attempts go with them, ON DELETE CASCADE) */
  events: number;
  /** false when a table hit maxBatches and still had rows to delete */
  complete: boolean;
}

export const DEFAULT_PURGE_BATCH_SIZE = 500;
export const DEFAULT_PURGE_MAX_BATCHES = 40;

/**
 * Deletes `table`'s rows with `expires_at < cutoff`, `batchSize` at a time. Both tables index
 * `expires_at`, so each batch is a range scan that costs what it deletes, not a table scan.
 */
async function deleteInBatches(db: D1Database, table: "invites" | "refresh_tokens" | "events", cutoff: number, batchSize: number, maxBatches: number) {
  const column = table === "events" ? "occurred_at" : "expires_at";
  // RETURNING counts deleted rows exactly; meta.changes would add the rows triggers touch (invite counts).
  const statement = db.prepare(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE ${column} < ?1 LIMIT ?2) RETURNING id`);
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const changes = (await statement.bind(cutoff, batchSize).all()).results.length;
    deleted += changes;
    if (changes < batchSize) return { deleted, complete: true };
  }
  return { deleted, complete: false };
}

/**
 * The daily clean-up (cron trigger, see wrangler.toml):
 * - invites whose `expires_at` is more than 30 days past, whatever their status: used, revoked and
 *   expired invites are all final by then (validity is at most 30 days, so no invite outlives its
 *   creation by more than 60 days);
 * - refresh tokens past their `expires_at`, spent and revoked ones included. A spent token is kept
 *   until then on purpose: presenting it again is how reuse (a stolen token) is detected and its
 *   family revoked, and that only works while its row exists;
 * - events older than 90 days (DESIGN §2.8), by `occurred_at` (indexed), with their delivery attempts.
 */
export async function purgeExpired(env: Env, now = Date.now(), options: PurgeOptions = {}): Promise<PurgeResult> {
  const batchSize = options.batchSize ?? DEFAULT_PURGE_BATCH_SIZE;
  const maxBatches = options.maxBatches ?? DEFAULT_PURGE_MAX_BATCHES;
  const invites = await deleteInBatches(env.DB, "invites", now - INVITE_RETENTION_MS, batchSize, maxBatches);
  const refreshTokens = await deleteInBatches(env.DB, "refresh_tokens", now, batchSize, maxBatches);
  const events = await deleteInBatches(env.DB, "events", now - EVENT_RETENTION_MS, batchSize, maxBatches);
  return {
    invites: invites.deleted,
    refreshTokens: refreshTokens.deleted,
    events: events.deleted,
    complete: invites.complete && refreshTokens.complete && events.complete,
  };
}

export interface MaintenanceResult {
  purge: PurgeResult;
  /** invite-token ciphertexts moved to the current INVITE_TOKEN_KEY (see README, "Rotating INVITE_TOKEN_KEY") */
  inviteTokens: ReencryptResult;
  /** webhook signing secrets moved to the current INVITE_TOKEN_KEY (same ring) */
  webhookSecrets: { reencrypted: number; undecryptable: number };
  /** tenant-name uniqueness keys recomputed with NFKC + case folding (names stored before it) */
  tenantNames: RenormalizeResult;
}

/**
 * Everything the cron trigger runs: the purge, the re-encryption of invite tokens not yet under the
 * current key, and the recomputation of tenant-name keys stored before NFKC + case folding.
 */
export async function runMaintenance(env: Env, now = Date.now()): Promise<MaintenanceResult> {
  const purge = await purgeExpired(env, now);
  const inviteTokens = await reencryptInviteTokens(env);
  const webhookSecrets = await reencryptWebhookSecrets(env);
  const tenantNames = await renormalizeTenantNames(env);
  return { purge, inviteTokens, webhookSecrets, tenantNames };
}
