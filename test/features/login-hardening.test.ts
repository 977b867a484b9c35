import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { DUMMY_PASSWORD_HASH, hashPassword, parsePhc, PBKDF2_ITERATIONS } from "../../src/security/passwords";
import { call, expectError, newMember, newTenant, PASSWORD, randomIp, uniqueEmail } from "../helpers";

const LIMIT = 10;
const attempt = (email: string, password: string, ip = randomIp()) => call("POST", "/api/v1/auth/login", { body: { email, password }, ip });

function expectLoginLimited(response: Awaited<ReturnType<typeof attempt>>) {
  expectError(response, 429, "RATE_LIMITED");
  const retryAfter = Number(response.headers.get("Retry-After"));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(300);
}

describe("login hardening", () => {
  it("unknown email, wrong password and inactive user get byte-identical 401 bodies", async () => {
    const owner = await newTenant();
    const member = await newMember(owner, "Viewer");
    await env.DB.prepare("UPDATE users SET status = 'Inactive' WHERE id = ?").bind(member.userId).run();
    const responses = [
      await attempt(uniqueEmail("nobody"), PASSWORD),
      await attempt(owner.email, "not the password"),
      await attempt(member.email, PASSWORD),
    ];
    for (const response of responses) expectError(response, 401, "INVALID_CREDENTIALS");
    expect(new Set(responses.map((r) => r.text)).size).toBe(1);
    expect(new Set(responses.map((r) => r.headers.get("Content-Type"))).size).toBe(1);
  });

  it("an unknown email costs the same PBKDF2 work as a known one (the dummy hash uses current parameters)", () => {
    const dummy = parsePhc(DUMMY_PASSWORD_HASH);
    expect(dummy).not.toBeNull();
    expect(dummy!.iterations).toBe(PBKDF2_ITERATIONS);
    expect(dummy!.keyLength).toBe(32);
    expect(dummy!.salt.byteLength).toBe(16);
    expect(dummy!.hash.byteLength).toBe(32);
  });

  it(`429 with Retry-After after ${LIMIT} failures from one IP, across different emails`, async () => {
    const owner = await newTenant();
    const ip = randomIp();
    for (let i = 0; i < LIMIT; i++) {
      expectError(await attempt(uniqueEmail(`spray-${i}`), "wrong password", ip), 401, "INVALID_CREDENTIALS");
    }
    // the 11th attempt is refused before the password is checked, even with correct credentials
    expectLoginLimited(await attempt(owner.email, PASSWORD, ip));
    // other clients are unaffected
    expect((await attempt(owner.email, PASSWORD)).status).toBe(200);
  });

  it(`429 with Retry-After after ${LIMIT} failures for one email, from different IPs`, async () => {
    const owner = await newTenant();
    const member = await newMember(owner, "Developer");
    for (let i = 0; i < LIMIT; i++) {
      expectError(await attempt(member.email, `wrong password ${i}`), 401, "INVALID_CREDENTIALS");
    }
    expectLoginLimited(await attempt(member.email, PASSWORD));
    // the limit is per normalized email: case and surrounding spaces do not dodge it
    expectLoginLimited(await attempt(` ${member.email.toUpperCase()} `, PASSWORD));
    // other accounts are unaffected
    expect((await attempt(owner.email, PASSWORD)).status).toBe(200);
  });

  it("successful logins do not count towards the limit", async () => {
    const owner = await newTenant();
    const ip = randomIp();
    for (let i = 0; i < LIMIT - 1; i++) expectError(await attempt(owner.email, "wrong password", ip), 401, "INVALID_CREDENTIALS");
    for (let i = 0; i < 3; i++) expect((await attempt(owner.email, PASSWORD, ip)).status).toBe(200);
    // the 10th failure is still answered normally, the 11th attempt is refused
    expectError(await attempt(owner.email, "wrong password", ip), 401, "INVALID_CREDENTIALS");
    expectLoginLimited(await attempt(owner.email, PASSWORD, ip));
  });

  it("rehashes on login when the stored PBKDF2 iterations are below the current count", async () => {
    const owner = await newTenant();
    const legacy = await hashPassword(PASSWORD, env.PASSWORD_PEPPER, 1000);
    expect(legacy).toMatch(/^\$pbkdf2-sha256\$i=1000,l=32\$/);
    await env.DB.prepare("UPDATE users SET password_hash = ? WHERE id = ?").bind(legacy, owner.userId).run();

    expect((await attempt(owner.email, PASSWORD)).status).toBe(200);
    const row = await env.DB.prepare("SELECT password_hash FROM users WHERE id = ?").bind(owner.userId).first<{ password_hash: string }>();
    expect(row!.password_hash).toMatch(new RegExp(`^\\$pbkdf2-sha256\\$i=${PBKDF2_ITERATIONS},l=32\\$`));
    expect(PBKDF2_ITERATIONS).toBe(100_000);
    expect(row!.password_hash).not.toBe(legacy);
    // the new hash verifies the same password, and is not rewritten again
    expect((await attempt(owner.email, PASSWORD)).status).toBe(200);
    const again = await env.DB.prepare("SELECT password_hash FROM users WHERE id = ?").bind(owner.userId).first<{ password_hash: string }>();
    expect(again!.password_hash).toBe(row!.password_hash);
  });

  it("a wrong password against a legacy hash does not rehash", async () => {
    const owner = await newTenant();
    const legacy = await hashPassword(PASSWORD, env.PASSWORD_PEPPER, 1000);
    await env.DB.prepare("UPDATE users SET password_hash = ? WHERE id = ?").bind(legacy, owner.userId).run();
    expectError(await attempt(owner.email, "wrong password"), 401, "INVALID_CREDENTIALS");
    const row = await env.DB.prepare("SELECT password_hash FROM users WHERE id = ?").bind(owner.userId).first<{ password_hash: string }>();
    expect(row!.password_hash).toBe(legacy);
  });
});
