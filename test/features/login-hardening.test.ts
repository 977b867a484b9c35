import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { DUMMY_PASSWORD_HASH, hashPassword, loadPepperRing, parsePhc, PBKDF2_ITERATIONS } from "../../src/security/passwords";
import { call, expectError, newMember, newTenant, PASSWORD, randomIp, uniqueEmail } from "../helpers";

const LIMIT = 10;

/** An address in another /24 than `ip` (10.a.b.c → 10.a.b±1.c). */
const otherNetwork = (ip: string) => {
  const [a, b, c, d] = ip.split(".").map(Number) as [number, number, number, number];
  return `${a}.${b}.${(c + 1) % 256}.${d}`;
};
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
    await env.DB.prepare("UPDATE memberships SET status = 'Inactive' WHERE account_id = ?").bind(member.userId).run();
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

  it(`the lockout cannot be aimed: ${LIMIT} wrong passwords for an email from one IP block that network, not the owner elsewhere`, async () => {
    const owner = await newTenant();
    const attacker = randomIp();
    for (let i = 0; i < LIMIT; i++) expectError(await attempt(owner.email, `wrong password ${i}`, attacker), 401, "INVALID_CREDENTIALS");
    expectLoginLimited(await attempt(owner.email, PASSWORD, attacker));
    // the right password from another network still signs in (today's main answered 429, Retry-After: 300)
    const elsewhere = await attempt(owner.email, PASSWORD, otherNetwork(attacker));
    expect(elsewhere.status, elsewhere.text).toBe(200);
  });

  it(`${LIMIT} failures for one email from addresses of one /24 block the whole /24 for that email (and case or spaces do not dodge it)`, async () => {
    const owner = await newTenant();
    const member = await newMember(owner, "Developer");
    const net = randomIp().split(".").slice(0, 3).join(".");
    for (let i = 0; i < LIMIT; i++) expectError(await attempt(member.email, `wrong password ${i}`, `${net}.${i + 1}`), 401, "INVALID_CREDENTIALS");
    // a fresh address of that /24 (its own per-IP window is empty) is refused for this email
    const refused = expectError(await attempt(member.email, PASSWORD, `${net}.200`), 429, "RATE_LIMITED");
    expect(refused.details).toMatchObject({ policy: "login-failures-email", limit: LIMIT, windowSeconds: 300 });
    expectLoginLimited(await attempt(` ${member.email.toUpperCase()} `, PASSWORD, `${net}.201`));
    // ... but not for another account, nor for this one from the next /24
    expect((await attempt(owner.email, PASSWORD, `${net}.200`)).status).toBe(200);
    expect((await attempt(member.email, PASSWORD, otherNetwork(`${net}.1`))).status).toBe(200);
  });

  it(`IPv6: ${LIMIT} failures for one email from one /64 block that /64 for it, not the neighbouring /64`, async () => {
    const owner = await newTenant();
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:${Math.floor(Math.random() * 0xfff0).toString(16)}`;
    for (let i = 0; i < LIMIT; i++) expectError(await attempt(owner.email, "wrong password", `${prefix}::${(i + 1).toString(16)}`), 401, "INVALID_CREDENTIALS");
    expectLoginLimited(await attempt(owner.email, PASSWORD, `${prefix}:ffff:ffff:ffff:ffff`));
    expect((await attempt(owner.email, PASSWORD, `${prefix.replace(/:[0-9a-f]+$/, ":fff1")}::1`)).status).toBe(200);
  });

  it("a per-email ceiling caps guessing spread over many networks (LOGIN_FAILURES_PER_HOUR_PER_EMAIL)", async () => {
    expect(Number(env.LOGIN_FAILURES_PER_HOUR_PER_EMAIL)).toBe(100);
    const ceiling = 4;
    const vars = { LOGIN_FAILURES_PER_HOUR_PER_EMAIL: String(ceiling) };
    const owner = await newTenant();
    const send = (password: string) => call("POST", "/api/v1/auth/login", { body: { email: owner.email, password }, vars });
    for (let i = 0; i < ceiling; i++) expectError(await send(`guess ${i}`), 401, "INVALID_CREDENTIALS");
    // every request comes from a new /24, yet the next one is refused, the right password included
    const refused = await send(PASSWORD);
    expect(expectError(refused, 429, "RATE_LIMITED").details).toMatchObject({ policy: "login-failures-email-total", limit: ceiling, windowSeconds: 3600 });
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(3500);
    // at the default ceiling the same account is open: the figure is what a distributed guesser gets per hour
    expect((await attempt(owner.email, PASSWORD)).status).toBe(200);
  });

  it("failed and successful logins carry RateLimit headers for the client's own windows", async () => {
    const owner = await newTenant();
    const ip = randomIp();
    const failed = await attempt(owner.email, "wrong password", ip);
    expectError(failed, 401, "INVALID_CREDENTIALS");
    expect(failed.headers.get("RateLimit-Policy")).toBe(`"login-failures";q=${LIMIT};w=300, "login-failures-email";q=${LIMIT};w=300`);
    expect(failed.headers.get("RateLimit")).toBe(`"login-failures";r=${LIMIT - 1};t=300, "login-failures-email";r=${LIMIT - 1};t=300`);
    const ok = await attempt(owner.email, PASSWORD, ip);
    expect(ok.status).toBe(200);
    const [perIp, perEmail] = [Number(env.LOGIN_SUCCESSES_PER_HOUR_PER_IP), Number(env.LOGIN_SUCCESSES_PER_HOUR_PER_EMAIL)];
    expect(ok.headers.get("RateLimit-Policy")).toBe(`"login-successes";q=${perIp};w=3600, "login-successes-email";q=${perEmail};w=3600`);
    // newTenant's own login was the email's first success
    expect(ok.headers.get("RateLimit")).toBe(`"login-successes";r=${perIp - 1};t=3600, "login-successes-email";r=${perEmail - 2};t=3600`);
  });

  it("successful logins are limited per email (LOGIN_SUCCESSES_PER_HOUR_PER_EMAIL): the next right password is 429", async () => {
    const vars = { LOGIN_SUCCESSES_PER_HOUR_PER_EMAIL: "3" };
    const owner = await newTenant(); // its sign-in was the first success
    const send = (password: string) => call("POST", "/api/v1/auth/login", { body: { email: owner.email, password }, vars });
    for (let i = 0; i < 2; i++) expect((await send(PASSWORD)).status).toBe(200);
    const refused = await send(PASSWORD);
    expect(expectError(refused, 429, "RATE_LIMITED").details).toMatchObject({ policy: "login-successes-email", limit: 3, windowSeconds: 3600 });
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(3500);
    // no refresh family was written for the refused login
    const families = await env.DB.prepare("SELECT COUNT(DISTINCT family_id) AS n FROM refresh_tokens WHERE account_id = ?").bind(owner.userId).first<{ n: number }>();
    expect(families!.n).toBe(3);
    // a wrong password is still just wrong
    expectError(await send("wrong password"), 401, "INVALID_CREDENTIALS");
  });

  it("successful logins are limited per client IP (LOGIN_SUCCESSES_PER_HOUR_PER_IP), across accounts", async () => {
    const vars = { LOGIN_SUCCESSES_PER_HOUR_PER_IP: "2" };
    const owner = await newTenant();
    const [a, b] = [await newMember(owner, "Viewer"), await newMember(owner, "Developer")];
    const ip = randomIp();
    const send = (email: string, from = ip) => call("POST", "/api/v1/auth/login", { body: { email, password: PASSWORD }, ip: from, vars });
    expect((await send(owner.email)).status).toBe(200);
    expect((await send(a.email)).status).toBe(200);
    const refused = await send(b.email);
    expect(expectError(refused, 429, "RATE_LIMITED").details).toMatchObject({ policy: "login-successes", limit: 2 });
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect((await send(b.email, randomIp())).status).toBe(200);
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
    const legacy = await hashPassword(PASSWORD, await loadPepperRing(env.PASSWORD_PEPPER), 1000);
    expect(legacy).toMatch(/^\$pbkdf2-sha256\$i=1000,l=32,p=[0-9a-f]{8}\$/);
    await env.DB.prepare("UPDATE accounts SET password_hash = ? WHERE id = ?").bind(legacy, owner.userId).run();

    expect((await attempt(owner.email, PASSWORD)).status).toBe(200);
    const row = await env.DB.prepare("SELECT password_hash FROM accounts WHERE id = ?").bind(owner.userId).first<{ password_hash: string }>();
    expect(row!.password_hash).toMatch(new RegExp(`^\\$pbkdf2-sha256\\$i=${PBKDF2_ITERATIONS},l=32,p=[0-9a-f]{8}\\$`));
    expect(PBKDF2_ITERATIONS).toBe(100_000);
    expect(row!.password_hash).not.toBe(legacy);
    // the new hash verifies the same password, and is not rewritten again
    expect((await attempt(owner.email, PASSWORD)).status).toBe(200);
    const again = await env.DB.prepare("SELECT password_hash FROM accounts WHERE id = ?").bind(owner.userId).first<{ password_hash: string }>();
    expect(again!.password_hash).toBe(row!.password_hash);
  });

  it("a wrong password against a legacy hash does not rehash", async () => {
    const owner = await newTenant();
    const legacy = await hashPassword(PASSWORD, await loadPepperRing(env.PASSWORD_PEPPER), 1000);
    await env.DB.prepare("UPDATE accounts SET password_hash = ? WHERE id = ?").bind(legacy, owner.userId).run();
    expectError(await attempt(owner.email, "wrong password"), 401, "INVALID_CREDENTIALS");
    const row = await env.DB.prepare("SELECT password_hash FROM accounts WHERE id = ?").bind(owner.userId).first<{ password_hash: string }>();
    expect(row!.password_hash).toBe(legacy);
  });
});
