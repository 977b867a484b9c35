import { env } from "cloudflare:test";
import { decodeBase64Url, encodeBase64Url } from "hono/utils/encode";
import { exportJWK, generateKeyPair, importJWK, SignJWT, UnsecuredJWT, type JWK, type JWTPayload } from "jose";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { loadKeyRing, verifyAccessToken } from "../../src/security/jwt";
import { call, expectError, newMember, newTenant, type Session } from "../helpers";

/** Every attack is tried against this authenticated route; the control below proves the forge works. */
const protectedCall = (token: string) => call("GET", "/api/v1/users/me", { token });

const signingJwk = () => JSON.parse(env.JWT_PRIVATE_KEY!) as JWK & { kid: string; x: string };
const now = () => Math.floor(Date.now() / 1000);

let victim: Session;

function claimsFor(session: Session, overrides: JWTPayload = {}): JWTPayload {
  return {
    iss: env.JWT_ISSUER,
    aud: env.JWT_AUDIENCE,
    sub: session.userId,
    tenant_id: session.tenantId,
    email: session.email,
    role: "Owner",
    iat: now(),
    exp: now() + 900,
    jti: crypto.randomUUID(),
    ...overrides,
  };
}

/** Signs like the server does (EdDSA, its key, at+jwt) unless told otherwise. */
async function forge(claims: JWTPayload, header: Record<string, unknown> = {}, jwk: JWK = signingJwk()): Promise<string> {
  const key = await importJWK(jwk, "EdDSA");
  return new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", kid: jwk.kid, typ: "at+jwt", ...header }).sign(key);
}

const utf8 = new TextEncoder();
const b64url = (value: string | Uint8Array) => encodeBase64Url((typeof value === "string" ? utf8.encode(value) : value).buffer as ArrayBuffer).replace(/=+$/, "");

beforeAll(async () => {
  victim = await newTenant("jwt-attacks");
});

describe("JWT attack set: every forged or defective token is 401 UNAUTHORIZED", () => {
  it("control: a correctly forged token with the server's key is accepted (so the 401s below are meaningful)", async () => {
    const response = await protectedCall(await forge(claimsFor(victim)));
    expect(response.status, response.text).toBe(200);
    expect(response.body.id).toBe(victim.userId);
  });

  it("alg: none (unsecured JWT), with and without the server's kid", async () => {
    const unsecured = new UnsecuredJWT(claimsFor(victim)).encode();
    expect(unsecured.endsWith(".")).toBe(true);
    expectError(await protectedCall(unsecured), 401, "UNAUTHORIZED");
    const withKid = `${b64url(JSON.stringify({ alg: "none", typ: "at+jwt", kid: signingJwk().kid }))}.${b64url(JSON.stringify(claimsFor(victim)))}.`;
    expectError(await protectedCall(withKid), 401, "UNAUTHORIZED");
  });

  it("HS256 signed with the public key as the HMAC secret (algorithm confusion)", async () => {
    const jwk = signingJwk();
    const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid: jwk.kid };
    const secrets = [decodeBase64Url(jwk.x), utf8.encode(JSON.stringify(publicJwk)), utf8.encode(jwk.x)];
    for (const secret of secrets) {
      const token = await new SignJWT(claimsFor(victim)).setProtectedHeader({ alg: "HS256", kid: jwk.kid, typ: "at+jwt" }).sign(secret);
      expectError(await protectedCall(token), 401, "UNAUTHORIZED");
    }
  });

  it("expired (exp in the past)", async () => {
    const token = await forge(claimsFor(victim, { iat: now() - 3600, exp: now() - 60 }));
    expectError(await protectedCall(token), 401, "UNAUTHORIZED");
  });

  it("issued longer ago than an access token lives, even with a far exp", async () => {
    const token = await forge(claimsFor(victim, { iat: now() - 3600, exp: now() + 3600 }));
    expectError(await protectedCall(token), 401, "UNAUTHORIZED");
  });

  it("not yet valid: iat in the future", async () => {
    const token = await forge(claimsFor(victim, { iat: now() + 600, exp: now() + 1500 }));
    expectError(await protectedCall(token), 401, "UNAUTHORIZED");
  });

  it("not yet valid: nbf in the future", async () => {
    const token = await forge(claimsFor(victim, { nbf: now() + 600 }));
    expectError(await protectedCall(token), 401, "UNAUTHORIZED");
  });

  it("wrong iss", async () => {
    expectError(await protectedCall(await forge(claimsFor(victim, { iss: "https://evil.example" }))), 401, "UNAUTHORIZED");
  });

  it("wrong aud", async () => {
    expectError(await protectedCall(await forge(claimsFor(victim, { aud: "some-other-api" }))), 401, "UNAUTHORIZED");
  });

  it("wrong or missing typ (e.g. an ID token or a generic JWT)", async () => {
    expectError(await protectedCall(await forge(claimsFor(victim), { typ: "JWT" })), 401, "UNAUTHORIZED");
    expectError(await protectedCall(await forge(claimsFor(victim), { typ: undefined })), 401, "UNAUTHORIZED");
  });

  it("missing required claims (jti, tenant_id, exp)", async () => {
    for (const missing of ["jti", "tenant_id", "exp"]) {
      const claims = claimsFor(victim);
      delete claims[missing];
      expectError(await protectedCall(await forge(claims)), 401, "UNAUTHORIZED");
    }
  });

  it("tampered payload: a real token with sub, role or tenant_id rewritten", async () => {
    const member = await newMember(victim, "Viewer");
    const [header, payload, signature] = member.token.split(".") as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(decodeBase64Url(payload)));
    for (const change of [{ sub: victim.userId }, { role: "Owner" }, { tenant_id: crypto.randomUUID() }]) {
      const tampered = `${header}.${b64url(JSON.stringify({ ...claims, ...change }))}.${signature}`;
      expectError(await protectedCall(tampered), 401, "UNAUTHORIZED");
    }
    // the untouched token works, so the refusals are the tampering's doing
    expect((await protectedCall(member.token)).status).toBe(200);
  });

  it("unknown kid, missing kid, and a valid signature by a key the server does not know", async () => {
    expectError(await protectedCall(await forge(claimsFor(victim), { kid: "no-such-key" })), 401, "UNAUTHORIZED");
    expectError(await protectedCall(await forge(claimsFor(victim), { kid: undefined })), 401, "UNAUTHORIZED");
    const { privateKey } = await generateKeyPair("Ed25519", { extractable: true });
    const attackerJwk = { ...(await exportJWK(privateKey)), kid: signingJwk().kid };
    expectError(await protectedCall(await forge(claimsFor(victim), {}, attackerJwk)), 401, "UNAUTHORIZED");
  });

  it("a token whose user has been deleted", async () => {
    const member = await newMember(victim, "Developer");
    expect((await protectedCall(member.token)).status).toBe(200);
    await env.DB.prepare("DELETE FROM memberships WHERE account_id = ?").bind(member.userId).run();
    expectError(await protectedCall(member.token), 401, "UNAUTHORIZED");
  });

  it("a validly signed token naming a user of another tenant in tenant_id", async () => {
    const other = await newTenant("jwt-attacks-other");
    expectError(await protectedCall(await forge(claimsFor(victim, { tenant_id: other.tenantId }))), 401, "UNAUTHORIZED");
  });

  it("garbage in the Authorization header", async () => {
    for (const value of ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", `Bearer ${victim.token}.extra`, `Token ${victim.token}`]) {
      expectError(await call("GET", "/api/v1/users/me", { headers: { Authorization: value } }), 401, "UNAUTHORIZED");
    }
  });

  it("all refusals share one body: the response never says which check failed", async () => {
    const bodies = new Set<string>();
    for (const token of [
      new UnsecuredJWT(claimsFor(victim)).encode(),
      await forge(claimsFor(victim, { iss: "x" })),
      await forge(claimsFor(victim), { kid: "nope" }),
      await forge(claimsFor(victim, { exp: now() - 60, iat: now() - 120 })),
    ]) {
      bodies.add((await protectedCall(token)).text);
    }
    expect(bodies.size).toBe(1);
  });
});

