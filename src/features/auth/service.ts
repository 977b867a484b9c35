import { eq } from "drizzle-orm";
import { database } from "../../db/client";
import { refreshTokens, users, type UserRow } from "../../db/schema";
import { loadConfig, requireSecret, type Env } from "../../env";
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

/** Signs an access token and stores a new refresh token (hash only) in `familyId`, or a new family. */
export async function issueTokens(env: Env, user: Pick<UserRow, "id" | "tenantId" | "email" | "role">, familyId = newId()): Promise<TokenPair> {
  const config = loadConfig(env);
  const ring = await loadKeyRing(requireSecret(env, "JWT_PRIVATE_KEY"), env.JWT_PREVIOUS_PUBLIC_KEYS);
  const now = Date.now();
  const access = await signAccessToken(
    ring,
    { userId: user.id, tenantId: user.tenantId, email: user.email, role: user.role },
    { issuer: config.issuer, audience: config.audience },
    now,
  );
  const refreshToken = generateRefreshToken();
  await database(env.DB)
    .insert(refreshTokens)
    .values({
      id: newId(),
      userId: user.id,
      familyId,
      tokenHash: await sha256Hex(refreshToken),
      expiresAt: now + REFRESH_TOKEN_TTL_MS,
      createdAt: now,
    });
  return {
    accessToken: access.token,
    tokenType: "Bearer",
    expiresIn: ACCESS_TOKEN_TTL_SECONDS,
    expiresAt: access.expiresAt.toISOString(),
    refreshToken,
  };
}
