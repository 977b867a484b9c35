import { env } from "cloudflare:test";
import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, type JWK } from "jose";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { BASE, call, expectError, newTenant, PASSWORD, randomIp } from "../helpers";

const currentJwk = () => JSON.parse(env.JWT_PRIVATE_KEY!) as JWK & { kid: string };

async function newSigningKey(kid: string): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair("Ed25519", { extractable: true });
  return { privateJwk: { ...(await exportJWK(privateKey)), kid }, publicJwk: { ...(await exportJWK(publicKey)), kid } };
}

const publicOf = ({ d: _d, ...rest }: JWK) => rest;

/** The app as deployed with different secrets: same D1 and Durable Objects, other key configuration. */
async function callWith(overrides: Partial<Cloudflare.Env>, method: string, path: string, options: { token?: string; body?: unknown } = {}) {
  const headers = new Headers({ "CF-Connecting-IP": randomIp() });
  if (options.token) headers.set("Authorization", `Bearer ${options.token}`);
  if (options.body !== undefined) headers.set("Content-Type", "application/json");
  const response = await app.request(
    `${BASE}${path}`,
    { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) },
    { ...env, ...overrides },
  );
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: text ? JSON.parse(text) : undefined };
}

describe("GET /.well-known/jwks.json", () => {
  it("serves the public signing key only, cacheable, at the site root", async () => {
    const response = await call("GET", "/.well-known/jwks.json");
    expect(response.status, response.text).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(response.headers.get("Cache-Control")).toBe("public, max-age=300");
    const jwk = currentJwk();
    expect(response.body).toEqual({ keys: [{ kty: "OKP", crv: "Ed25519", x: jwk.x, kid: jwk.kid, alg: "EdDSA", use: "sig" }] });
    expect(response.text).not.toContain(jwk.d);
    expect(response.text).not.toContain('"d"');

    expectError(await call("GET", "/api/v1/.well-known/jwks.json"), 404, "NOT_FOUND");
    expectError(await call("POST", "/.well-known/jwks.json", { body: {} }), 405, "METHOD_NOT_ALLOWED");
  });

  it("lets another service verify an access token offline", async () => {
    const owner = await newTenant();
    const jwks = createLocalJWKSet((await call("GET", "/.well-known/jwks.json")).body);
    const { payload } = await jwtVerify(owner.token, jwks, { issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE, typ: "at+jwt", algorithms: ["EdDSA"] });
    expect(payload).toMatchObject({ sub: owner.userId, tenant_id: owner.tenantId });
  });

  it("never publishes a private part, even when a private JWK is (wrongly) configured as a previous key", async () => {
    const old = await newSigningKey("misconfigured-old");
    const response = await callWith({ JWT_PREVIOUS_PUBLIC_KEYS: JSON.stringify([old.privateJwk]) }, "GET", "/.well-known/jwks.json");
    expect(response.status, response.text).toBe(200);
    expect(response.body.keys.map((k: JWK) => k.kid)).toEqual([currentJwk().kid, "misconfigured-old"]);
    for (const key of response.body.keys) expect(Object.keys(key).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x"]);
    expect(response.text).not.toContain(old.privateJwk.d as string);
  });

  it.each([
    ["not JSON", "[{oops", /JWT_PREVIOUS_PUBLIC_KEYS is not valid JSON/],
    ["not an array", JSON.stringify({ kty: "OKP" }), /JWT_PREVIOUS_PUBLIC_KEYS must be a JSON array/],
    ["a key without kid", JSON.stringify([{ kty: "OKP", crv: "Ed25519", x: "AAAA" }]), /must carry a "kid"/],
    ["an RSA key", JSON.stringify([{ kty: "RSA", n: "AQAB", e: "AQAB", kid: "r" }]), /must be an Ed25519/],
    ["another key under the current kid", "DUPLICATE", /names two different keys/],
  ])("a malformed JWT_PREVIOUS_PUBLIC_KEYS (%s) is a 500 naming the problem, not a silent default", async (_label, value, message) => {
    const configured = value === "DUPLICATE" ? JSON.stringify([{ ...(await newSigningKey(currentJwk().kid)).publicJwk }]) : value;
    const response = await callWith({ JWT_PREVIOUS_PUBLIC_KEYS: configured }, "GET", "/.well-known/jwks.json");
    expect(response.status).toBe(500);
    expect(response.body).toMatchObject({ code: "INTERNAL_ERROR", statusCode: 500 });
    expect(response.body.message).toMatch(message);
  });
});

describe("signing key rotation", () => {
  it("the current key may also be listed as a previous key (mid-rotation); it is published once", async () => {
    const response = await callWith({ JWT_PREVIOUS_PUBLIC_KEYS: JSON.stringify([publicOf(currentJwk())]) }, "GET", "/.well-known/jwks.json");
    expect(response.status, response.text).toBe(200);
    expect(response.body.keys.map((k: JWK) => k.kid)).toEqual([currentJwk().kid]);
  });

  it("a pre-published next key is served and accepted before it signs anything", async () => {
    const owner = await newTenant();
    const next = await newSigningKey(`next-${crypto.randomUUID().slice(0, 8)}`);
    const prePublished = { JWT_PREVIOUS_PUBLIC_KEYS: JSON.stringify([next.publicJwk]) };
    const jwks = await callWith(prePublished, "GET", "/.well-known/jwks.json");
    expect(jwks.body.keys.map((k: JWK) => k.kid)).toEqual([currentJwk().kid, next.privateJwk.kid]);
    // still signing with the current key, whose tokens keep working
    expect((await callWith(prePublished, "GET", "/api/v1/users/me", { token: owner.token })).status).toBe(200);
  });

  it("a token signed with the old key is still accepted after rotation, until the old key is removed", async () => {
    const owner = await newTenant();
    const oldKid = currentJwk().kid;
    expect(decodeProtectedHeader(owner.token).kid).toBe(oldKid);

    const next = await newSigningKey(`rotated-${crypto.randomUUID().slice(0, 8)}`);
    const rotated = {
      JWT_PRIVATE_KEY: JSON.stringify(next.privateJwk),
      JWT_PREVIOUS_PUBLIC_KEYS: JSON.stringify([publicOf(currentJwk())]),
    };

    // the old token verifies against the retired key
    const before = await callWith(rotated, "GET", "/api/v1/users/me", { token: owner.token });
    expect(before.status, before.text).toBe(200);
    expect(before.body.id).toBe(owner.userId);

    // both keys are published, the new (signing) one first
    const jwks = await callWith(rotated, "GET", "/.well-known/jwks.json");
    expect(jwks.body.keys.map((k: JWK) => k.kid)).toEqual([next.privateJwk.kid, oldKid]);

    // new tokens are signed with the new key and verify
    const signedIn = await callWith(rotated, "POST", "/api/v1/auth/login", { body: { email: owner.email, password: PASSWORD } });
    expect(signedIn.status, signedIn.text).toBe(200);
    expect(decodeProtectedHeader(signedIn.body.accessToken).kid).toBe(next.privateJwk.kid);
    expect((await callWith(rotated, "GET", "/api/v1/users/me", { token: signedIn.body.accessToken })).status).toBe(200);
    // a deployment that does not know the new key refuses its tokens (unknown kid)
    expectError(await call("GET", "/api/v1/users/me", { token: signedIn.body.accessToken }), 401, "UNAUTHORIZED");

    // refresh tokens are opaque: they survive the rotation and yield tokens signed with the new key
    const refreshed = await callWith(rotated, "POST", "/api/v1/auth/refresh", { body: { refreshToken: owner.refreshToken } });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(decodeProtectedHeader(refreshed.body.accessToken).kid).toBe(next.privateJwk.kid);

    // once the retired key ages out of JWT_PREVIOUS_PUBLIC_KEYS, its tokens are refused
    const agedOut = { JWT_PRIVATE_KEY: rotated.JWT_PRIVATE_KEY, JWT_PREVIOUS_PUBLIC_KEYS: "" };
    const after = await callWith(agedOut, "GET", "/api/v1/users/me", { token: owner.token });
    expect(after.status).toBe(401);
    expect(after.body.code).toBe("UNAUTHORIZED");
  });
});

describe("OpenAPI document", () => {
  it("documents the session, key-set and users routes", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    expect(Object.keys(doc.paths["/.well-known/jwks.json"])).toEqual(["get"]);
    expect(doc.paths["/api/v1/auth/refresh"].post.responses).toHaveProperty("401");
    expect(doc.paths["/api/v1/auth/logout"].post.responses).toHaveProperty("204");
    expect(Object.keys(doc.paths["/api/v1/users"])).toEqual(["get"]);
    expect(Object.keys(doc.paths["/api/v1/users/me"]).sort()).toEqual(["delete", "get"]);
    expect(Object.keys(doc.paths["/api/v1/users/me/tenants"])).toEqual(["get"]);
    expect(Object.keys(doc.paths["/api/v1/users/{id}"]).sort()).toEqual(["delete", "get", "patch"]);
    expect(Object.keys(doc.paths["/api/v1/auth/switch-tenant"])).toEqual(["post"]);
    expect(doc.components.schemas.User.required).toEqual(["id", "tenantId", "email", "status", "role", "createdAt", "updatedAt"]);
  });
});
