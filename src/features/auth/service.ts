import { and, eq, inArray, isNull } from "drizzle-orm";
import type { JWK } from "jose";
import { database } from "../../db/client";
import { refreshTokens, users, type UserRow } from "../../db/schema";
import { loadConfig, requireSecret, type Env } from "../../env";
import { ApiError } from "../../http/errors";
import { newId } from "../../lib/ids";
import { DAY_MS } from "../../lib/time";
import { ACCESS_TOKEN_TTL_SECONDS, loadKeyRing, signAccessToken } from "../../security/jwt";
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from "../../security/passwords";
import { generateRefreshToken, sha256Hex } from "../../security/tokens";

export const REFRESH_TOKEN_TTL_MS = 7 * DAY_MS;

export interface TokenPair {
  accessToken: string;
  tokenType: "Bearer";
  expiresIn: number;
  expiresAt: string;
  refreshToken: string;
}

/**
 * Returns the user when email and password match an active account, null otherwise.
 * Unknown emails are checked against a dummy hash so every path costs one PBKDF2 run.
 */
export async function checkCredentials(env: Env, email: string, password: string): Promise<UserRow | null> {
  const db = database(env.DB);
  const [user] = await db.select().from(users).where(eq(users.email, email)).limit(1);
  const check = await verifyPassword(password, user?.passwordHash ?? DUMMY_PASSWORD_HASH, env.PASSWORD_PEPPER);
  if (!user || !check.valid || user.status !== "Active") return null;
  if (check.needsRehash) {
    const passwordHash = await hashPassword(password, env.PASSWORD_PEPPER);
    await db.update(users).set({ passwordHash }).where(eq(users.id, user.id));
  }
  return user;
}

/** `rt_` + base64url of 32 random bytes */
export const REFRESH_TOKEN_PATTERN = /^rt_[A-Za-z0-9_-]{43}$/;

type TokenSubject = Pick<UserRow, "id" | "tenantId" | "email" | "role">;

async function newRefreshToken(now: number) {
  const token = generateRefreshToken();
  return { token, hash: await sha256Hex(token), expiresAt: now + REFRESH_TOKEN_TTL_MS };
}

async function tokenPair(env: Env, user: TokenSubject, refreshToken: string, now: number): Promise<TokenPair> {
  const config = loadConfig(env);
  const ring = await loadKeyRing(requireSecret(env, "JWT_PRIVATE_KEY"), env.JWT_PREVIOUS_PUBLIC_KEYS);
  const access = await signAccessToken(
    ring,
    { userId: user.id, tenantId: user.tenantId, email: user.email, role: user.role },
    { issuer: config.issuer, audience: config.audience },
    now,
  );
  return {
    accessToken: access.token,
    tokenType: "Bearer",
    expiresIn: ACCESS_TOKEN_TTL_SECONDS,
    expiresAt: access.expiresAt.toISOString(),
    refreshToken,
  };
}

/** Signs an access token and stores a new refresh token (hash only) in `familyId`, or a new family. */
export async function issueTokens(env: Env, user: TokenSubject, familyId = newId()): Promise<TokenPair> {
  const now = Date.now();
  const refresh = await newRefreshToken(now);
  await database(env.DB)
    .insert(refreshTokens)
    .values({ id: newId(), userId: user.id, familyId, tokenHash: refresh.hash, expiresAt: refresh.expiresAt, createdAt: now });
  return tokenPair(env, user, refresh.token, now);
}

/** One code and one message for every refusal, so the response says nothing about which check failed. */
export const invalidRefreshToken = () =>
  new ApiError(401, "INVALID_REFRESH_TOKEN", "The refresh token is invalid, expired or revoked; sign in again");

async function revokeFamilyOf(env: Env, tokenHash: string, now: number): Promise<void> {
  const db = database(env.DB);
  await db
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(
      and(
        isNull(refreshTokens.revokedAt),
        inArray(refreshTokens.familyId, db.select({ familyId: refreshTokens.familyId }).from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash))),
      ),
    );
}

