import type { Env } from "../../env";
import { ApiError } from "../../http/errors";
import type { Locale } from "../../lib/locale";
import { DAY_MS } from "../../lib/time";
import { accountMailStatements, accountOfSpent, accountTokenPattern, spendAccountToken } from "../../outbox/account-mail";
import { handOver } from "../../outbox/mail-jobs";
import { sha256Hex } from "../../security/tokens";

/** A verification link works for this long (and only the newest one of an account works at all). */
export const VERIFICATION_TTL_MS = 2 * DAY_MS;

export const invalidVerificationToken = () =>
  new ApiError(400, "INVALID_VERIFICATION_TOKEN", "This verification link is invalid, expired or already used; ask for a new one");

/**
 * The statements that mail `account` a verification link, for the same D1 batch as the write that makes
 * the account (tenant sign-up, an unbound registration); hand the job over once the batch committed.
 */
export function verificationMail(env: Env, account: { id: string }, locale: Locale, now: number) {
  return accountMailStatements(env, { kind: "email_verification", account, locale, ttlMs: VERIFICATION_TTL_MS, now });
}

/** `POST /auth/verify-email`: spends the token and marks the account's email verified, in one batch. */
export async function verifyEmail(env: Env, token: string): Promise<void> {
  if (!accountTokenPattern("email_verification").test(token)) throw invalidVerificationToken();
  const hash = await sha256Hex(token);
  const now = Date.now();
  const [spent] = await env.DB.batch([
    spendAccountToken(env, "email_verification", hash, now),
    env.DB.prepare(`UPDATE accounts SET email_verified_at = COALESCE(email_verified_at, ?2), updated_at = ?2 WHERE id IN ${accountOfSpent}`).bind(hash, now),
  ]);
  if (spent?.results.length !== 1) throw invalidVerificationToken();
}

export async function isEmailVerified(env: Env, accountId: string): Promise<boolean> {
  const row = await env.DB.prepare("SELECT email_verified_at FROM accounts WHERE id = ?1").bind(accountId).first<{ email_verified_at: number | null }>();
  return row?.email_verified_at != null;
}

/** `POST /auth/verify-email/resend`: a fresh link (the older ones stop working), unless already verified. */
export async function resendVerification(env: Env, accountId: string, locale: Locale): Promise<{ queued: boolean }> {
  if (await isEmailVerified(env, accountId)) return { queued: false };
  const { statements, jobId } = await verificationMail(env, { id: accountId }, locale, Date.now());
  await env.DB.batch(statements);
  await handOver(env, [jobId]);
  return { queued: true };
}
