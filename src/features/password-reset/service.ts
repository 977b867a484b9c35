import { passwordPeppers, type Env } from "../../env";
import { ApiError } from "../../http/errors";
import type { Locale } from "../../lib/locale";
import { accountMailStatements, accountOfSpent, accountTokenPattern, spendAccountToken } from "../../outbox/account-mail";
import { handOver } from "../../outbox/mail-jobs";
import { hashPassword } from "../../security/passwords";
import { sha256Hex } from "../../security/tokens";

/** A reset link works once, for 30 minutes. */
export const RESET_TTL_MS = 30 * 60 * 1000;

export const invalidResetToken = () => new ApiError(400, "INVALID_RESET_TOKEN", "This password reset link is invalid, expired or already used; ask for a new one");

/**
 * `POST /auth/password-reset`: mails a reset link if `email` has an account. The same statements run
 * either way (they write nothing for an unknown email) and the job id is handed to the queue either way
 * (the consumer finds no job), so neither the answer nor the work tells whether the account exists.
 */
export async function requestPasswordReset(env: Env, email: string, locale: Locale): Promise<void> {
  const { statements, jobId } = await accountMailStatements(env, { kind: "password_reset", account: { email }, locale, ttlMs: RESET_TTL_MS, now: Date.now() });
  await env.DB.batch(statements);
  await handOver(env, [jobId]);
}

/**
 * `POST /auth/password-reset/confirm`: one batch spends the token, sets the password, marks the email
 * verified (the link proved the mailbox: its holder takes over an account someone else squatted), ends
 * every session of the account (all its refresh tokens, in every tenant) and kills its other reset links.
 * The password is hashed before the token is looked at, so a bad token costs what a good one does.
 */
export async function confirmPasswordReset(env: Env, token: string, password: string): Promise<void> {
  const passwordHash = await hashPassword(password, await passwordPeppers(env));
  if (!accountTokenPattern("password_reset").test(token)) throw invalidResetToken();
  const hash = await sha256Hex(token);
  const now = Date.now();
  const account = accountOfSpent;
  const [spent] = await env.DB.batch([
    spendAccountToken(env, "password_reset", hash, now),
    env.DB.prepare(
      `UPDATE accounts SET password_hash = ?3, email_verified_at = COALESCE(email_verified_at, ?2), updated_at = ?2 WHERE id IN ${account}`,
    ).bind(hash, now, passwordHash),
    env.DB.prepare(`UPDATE refresh_tokens SET revoked_at = ?2 WHERE account_id IN ${account} AND revoked_at IS NULL`).bind(hash, now),
    env.DB.prepare(
      `UPDATE account_tokens SET used_at = ?2 WHERE account_id IN ${account} AND purpose = 'password_reset' AND used_at IS NULL`,
    ).bind(hash, now),
  ]);
  if (spent?.results.length !== 1) throw invalidResetToken();
}