describe("verified tokens kept per isolate (one signature check per token): time and keys still decide", () => {
  it("a token accepted on an earlier request is refused once it expires, and once it is older than an access token lives", async () => {
    const shortLived = await forge(claimsFor(victim, { iat: now(), exp: now() + 60 }));
    const longExp = await forge(claimsFor(victim, { iat: now(), exp: now() + 3600 }));
    expect((await protectedCall(shortLived)).status).toBe(200);
    expect((await protectedCall(longExp)).status).toBe(200);
    const start = Date.now();
    try {
      vi.setSystemTime(start + 59_000);
      expect((await protectedCall(shortLived)).status).toBe(200);
      vi.setSystemTime(start + 61_000);
      expectError(await protectedCall(shortLived), 401, "UNAUTHORIZED");
      expect((await protectedCall(longExp)).status).toBe(200);
      vi.setSystemTime(start + 901_000);
      expectError(await protectedCall(longExp), 401, "UNAUTHORIZED");
    } finally {
      vi.useRealTimers();
    }
  });

  it("a token accepted under one key ring is refused by a ring that no longer holds its key", async () => {
    const token = victim.token;
    const settings = { issuer: env.JWT_ISSUER!, audience: env.JWT_AUDIENCE! };
    const current = await loadKeyRing(env.JWT_PRIVATE_KEY!);
    await expect(verifyAccessToken(current, token, settings)).resolves.toMatchObject({ userId: victim.userId });
    // The key rotated out: JWT_PRIVATE_KEY is another key and the old one is not among the previous keys.
    const { privateKey } = await generateKeyPair("EdDSA", { extractable: true });
    const rotated = await loadKeyRing(JSON.stringify({ ...(await exportJWK(privateKey)), kid: "rotated" }));
    await expect(verifyAccessToken(rotated, token, settings)).rejects.toThrow();
    // Another audience is another check, even for the token just accepted.
    await expect(verifyAccessToken(current, token, { ...settings, audience: "someone-else" })).rejects.toThrow();
  });
});
