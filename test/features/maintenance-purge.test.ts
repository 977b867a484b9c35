import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import type { Env } from "../../src/env";
import { REFRESH_TOKEN_TTL_MS } from "../../src/features/auth/service";
import { VERIFICATION_TTL_MS } from "../../src/features/email-verification/service";
import { ACCOUNT_TOKEN_RETENTION_MS, purgeExpired } from "../../src/features/maintenance/service";
import { RESET_TTL_MS } from "../../src/features/password-reset/service";
import { newIdAt } from "../../src/lib/ids";
import { createInvite, newTenant, register, type Session } from "../helpers";

const DAY = 24 * 60 * 60 * 1000;

async function setInvite(id: string, fields: { expires_at?: number; revoked_at?: number }) {
  for (const [column, value] of Object.entries(fields)) {
    await env.DB.prepare(`UPDATE invites SET ${column} = ? WHERE id = ?`).bind(value, id).run();
  }
}

/** A refresh token as the API writes one: its id (UUIDv7) is of the moment it was written, REFRESH_TOKEN_TTL_MS before its expiry. */
async function insertRefreshToken(session: Session, fields: { expiresAt: number; spentAt?: number; revokedAt?: number }): Promise<string> {
  const id = newIdAt(fields.expiresAt - REFRESH_TOKEN_TTL_MS);
  await env.DB.prepare(
    `INSERT INTO refresh_tokens (id, account_id, tenant_id, family_id, token_hash, expires_at, spent_at, revoked_at, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(id, session.userId, session.tenantId, crypto.randomUUID(), crypto.randomUUID(), fields.expiresAt, fields.spentAt ?? null, fields.revokedAt ?? null, fields.expiresAt - REFRESH_TOKEN_TTL_MS)
    .run();
  return id;
}

/** An email-verification token written at `writtenAt` (the API's ids are UUIDv7 of that moment). */
async function insertAccountToken(session: Session, writtenAt: number): Promise<string> {
  const id = newIdAt(writtenAt);
  await env.DB.prepare(
    `INSERT INTO account_tokens (id, account_id, purpose, token_hash, expires_at, used_at, created_at) VALUES (?, ?, 'email_verification', ?, ?, NULL, ?)`,
  )
    .bind(id, session.userId, crypto.randomUUID(), writtenAt + VERIFICATION_TTL_MS, writtenAt)
    .run();
  return id;
}

async function existing(table: "invites" | "refresh_tokens" | "account_tokens", ids: string[]): Promise<string[]> {
  const { results } = await env.DB.prepare(`SELECT id FROM ${table} WHERE id IN (${ids.map(() => "?").join(", ")})`)
    .bind(...ids)
    .all<{ id: string }>();
  return results.map((row) => row.id).sort();
}

async function runScheduled(scheduledTime = Date.now()) {
  const controller = createScheduledController({ scheduledTime, cron: "17 3 * * *" });
  const ctx = createExecutionContext();
  await (worker as ExportedHandler<Env>).scheduled!(controller, env, ctx);
  await waitOnExecutionContext(ctx);
}

describe("scheduled purge", () => {
  it("deletes invites expired more than 30 days ago (any status) and expired refresh tokens; keeps the rest", async () => {
    const owner = await newTenant();
    const now = Date.now();
    const longAgo = now - 31 * DAY;

    const oldExpired = await createInvite(owner.token);
    const oldUsed = await createInvite(owner.token);
    const oldRevoked = await createInvite(owner.token);
    const recentlyExpired = await createInvite(owner.token);
    const revokedRecently = await createInvite(owner.token);
    const pending = await createInvite(owner.token);
    expect((await register(oldUsed.token)).status).toBe(201);
    await setInvite(oldExpired.id, { expires_at: longAgo });
    await setInvite(oldUsed.id, { expires_at: longAgo });
    await setInvite(oldRevoked.id, { expires_at: longAgo, revoked_at: longAgo });
    await setInvite(recentlyExpired.id, { expires_at: now - 29 * DAY });
    await setInvite(revokedRecently.id, { revoked_at: now - DAY });

    const expired = await insertRefreshToken(owner, { expiresAt: now - 1000 });
    const expiredSpent = await insertRefreshToken(owner, { expiresAt: now - DAY, spentAt: now - 2 * DAY });
    const expiredRevoked = await insertRefreshToken(owner, { expiresAt: now - DAY, revokedAt: now - 2 * DAY });
    const spentLive = await insertRefreshToken(owner, { expiresAt: now + DAY, spentAt: now - DAY });
    const revokedLive = await insertRefreshToken(owner, { expiresAt: now + DAY, revokedAt: now - DAY });
    const live = await insertRefreshToken(owner, { expiresAt: now + 6 * DAY });
    const oldAccountToken = await insertAccountToken(owner, now - ACCOUNT_TOKEN_RETENTION_MS - 1000);
    const recentAccountToken = await insertAccountToken(owner, now - ACCOUNT_TOKEN_RETENTION_MS + DAY);

    await runScheduled(now);

    const inviteIds = [oldExpired, oldUsed, oldRevoked, recentlyExpired, revokedRecently, pending].map((invite) => invite.id);
    expect(await existing("invites", inviteIds)).toEqual([recentlyExpired.id, revokedRecently.id, pending.id].sort());
    expect(await existing("refresh_tokens", [expired, expiredSpent, expiredRevoked, spentLive, revokedLive, live])).toEqual([spentLive, revokedLive, live].sort());
    // account tokens go a week after they were written: every one has expired by then
    expect(VERIFICATION_TTL_MS).toBeLessThan(ACCOUNT_TOKEN_RETENTION_MS);
    expect(RESET_TTL_MS).toBeLessThan(ACCOUNT_TOKEN_RETENTION_MS);
    expect(await existing("account_tokens", [oldAccountToken, recentAccountToken])).toEqual([recentAccountToken]);
    // the user a purged invite created is untouched
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM memberships WHERE tenant_id = ?").bind(owner.tenantId).first("n")).toBe(2);
  });

  it("measures retention from the scheduled time", async () => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token);
    const now = Date.now();
    await setInvite(invite.id, { expires_at: now - 20 * DAY });
    await runScheduled(now);
    expect(await existing("invites", [invite.id])).toEqual([invite.id]);
    await runScheduled(now + 11 * DAY);
    expect(await existing("invites", [invite.id])).toEqual([]);
  });

  it("works in bounded batches and reports whether it finished", async () => {
    const owner = await newTenant();
    const now = Date.now();
    await purgeExpired(env, now);
    const tokens = [];
    for (let i = 0; i < 5; i++) tokens.push(await insertRefreshToken(owner, { expiresAt: now - 1000 - i }));

    expect(await purgeExpired(env, now, { batchSize: 2, maxBatches: 2 })).toEqual({ invites: 0, refreshTokens: 4, events: 0, accountTokens: 0, complete: false });
    expect(await existing("refresh_tokens", tokens)).toHaveLength(1);
    expect(await purgeExpired(env, now, { batchSize: 2, maxBatches: 2 })).toEqual({ invites: 0, refreshTokens: 1, events: 0, accountTokens: 0, complete: true });
    expect(await existing("refresh_tokens", tokens)).toEqual([]);
  });
});
