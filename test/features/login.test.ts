import { env } from "cloudflare:test";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import { call, expectError, newMember, newTenant, PASSWORD } from "../helpers";

describe("POST /api/v1/auth/login", () => {
  it("200 with an EdDSA at+jwt access token (15 min) and an opaque refresh token", async () => {
    const owner = await newTenant();
    const response = await call("POST", "/api/v1/auth/login", { body: { email: owner.email.toUpperCase(), password: PASSWORD } });
    expect(response.status, response.text).toBe(200);
    expect(Object.keys(response.body)).toEqual(["accessToken", "tokenType", "expiresIn", "expiresAt", "refreshToken", "tenantId", "tenants"]);
    expect(response.body.tenantId).toBe(owner.tenantId);
    expect(response.body.tenants).toEqual([{ tenantId: owner.tenantId, tenantName: owner.tenantName, role: "Owner" }]);
    expect(response.body).toMatchObject({ tokenType: "Bearer", expiresIn: 900 });
    expect(response.body.refreshToken).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    const header = decodeProtectedHeader(response.body.accessToken);
    expect(header).toEqual({ alg: "EdDSA", typ: "at+jwt", kid: JSON.parse(env.JWT_PRIVATE_KEY!).kid });
    const claims = decodeJwt(response.body.accessToken);
    expect(claims).toMatchObject({ sub: owner.userId, tenant_id: owner.tenantId, email: owner.email, role: "Owner", iss: env.JWT_ISSUER, aud: env.JWT_AUDIENCE });
    expect(claims.exp! - claims.iat!).toBe(900);
    expect(typeof claims.jti).toBe("string");
    expect(Date.parse(response.body.expiresAt)).toBe(claims.exp! * 1000);
  });

  it("stores the refresh token only as a SHA-256 hash", async () => {
    const owner = await newTenant();
    const rows = await env.DB.prepare("SELECT token_hash FROM refresh_tokens WHERE account_id = ?").bind(owner.userId).all<{ token_hash: string }>();
    expect(rows.results).toHaveLength(1);
    expect(rows.results[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows.results)).not.toContain(owner.refreshToken);
  });

  it("401 INVALID_CREDENTIALS for unknown email, wrong password and inactive user alike", async () => {
    const owner = await newTenant();
    const member = await newMember(owner, "Developer");
    await env.DB.prepare("UPDATE memberships SET status = 'Inactive' WHERE account_id = ?").bind(member.userId).run();
    const bodies = [];
    for (const body of [
      { email: "nobody-at-all@example.test", password: PASSWORD },
      { email: owner.email, password: "wrong password!" },
      { email: member.email, password: PASSWORD },
    ]) {
      bodies.push(expectError(await call("POST", "/api/v1/auth/login", { body }), 401, "INVALID_CREDENTIALS"));
    }
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
  });

  it("400 for malformed input", async () => {
    expectError(await call("POST", "/api/v1/auth/login", { body: { email: "nope", password: PASSWORD } }), 400, "VALIDATION_ERROR");
    expectError(await call("POST", "/api/v1/auth/login", { body: { email: "a@b.test" } }), 400, "VALIDATION_ERROR");
  });

  it("429 after 10 failed attempts from one IP within 5 minutes", async () => {
    const owner = await newTenant();
    const ip = "10.250.0.1";
    for (let i = 0; i < 10; i++) {
      expectError(await call("POST", "/api/v1/auth/login", { body: { email: owner.email, password: `wrong-${i}-password` }, ip }), 401, "INVALID_CREDENTIALS");
    }
    const refused = await call("POST", "/api/v1/auth/login", { body: { email: owner.email, password: PASSWORD }, ip: "10.250.0.1" });
    expectError(refused, 429, "RATE_LIMITED");
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(Number(refused.headers.get("Retry-After"))).toBeLessThanOrEqual(300);
  });
});
