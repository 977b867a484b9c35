import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, expectError, PASSWORD, randomIp, unique, uniqueEmail } from "../helpers";

const signup = (body: unknown, ip?: string) => call("POST", "/api/v1/tenants", { body, ip });

describe("POST /api/v1/tenants", () => {
  it("creates the tenant and its Owner (201)", async () => {
    const name = unique("Initech");
    const email = uniqueEmail("Owner").toUpperCase();
    const response = await signup({ name: `  ${name} `, adminEmail: email, adminPassword: PASSWORD });
    expect(response.status, response.text).toBe(201);
    expect(Object.keys(response.body)).toEqual(["tenantId", "tenantName", "tenantCreatedAt", "adminUserId", "adminEmail", "adminRole", "adminCreatedAt"]);
    expect(response.body).toMatchObject({ tenantName: name, adminEmail: email.toLowerCase(), adminRole: "Owner" });
    expect(response.body.tenantCreatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const owner = await env.DB.prepare("SELECT role, status, tenant_id FROM memberships WHERE account_id = ?").bind(response.body.adminUserId).first();
    expect(owner).toEqual({ role: "Owner", status: "Active", tenant_id: response.body.tenantId });
  });

  it.each([
    ["missing name", { adminEmail: "a@b.test", adminPassword: PASSWORD }, "name"],
    ["blank name", { name: "   ", adminEmail: "a@b.test", adminPassword: PASSWORD }, "name"],
    ["long name", { name: "x".repeat(101), adminEmail: "a@b.test", adminPassword: PASSWORD }, "name"],
    ["bad email", { name: "n", adminEmail: "not-an-email", adminPassword: PASSWORD }, "adminEmail"],
    ["long email", { name: "n", adminEmail: `${"a".repeat(250)}@b.test`, adminPassword: PASSWORD }, "adminEmail"],
    ["short password", { name: "n", adminEmail: "a@b.test", adminPassword: "short" }, "adminPassword"],
    ["long password", { name: "n", adminEmail: "a@b.test", adminPassword: "p".repeat(257) }, "adminPassword"],
    ["wrong types", { name: 42, adminEmail: ["a@b.test"], adminPassword: null }, "name"],
  ])("rejects %s (400 with field errors)", async (_label, body, field) => {
    const error = expectError(await signup(body), 400, "VALIDATION_ERROR");
    expect(Object.keys(error.details.fields)).toContain(field);
  });

  it("409 TENANT_NAME_TAKEN, case-insensitively, and writes nothing", async () => {
    const name = unique("Globex");
    expect((await signup({ name, adminEmail: uniqueEmail(), adminPassword: PASSWORD })).status).toBe(201);
    const email = uniqueEmail();
    expectError(await signup({ name: name.toUpperCase(), adminEmail: email, adminPassword: PASSWORD }), 409, "TENANT_NAME_TAKEN");
    expect(await env.DB.prepare("SELECT id FROM accounts WHERE email = ?").bind(email).first()).toBeNull();
  });

  it("409 EMAIL_TAKEN when the Owner's email exists anywhere, and creates no tenant", async () => {
    const email = uniqueEmail();
    expect((await signup({ name: unique("a"), adminEmail: email, adminPassword: PASSWORD })).status).toBe(201);
    const name = unique("b");
    expectError(await signup({ name, adminEmail: email.toUpperCase(), adminPassword: PASSWORD }), 409, "EMAIL_TAKEN");
    expect(await env.DB.prepare("SELECT id FROM tenants WHERE name = ?").bind(name).first()).toBeNull();
  });

  it("concurrent signups with one name create exactly one tenant", async () => {
    const name = unique("race");
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => signup({ name, adminEmail: uniqueEmail(), adminPassword: PASSWORD })),
    );
    expect(responses.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);
    const { count } = (await env.DB.prepare("SELECT COUNT(*) AS count FROM tenants WHERE name = ?").bind(name).first<{ count: number }>())!;
    expect(count).toBe(1);
  });

  it("429 above 5 signups per client IP per hour, with Retry-After and RateLimit headers", async () => {
    const ip = randomIp();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      // Invalid bodies count too: the limit is on attempts.
      const response = await signup({ name: unique("limit"), adminEmail: i % 2 ? uniqueEmail() : "bad", adminPassword: PASSWORD }, ip);
      statuses.push(response.status);
      if (i < 5) expect(response.headers.get("RateLimit")).toBe(`"tenant-signup";r=${4 - i};t=3600`);
      if (i === 5) {
        expectError(response, 429, "RATE_LIMITED");
        expect(Number(response.headers.get("Retry-After"))).toBeGreaterThan(3590);
        expect(response.headers.get("RateLimit-Policy")).toBe(`"tenant-signup";q=5;w=3600`);
      }
    }
    expect(statuses).toEqual([400, 201, 400, 201, 400, 429]);
    expect((await signup({ name: unique("other-ip"), adminEmail: uniqueEmail(), adminPassword: PASSWORD })).status).toBe(201);
  });
});
