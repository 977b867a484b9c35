import { and, asc, desc, eq, gt, inArray, isNull, type SQL } from "drizzle-orm";
import type { JWK } from "jose";
import { database, type Database } from "../../db/client";
import { accounts, memberships, refreshTokens, tenants, type AccountRow, type Role } from "../../db/schema";
import { loadConfig, passwordPeppers, requireSecret, type Env } from "../../env";
import { ApiError } from "../../http/errors";
import { newId, newIdAt } from "../../lib/ids";
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

export interface TenantChoice {
  tenantId: string;
  tenantName: string;
  role: Role;
}

/** A token pair plus the session's tenant and every tenant the account may switch to. */
export interface SignIn extends TokenPair {
  tenantId: string;
  tenants: TenantChoice[];
}

interface ActiveMembership extends TenantChoice {
  joinedAt: number;
}

/** The Active memberships, in tenants that exist, of the account `which` selects, oldest first. */
function activeMemberships(db: Database, which: SQL) {
  return db
    .select({ tenantId: memberships.tenantId, tenantName: tenants.name, role: memberships.role, joinedAt: memberships.createdAt })
    .from(memberships)
    .innerJoin(accounts, eq(accounts.id, memberships.accountId))
    .innerJoin(tenants, eq(tenants.id, memberships.tenantId))
    .where(and(which, eq(memberships.status, "Active")))
    .orderBy(asc(memberships.createdAt), asc(memberships.tenantId));
}

export interface CheckedCredentials {
  account: AccountRow;
  memberships: ActiveMembership[];
}

/**
 * Returns the account and its active memberships when email and password match and at least one
 * membership is active, null otherwise. Every path runs the same two reads and one PBKDF2 check
 * (unknown emails against a dummy hash), so timing says nothing about which check failed.
 */
export async function checkCredentials(env: Env, email: string, password: string): Promise<CheckedCredentials | null> {
  const db = database(env.DB);
  const [[account], active] = await db.batch([
    db.select().from(accounts).where(eq(accounts.email, email)).limit(1),
    activeMemberships(db, eq(accounts.email, email)),
  ]);
  const check = await verifyPassword(password, account?.passwordHash ?? DUMMY_PASSWORD_HASH, await passwordPeppers(env));
  if (!account || !check.valid || active.length === 0) return null;
  if (check.needsRehash) {
    const passwordHash = await hashPassword(password, await passwordPeppers(env));
    await db.update(accounts).set({ passwordHash }).where(eq(accounts.id, account.id));
  }
  return { account, memberships: active };
}

export const notAMember = () => new ApiError(403, "NOT_A_MEMBER", "You are not an active member of this tenant");

/** `tenantId` when asked for, else the tenant signed in to most recently, else the oldest membership. */
function chooseTenant(credentials: CheckedCredentials, tenantId: string | undefined): ActiveMembership {
  const { account, memberships: active } = credentials;
  if (tenantId !== undefined) {
    const asked = active.find((m) => m.tenantId === tenantId);
    if (!asked) throw notAMember();
    return asked;
  }
  return active.find((m) => m.tenantId === account.lastTenantId) ?? (active[0] as ActiveMembership);
}

const toChoices = (active: ActiveMembership[]): TenantChoice[] =>
  active.map(({ tenantId, tenantName, role }) => ({ tenantId, tenantName, role }));

/** Opens a session (a new refresh family) for the account in the chosen tenant and remembers the tenant. */
export async function signIn(env: Env, credentials: CheckedCredentials, tenantId?: string): Promise<SignIn> {
  const chosen = chooseTenant(credentials, tenantId);
  const pair = await issueTokens(env, { id: credentials.account.id, email: credentials.account.email, tenantId: chosen.tenantId, role: chosen.role });
  return { ...pair, tenantId: chosen.tenantId, tenants: toChoices(credentials.memberships) };
}

/** `POST /auth/switch-tenant`: a session in another tenant of the caller's, if the membership there is Active. */
export async function switchTenant(env: Env, accountId: string, tenantId: string): Promise<SignIn> {
  const db = database(env.DB);
  const [[account], active] = await db.batch([
    db.select().from(accounts).where(eq(accounts.id, accountId)).limit(1),
    activeMemberships(db, eq(accounts.id, accountId)),
  ]);
  // A tenant that does not exist answers exactly like one the caller is not in: no oracle.
  if (!account) throw notAMember();
  return signIn(env, { account, memberships: active }, tenantId);
}
/** `rt_` + base64url of 32 random bytes */
export const REFRESH_TOKEN_PATTERN = /^rt_[A-Za-z0-9_-]{43}$/;

/** The account (`id`, `email`) in one tenant with its role there. */
interface TokenSubject {
  id: string;
  tenantId: string;
  email: string;
  role: Role;
}

async function newRefreshToken(now: number) {
  const token = generateRefreshToken();
  return { token, hash: await sha256Hex(token), expiresAt: now + REFRESH_TOKEN_TTL_MS };
}

