import type { Env } from "../../env";
import { idsBefore } from "../../lib/ids";
import { DAY_MS } from "../../lib/time";
import { REFRESH_TOKEN_TTL_MS } from "../auth/service";
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
  /** email-verification and password-reset tokens written more than ACCOUNT_TOKEN_RETENTION_MS ago */
  accountTokens: number;
  /** false when a table hit maxBatches and still had rows to delete */
  complete: boolean;
}

/** Longer than any account token lives (email verification 2 days, password reset 30 minutes): all expired by then. */
export const ACCOUNT_TOKEN_RETENTION_MS = 7 * DAY_MS;

export const DEFAULT_PURGE_BATCH_SIZE = 500;
export const DEFAULT_PURGE_MAX_BATCHES = 40;

/**
 * Deletes `table`'s expired rows, `batchSize` at a time, each batch a range scan that costs what it
 * deletes. Invites expire by `expires_at` (indexed: renewals move it). Rows whose lifetime is fixed
 * from the moment they are written expire by their UUIDv7 id (`id < idsBefore(cutoff)`, a range of the
 * primary key), so they need no index of their own: refresh tokens (7 days), account tokens, events.
 */
async function deleteInBatches(db: D1Database, table: "invites" | "refresh_tokens" | "events" | "account_tokens", cutoff: number, batchSize: number, maxBatches: number) {
  const expired = table === "invites" ? "expires_at < ?1" : "id < ?1";
  // RETURNING counts deleted rows exactly; meta.changes would add the rows triggers touch (invite counts).
  const statement = db.prepare(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE ${expired} LIMIT ?2) RETURNING id`);
  const bound = table === "invites" ? cutoff : idsBefore(cutoff);
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const changes = (await statement.bind(bound, batchSize).all()).results.length;
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
 * - events older than 90 days (DESIGN §2.8), by id (made of `occurred_at`), with their delivery attempts;
 * - email-verification and password-reset tokens a week after they were written (all expired by then).
 */
export async function purgeExpired(env: Env, now = Date.now(), options: PurgeOptions = {}): Promise<PurgeResult> {
  const batchSize = options.batchSize ?? DEFAULT_PURGE_BATCH_SIZE;
  const maxBatches = options.maxBatches ?? DEFAULT_PURGE_MAX_BATCHES;
  const invites = await deleteInBatches(env.DB, "invites", now - INVITE_RETENTION_MS, batchSize, maxBatches);
  // A refresh token lives REFRESH_TOKEN_TTL_MS from the moment its row (and id) is written.
  const refreshTokens = await deleteInBatches(env.DB, "refresh_tokens", now - REFRESH_TOKEN_TTL_MS, batchSize, maxBatches);
  const events = await deleteInBatches(env.DB, "events", now - EVENT_RETENTION_MS, batchSize, maxBatches);
  const accountTokens = await deleteInBatches(env.DB, "account_tokens", now - ACCOUNT_TOKEN_RETENTION_MS, batchSize, maxBatches);
  return {
    invites: invites.deleted,
    refreshTokens: refreshTokens.deleted,
    events: events.deleted,
    accountTokens: accountTokens.deleted,
    complete: invites.complete && refreshTokens.complete && events.complete && accountTokens.complete,
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
