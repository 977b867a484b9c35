import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { env } from "cloudflare:test";
import { call, expectError, newTenant, PASSWORD, uniqueEmail } from "../helpers";

describe("error envelope for everything", () => {
  it("404 NOT_FOUND for unknown routes", async () => {
    expectError(await call("GET", "/api/v1/nothing-here"), 404, "NOT_FOUND");
    expectError(await call("GET", "/"), 404, "NOT_FOUND");
  });

  it("405 METHOD_NOT_ALLOWED with Allow for known paths", async () => {
    const response = await call("PUT", "/api/v1/tenants", { body: {} });
    expectError(response, 405, "METHOD_NOT_ALLOWED");
    expect(response.headers.get("Allow")).toBe("POST");
    const list = await call("PATCH", "/api/v1/invites");
    expectError(list, 405, "METHOD_NOT_ALLOWED");
    expect(list.headers.get("Allow")).toContain("GET");
    expect(list.headers.get("Allow")).toContain("POST");
  });

  it("415 UNSUPPORTED_MEDIA_TYPE for a non-JSON content type", async () => {
    expectError(await call("POST", "/api/v1/tenants", { rawBody: "name=x", headers: { "Content-Type": "application/x-www-form-urlencoded" } }), 415, "UNSUPPORTED_MEDIA_TYPE");
    expectError(await call("POST", "/api/v1/auth/login", { rawBody: '{"email":"a@b.test"}' }), 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it.each([["{not json"], ["[1,2]"], ['"a string"'], ["null"], [""]])("400 VALIDATION_ERROR for body %j", async (raw) => {
    expectError(await call("POST", "/api/v1/tenants", { rawBody: raw, headers: { "Content-Type": "application/json" } }), 400, "VALIDATION_ERROR");
  });

  it("413 PAYLOAD_TOO_LARGE above 16 KiB, also without Content-Length", async () => {
    const big = JSON.stringify({ name: "x".repeat(17 * 1024), adminEmail: uniqueEmail(), adminPassword: PASSWORD });
    expectError(await call("POST", "/api/v1/tenants", { rawBody: big, headers: { "Content-Type": "application/json" } }), 413, "PAYLOAD_TOO_LARGE");
    const stream = new Blob([big]).stream();
    const response = await app.request("/api/v1/tenants", { method: "POST", body: stream, headers: { "Content-Type": "application/json", "CF-Connecting-IP": "10.9.9.9" }, duplex: "half" } as RequestInit, env);
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
  });

  it("ignores unknown fields", async () => {
    const response = await call("POST", "/api/v1/tenants", {
      body: { name: `unknown-fields-${crypto.randomUUID()}`, adminEmail: uniqueEmail(), adminPassword: PASSWORD, role: "Admin", __proto__: { polluted: true } },
    });
    expect(response.status, response.text).toBe(201);
    expect(response.body.adminRole).toBe("Owner");
  });

  it("500 INTERNAL_ERROR names a missing secret without leaking internals", async () => {
    const owner = await newTenant();
    const response = await app.request(
      "/api/v1/invites",
      { method: "POST", body: "{}", headers: { "Content-Type": "application/json", Authorization: `Bearer ${owner.token}` } },
      { ...env, INVITE_TOKEN_KEY: undefined },
    );
    expect(response.status).toBe(500);
    const body = (await response.json()) as { code: string; message: string };
    expect(body.code).toBe("INTERNAL_ERROR");
    expect(body.message).toContain("INVITE_TOKEN_KEY");
    expect(JSON.stringify(body)).not.toMatch(/at \w+ \(|\.ts:\d+/);
  });
});