/**
 * Rotation with reuse detection. One D1 batch (a transaction) inserts the successor and spends the
 * presented token, both conditional on it being live and its user active: under any concurrency
 * exactly one caller mints a pair. A token that was already spent is evidence that it leaked, so
 * its whole family is revoked, including the successor a legitimate client may be holding — unless
 * it was spent less than REFRESH_REUSE_GRACE_SECONDS ago (two tabs refreshing at once): then only
 * this request is refused.
 * `beforeRotate` sees the token's family before anything is written (the per-session rate limit):
 * unknown tokens never reach it.
 */
export async function refreshSession(env: Env, presented: string, beforeRotate?: (familyId: string) => Promise<void>): Promise<TokenPair> {
  if (!REFRESH_TOKEN_PATTERN.test(presented)) throw invalidRefreshToken();
  const presentedHash = await sha256Hex(presented);
  const db = database(env.DB);
  const [session] = await db
    .select({ familyId: refreshTokens.familyId, id: users.id, tenantId: users.tenantId, email: users.email, role: users.role })
    .from(refreshTokens)
    .innerJoin(users, eq(users.id, refreshTokens.userId))
    .where(eq(refreshTokens.tokenHash, presentedHash))
    .limit(1);
  if (!session) throw invalidRefreshToken();
  await beforeRotate?.(session.familyId);
  const now = Date.now();
  const next = await newRefreshToken(now);
  const [minted] = await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at)
       SELECT ?1, r.user_id, r.family_id, ?2, ?3, ?4
       FROM refresh_tokens r JOIN users u ON u.id = r.user_id
       WHERE r.token_hash = ?5 AND r.spent_at IS NULL AND r.revoked_at IS NULL AND r.expires_at > ?4
         AND u.status = 'Active'`,
    ).bind(newId(), next.hash, next.expiresAt, now, presentedHash),
    env.DB.prepare(
      `UPDATE refresh_tokens SET spent_at = ?1
       WHERE token_hash = ?2 AND spent_at IS NULL AND revoked_at IS NULL AND expires_at > ?1
         AND EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ?3)`,
    ).bind(now, presentedHash, next.hash),
  ]);
  if (minted?.meta.changes !== 1) {
    // Read after the batch: a concurrent refresh may have spent the token since the read above.
    const [known] = await db
      .select({ userId: refreshTokens.userId, familyId: refreshTokens.familyId, spentAt: refreshTokens.spentAt })
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, presentedHash))
      .limit(1);
    if (known?.spentAt != null) {
      // Spent moments ago: another tab (or a retried request) of the same client won the race. That
      // one 401 leaves the family alone, so the winner's new token keeps the session; later reuse is
      // evidence of a stolen token and ends the family.
      if (now - known.spentAt < loadConfig(env).refreshReuseGraceMs) {
        console.info(JSON.stringify({ msg: "refresh token retried within grace: family kept", userId: known.userId, familyId: known.familyId }));
      } else {
        await revokeFamilyOf(env, presentedHash, now);
        console.warn(JSON.stringify({ msg: "refresh token reuse: family revoked", userId: known.userId, familyId: known.familyId }));
      }
    }
    throw invalidRefreshToken();
  }
  return tokenPair(env, session, next.token, now);
}

/** Revokes the presented token's whole family. Unknown or malformed tokens are silently ignored (no oracle). */
export async function endSession(env: Env, presented: string): Promise<void> {
  if (!REFRESH_TOKEN_PATTERN.test(presented)) return;
  await revokeFamilyOf(env, await sha256Hex(presented), Date.now());
}

export interface PublicSigningKey {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  alg: "EdDSA";
  use: "sig";
}

/** The current signing key and the retired ones still accepted, public halves only. */
export async function publicSigningKeys(env: Env): Promise<PublicSigningKey[]> {
  const ring = await loadKeyRing(requireSecret(env, "JWT_PRIVATE_KEY"), env.JWT_PREVIOUS_PUBLIC_KEYS);
  return ring.publicJwks.map((jwk: JWK) => ({
    kty: "OKP",
    crv: "Ed25519",
    x: jwk.x as string,
    kid: jwk.kid as string,
    alg: "EdDSA",
    use: "sig",
  }));
}