async function tokenPair(env: Env, subject: TokenSubject, refreshToken: string, now: number): Promise<TokenPair> {
  const config = loadConfig(env);
  const ring = await loadKeyRing(requireSecret(env, "JWT_PRIVATE_KEY"), env.JWT_PREVIOUS_PUBLIC_KEYS);
  const access = await signAccessToken(
    ring,
    { userId: subject.id, tenantId: subject.tenantId, email: subject.email, role: subject.role },
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

/**
 * Signs an access token and stores a new refresh token (hash only) as a new family of the
 * (account, tenant) session; the tenant becomes the account's most recent one in the same batch.
 */
async function issueTokens(env: Env, subject: TokenSubject): Promise<TokenPair> {
  const now = Date.now();
  const refresh = await newRefreshToken(now);
  const db = database(env.DB);
  await db.batch([
    db.insert(refreshTokens).values({
      // Of `now`: the purge expires refresh tokens by id (src/features/maintenance/service.ts).
      id: newIdAt(now),
      accountId: subject.id,
      tenantId: subject.tenantId,
      familyId: newId(),
      tokenHash: refresh.hash,
      expiresAt: refresh.expiresAt,
      createdAt: now,
    }),
    db.update(accounts).set({ lastTenantId: subject.tenantId }).where(eq(accounts.id, subject.id)),
    // At most MAX_SESSIONS_PER_ACCOUNT live families (in every tenant together): past that, the ones
    // used least recently (whose newest token is the oldest) end. A live family has exactly one live
    // token, its newest; the new one above is counted, and the batch is one transaction, so
    // concurrent logins cannot overshoot the cap.
    db
      .update(refreshTokens)
      .set({ revokedAt: now })
      .where(
        and(
          isNull(refreshTokens.revokedAt),
          inArray(
            refreshTokens.familyId,
            db
              .select({ familyId: refreshTokens.familyId })
              .from(refreshTokens)
              .where(and(eq(refreshTokens.accountId, subject.id), isNull(refreshTokens.spentAt), isNull(refreshTokens.revokedAt), gt(refreshTokens.expiresAt, now)))
              .orderBy(desc(refreshTokens.createdAt), desc(refreshTokens.id))
              // SQLite needs a LIMIT before OFFSET (drizzle drops "-1", SQLite's "no limit")
              .limit(Number.MAX_SAFE_INTEGER)
              .offset(loadConfig(env).maxSessionsPerAccount),
          ),
        ),
      ),
  ]);
  return tokenPair(env, subject, refresh.token, now);
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
 * presented token, both conditional on it being live and its (account, tenant) membership still
 * Active: under any concurrency exactly one caller mints a pair. A token that was already spent is
 * evidence that it leaked, so its whole family is revoked, including the successor a legitimate
 * client may be holding — unless it was spent less than REFRESH_REUSE_GRACE_SECONDS ago (two tabs
 * refreshing at once): then only this request is refused.
 * `beforeRotate` sees the token's family before anything is written (the per-session rate limit):
 * unknown tokens never reach it.
 */
export async function refreshSession(env: Env, presented: string, beforeRotate?: (familyId: string) => Promise<void>): Promise<TokenPair> {
  if (!REFRESH_TOKEN_PATTERN.test(presented)) throw invalidRefreshToken();
  const presentedHash = await sha256Hex(presented);
  const db = database(env.DB);
  const [session] = await db
    .select({ familyId: refreshTokens.familyId, id: accounts.id, tenantId: refreshTokens.tenantId, email: accounts.email, role: memberships.role })
    .from(refreshTokens)
    .innerJoin(accounts, eq(accounts.id, refreshTokens.accountId))
    .innerJoin(memberships, and(eq(memberships.accountId, refreshTokens.accountId), eq(memberships.tenantId, refreshTokens.tenantId)))
    .where(eq(refreshTokens.tokenHash, presentedHash))
    .limit(1);
  if (!session) throw invalidRefreshToken();
  await beforeRotate?.(session.familyId);
  const now = Date.now();
  const next = await newRefreshToken(now);
  const [minted] = await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO refresh_tokens (id, account_id, tenant_id, family_id, token_hash, expires_at, created_at)
       SELECT ?1, r.account_id, r.tenant_id, r.family_id, ?2, ?3, ?4
       FROM refresh_tokens r JOIN memberships m ON m.account_id = r.account_id AND m.tenant_id = r.tenant_id
       WHERE r.token_hash = ?5 AND r.spent_at IS NULL AND r.revoked_at IS NULL AND r.expires_at > ?4
         AND m.status = 'Active'`,
    ).bind(newIdAt(now), next.hash, next.expiresAt, now, presentedHash),
    env.DB.prepare(
      `UPDATE refresh_tokens SET spent_at = ?1
       WHERE token_hash = ?2 AND spent_at IS NULL AND revoked_at IS NULL AND expires_at > ?1
         AND EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ?3)`,
    ).bind(now, presentedHash, next.hash),
  ]);
  if (minted?.meta.changes !== 1) {
    // Read after the batch: a concurrent refresh may have spent the token since the read above.
    const [known] = await db
      .select({ userId: refreshTokens.accountId, familyId: refreshTokens.familyId, spentAt: refreshTokens.spentAt })
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
