import { requireSecret, type Env } from "../env";
import { newId, newIdAt } from "../lib/ids";
import type { Locale } from "../lib/locale";
import { encryptToken, generateToken, loadTokenKeyring, sha256Hex, type TokenBinding } from "../security/tokens";

export type AccountMailKind = "email_verification" | "password_reset";

/** `ev_` / `pr_` + base64url(32 random bytes): what a verification or reset link carries. */
export const ACCOUNT_TOKEN_PREFIX: Record<AccountMailKind, string> = { email_verification: "ev_", password_reset: "pr_" };
export const accountTokenPattern = (kind: AccountMailKind) => new RegExp(`^${ACCOUNT_TOKEN_PREFIX[kind]}[A-Za-z0-9_-]{43}$`);

/**
 * The outbox keeps a link's token only as AES-GCM ciphertext bound to its job row (the account_tokens row
 * keeps only its SHA-256), and erases it once the job is done.
 */
export const accountMailBinding = (jobId: string): TokenBinding => ({ inviteId: jobId, tenantId: "account-mail" });

export interface AccountMailRequest {
  kind: AccountMailKind;
  /** the account, by id or by (normalized) email; an email that matches no account writes nothing */
  account: { id: string } | { email: string };
  locale: Locale;
  ttlMs: number;
  now: number;
}

/**
 * Statements for the caller's D1 batch: a single-use token for the account (the account's older tokens
 * of this kind stop working), and the outbox job that mails its link. Both are `INSERT … SELECT`s that
 * match only if the account exists, so they can follow the account's own INSERT in the same batch, and a
 * request for an unknown email runs the very same statements, writing nothing.
 */
export async function accountMailStatements(env: Env, request: AccountMailRequest) {
  const token = generateToken(ACCOUNT_TOKEN_PREFIX[request.kind]);
  const tokenHash = await sha256Hex(token);
  // Of `now`: the purge expires account tokens by id (src/features/maintenance/service.ts).
  const tokenId = newIdAt(request.now);
  const jobId = newId();
  const ring = await loadTokenKeyring(requireSecret(env, "INVITE_TOKEN_KEY"), env.INVITE_TOKEN_PREVIOUS_KEYS);
  const secret = await encryptToken(ring, token, accountMailBinding(jobId));
  const { now } = request;
  const [where, key] = "id" in request.account ? ["a.id = ?6", request.account.id] : ["a.email = ?6", request.account.email];
  const statements = [
    env.DB.prepare(
      `INSERT INTO account_tokens (id, account_id, purpose, token_hash, expires_at, used_at, created_at)
       SELECT ?1, a.id, ?2, ?3, ?4, NULL, ?5 FROM accounts a WHERE ${where}`,
    ).bind(tokenId, request.kind, tokenHash, now + request.ttlMs, now, key),
    env.DB.prepare(
      `UPDATE account_tokens SET used_at = ?3
       WHERE account_id = (SELECT account_id FROM account_tokens WHERE id = ?1) AND purpose = ?2 AND id <> ?1 AND used_at IS NULL`,
    ).bind(tokenId, request.kind, now),
    env.DB.prepare(
      `INSERT INTO mail_outbox (id, kind, subject_id, version, recipient, locale, payload, secret_ciphertext,
                               status, attempts, enqueued_at, created_at, updated_at)
       SELECT ?1, ?2, t.account_id, ?3, a.email, ?4, '{}', ?5, 'Queued', 0, ?6, ?6, ?6
       FROM account_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.id = ?7`,
    ).bind(jobId, request.kind, tokenHash, request.locale, secret, now, tokenId),
  ];
  return { statements, jobId, token };
}

/**
 * The statement that spends a link's token — only an unused, unexpired one of `kind` — returning its
 * account; the batch's following statements act on `accountOfSpent` (the account whose token this
 * very statement spent, ?1 = the token's hash, ?2 = now).
 */
export function spendAccountToken(env: Env, kind: AccountMailKind, tokenHash: string, now: number): D1PreparedStatement {
  return env.DB.prepare(
    `UPDATE account_tokens SET used_at = ?2
     WHERE token_hash = ?1 AND purpose = ?3 AND used_at IS NULL AND expires_at > ?2
     RETURNING account_id`,
  ).bind(tokenHash, now, kind);
}

export const accountOfSpent = "(SELECT account_id FROM account_tokens WHERE token_hash = ?1 AND used_at = ?2)";
