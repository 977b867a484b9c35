import { env } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { app } from "../../src/app";
import type { Env } from "../../src/env";
import { hashPassword, loadPepperRing, NO_PEPPERS, parsePhc } from "../../src/security/passwords";
import { BASE, expectError, newTenant, PASSWORD, randomIp, type ApiResponse } from "../helpers";

async function send(method: string, path: string, body: unknown, bindings: Env): Promise<ApiResponse> {
  const response = await app.request(
    `${BASE}${path}`,
    { method, headers: { "Content-Type": "application/json", "CF-Connecting-IP": randomIp() }, body: JSON.stringify(body) },
    bindings,
  );
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined, text };
}

const storedHash = async (userId: string) =>
  (await env.DB.prepare("SELECT password_hash FROM accounts WHERE id = ?").bind(userId).first<string>("password_hash"))!;
const setHash = (userId: string, hash: string) => env.DB.prepare("UPDATE accounts SET password_hash = ? WHERE id = ?").bind(hash, userId).run();
const login = (email: string, bindings: Env, password = PASSWORD) => send("POST", "/api/v1/auth/login", { email, password }, bindings);

describe("PASSWORD_PEPPER", () => {
  it("is required outside local development: sign-up, login and register are a 500 naming it, and nothing is written", async () => {
    const production: Env = { ...env, ENVIRONMENT: undefined, PASSWORD_PEPPER: undefined };
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM tenants").first<number>("n");
    const signup = await send("POST", "/api/v1/tenants", { name: `no-pepper-${crypto.randomUUID()}`, adminEmail: `${crypto.randomUUID()}@example.test`, adminPassword: PASSWORD }, production);
    expectError(signup, 500, "INTERNAL_ERROR");
    expect(signup.body.message).toContain("PASSWORD_PEPPER");
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM tenants").first<number>("n")).toBe(before);
    const owner = await newTenant("pepper-required");
    const refused = await login(owner.email, production);
    expectError(refused, 500, "INTERNAL_ERROR");
    expect(refused.body.message).toContain("PASSWORD_PEPPER");
    // Any ENVIRONMENT other than "development" is strict too.
    expect((await login(owner.email, { ...production, ENVIRONMENT: "production" })).status).toBe(500);
    vi.restoreAllMocks();
  });

  it("in local development (ENVIRONMENT=development) it may be absent: hashes then say p=none", async () => {
    const development: Env = { ...env, ENVIRONMENT: "development", PASSWORD_PEPPER: undefined };
    const email = `${crypto.randomUUID()}@example.test`;
    const signup = await send("POST", "/api/v1/tenants", { name: `dev-${crypto.randomUUID()}`, adminEmail: email, adminPassword: PASSWORD }, development);
    expect(signup.status, signup.text).toBe(201);
    expect(parsePhc(await storedHash(signup.body.adminUserId))!.pepperId).toBe("none");
    expect((await login(email, development)).status).toBe(200);
  });

  it("rotates without locking anyone out: a hash under the previous pepper logs in and is rehashed under the new one", async () => {
    const owner = await newTenant("pepper-rotation");
    const oldRing = await loadPepperRing(env.PASSWORD_PEPPER);
    expect(parsePhc(await storedHash(owner.userId))!.pepperId).toBe(oldRing.current!.id);
    const rotated: Env = { ...env, PASSWORD_PEPPER: `new-pepper-${crypto.randomUUID()}`, PASSWORD_PREVIOUS_PEPPERS: env.PASSWORD_PEPPER };
    const newId = (await loadPepperRing(rotated.PASSWORD_PEPPER)).current!.id;

    expectError(await login(owner.email, rotated, "wrong password"), 401, "INVALID_CREDENTIALS");
    expect(parsePhc(await storedHash(owner.userId))!.pepperId).toBe(oldRing.current!.id);
    expect((await login(owner.email, rotated)).status).toBe(200);
    expect(parsePhc(await storedHash(owner.userId))!.pepperId).toBe(newId);

    // The old pepper can now go: this user is on the new one.
    const dropped: Env = { ...env, PASSWORD_PEPPER: rotated.PASSWORD_PEPPER };
    expect((await login(owner.email, dropped)).status).toBe(200);
    // Someone still on the old pepper when it is dropped can no longer sign in (the runbook says when to drop it).
    const straggler = await newTenant("pepper-straggler");
    expectError(await login(straggler.email, dropped), 401, "INVALID_CREDENTIALS");
  });

  it("legacy PHC strings (no p=) keep verifying: under the current pepper, a previous one, or none, and are rehashed with an id", async () => {
    for (const [label, pepper] of [["current", env.PASSWORD_PEPPER], ["none", undefined]] as const) {
      const owner = await newTenant(`legacy-${label}`);
      const legacy = (await hashPassword(PASSWORD, pepper ? await loadPepperRing(pepper) : NO_PEPPERS)).replace(/,p=[^$]+\$/, "$");
      expect(legacy).toMatch(/^\$pbkdf2-sha256\$i=100000,l=32\$/);
      await setHash(owner.userId, legacy);
      expect((await login(owner.email, env)).status, label).toBe(200);
      expect(parsePhc(await storedHash(owner.userId))!.pepperId, label).toBe((await loadPepperRing(env.PASSWORD_PEPPER)).current!.id);
    }
    const owner = await newTenant("legacy-previous");
    await setHash(owner.userId, (await hashPassword(PASSWORD, await loadPepperRing(env.PASSWORD_PEPPER))).replace(/,p=[^$]+\$/, "$"));
    const rotated: Env = { ...env, PASSWORD_PEPPER: `new-pepper-${crypto.randomUUID()}`, PASSWORD_PREVIOUS_PEPPERS: env.PASSWORD_PEPPER };
    expect((await login(owner.email, rotated)).status).toBe(200);
    expect(parsePhc(await storedHash(owner.userId))!.pepperId).toBe((await loadPepperRing(rotated.PASSWORD_PEPPER)).current!.id);
  });
});
