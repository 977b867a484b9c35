import { importJWK, jwtVerify, SignJWT, type CryptoKey as JoseKey, type JWK } from "jose";
import { ConfigError } from "../env";

export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
export const ACCESS_TOKEN_TYPE = "at+jwt";
const ALG = "EdDSA";

export interface KeyRing {
  signingKid: string;
  signingKey: JoseKey;
  /** every key a token may be verified with: the current one and retired ones still in their grace period */
  verificationKeys: Map<string, JoseKey>;
  /** public halves only, for /.well-known/jwks.json */
  publicJwks: JWK[];
}

function publicPart(jwk: JWK): JWK {
  const { kty, crv, x, kid } = jwk;
  return { kty, crv, x, kid, alg: ALG, use: "sig" };
}

function assertEd25519(jwk: JWK, name: string): asserts jwk is JWK & { kid: string; x: string } {
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") {
    throw new ConfigError(`${name} must be an Ed25519 (OKP) JWK`);
  }
  if (typeof jwk.kid !== "string" || jwk.kid.length === 0) throw new ConfigError(`${name} must carry a "kid"`);
}

const keyRings = new Map<string, Promise<KeyRing>>();

/**
 * @param privateJwkJson JWT_PRIVATE_KEY: the current Ed25519 private JWK (with kid)
 * @param previousPublicJwksJson JWT_PREVIOUS_PUBLIC_KEYS: optional JSON array of retired public JWKs
 */
export function loadKeyRing(privateJwkJson: string, previousPublicJwksJson = ""): Promise<KeyRing> {
  const cacheKey = `${privateJwkJson}\u0000${previousPublicJwksJson}`;
  let ring = keyRings.get(cacheKey);
  if (!ring) {
    ring = buildKeyRing(privateJwkJson, previousPublicJwksJson);
    ring.catch(() => keyRings.delete(cacheKey));
    keyRings.set(cacheKey, ring);
  }
  return ring;
}

function parseJson(value: string, name: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new ConfigError(`${name} is not valid JSON`);
  }
}

async function buildKeyRing(privateJwkJson: string, previousPublicJwksJson: string): Promise<KeyRing> {
  const privateJwk = parseJson(privateJwkJson, "JWT_PRIVATE_KEY") as JWK;
  assertEd25519(privateJwk, "JWT_PRIVATE_KEY");
  if (typeof privateJwk.d !== "string") throw new ConfigError("JWT_PRIVATE_KEY must be a private JWK (with d)");
  const previous = previousPublicJwksJson ? (parseJson(previousPublicJwksJson, "JWT_PREVIOUS_PUBLIC_KEYS") as JWK[]) : [];
  if (!Array.isArray(previous)) throw new ConfigError("JWT_PREVIOUS_PUBLIC_KEYS must be a JSON array of public JWKs");

  const publicJwks = [publicPart(privateJwk)];
  previous.forEach((jwk, i) => {
    assertEd25519(jwk, `JWT_PREVIOUS_PUBLIC_KEYS[${i}]`);
    const known = publicJwks.find((candidate) => candidate.kid === jwk.kid);
    // The same key listed twice (e.g. mid-rotation) is harmless; another key under a known kid would
    // make verification ambiguous, so it is refused.
    if (!known) publicJwks.push(publicPart(jwk));
    else if (known.x !== jwk.x) throw new ConfigError(`JWT key id "${jwk.kid}" names two different keys; every key needs its own kid`);
  });
  const verificationKeys = new Map<string, JoseKey>();
  for (const jwk of publicJwks) verificationKeys.set(jwk.kid as string, (await importJWK(jwk, ALG)) as JoseKey);
  return {
    signingKid: privateJwk.kid,
    signingKey: (await importJWK(privateJwk, ALG)) as JoseKey,
    verificationKeys,
    publicJwks,
  };
}

export interface AccessTokenSubject {
  userId: string;
  tenantId: string;
  email: string;
  role: string;
}

export interface AccessTokenSettings {
  issuer: string;
  audience: string;
}

export async function signAccessToken(ring: KeyRing, subject: AccessTokenSubject, settings: AccessTokenSettings, nowMs = Date.now()) {
  const issuedAt = Math.floor(nowMs / 1000);
  const expiresAt = issuedAt + ACCESS_TOKEN_TTL_SECONDS;
  const token = await new SignJWT({ tenant_id: subject.tenantId, email: subject.email, role: subject.role })
    .setProtectedHeader({ alg: ALG, kid: ring.signingKid, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setSubject(subject.userId)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .setJti(crypto.randomUUID())
    .sign(ring.signingKey);
  return { token, expiresAt: new Date(expiresAt * 1000) };
}

export interface VerifiedAccessToken {
  userId: string;
  tenantId: string;
  jti: string;
}

interface Verified {
  claims: VerifiedAccessToken;
  /** seconds: the token stops verifying at this instant (its exp, or iat + the maximum age if sooner) */
  validUntil: number;
}

/** Tokens this isolate has verified, per key ring (a new ring — rotated keys — starts empty). */
const verifiedTokens = new WeakMap<KeyRing, Map<string, Verified>>();
const VERIFIED_TOKENS_KEPT = 1024;

/**
 * Throws on any defect; callers map every failure to 401 without saying which check failed.
 * A client sends the same access token on every request for up to 15 minutes: the Ed25519 signature
 * and the claims are checked on its first request in this isolate, and the result is kept (for that
 * exact token string, key ring, issuer and audience) until the token expires. Only time can change
 * the outcome for the same bytes, and the expiry is checked on every use; authority is still read
 * from D1 on every request.
 */
export async function verifyAccessToken(ring: KeyRing, token: string, settings: AccessTokenSettings, nowMs = Date.now()): Promise<VerifiedAccessToken> {
  let verified = verifiedTokens.get(ring);
  if (!verified) verifiedTokens.set(ring, (verified = new Map()));
  const cacheKey = `${settings.issuer}\u0000${settings.audience}\u0000${token}`;
  const hit = verified.get(cacheKey);
  if (hit) {
    if (Math.floor(nowMs / 1000) < hit.validUntil) return hit.claims;
    verified.delete(cacheKey);
  }
  const { claims, validUntil } = await verifyWithJose(ring, token, settings);
  // Oldest first out: Map keeps insertion order.
  if (verified.size >= VERIFIED_TOKENS_KEPT) verified.delete(verified.keys().next().value as string);
  verified.set(cacheKey, { claims, validUntil });
  return claims;
}

async function verifyWithJose(ring: KeyRing, token: string, settings: AccessTokenSettings): Promise<Verified> {
  const { payload } = await jwtVerify(
    token,
    (header) => {
      const key = header.kid ? ring.verificationKeys.get(header.kid) : undefined;
      if (!key) throw new Error("unknown kid");
      return key;
    },
    {
      algorithms: [ALG],
      issuer: settings.issuer,
      audience: settings.audience,
      typ: ACCESS_TOKEN_TYPE,
      requiredClaims: ["sub", "tenant_id", "jti", "iat", "exp"],
      maxTokenAge: ACCESS_TOKEN_TTL_SECONDS,
    },
  );
  if (typeof payload.sub !== "string" || typeof payload.tenant_id !== "string" || typeof payload.jti !== "string") {
    throw new Error("malformed claims");
  }
  const validUntil = Math.min(payload.exp as number, (payload.iat as number) + ACCESS_TOKEN_TTL_SECONDS);
  return { claims: { userId: payload.sub, tenantId: payload.tenant_id, jti: payload.jti }, validUntil };
}
