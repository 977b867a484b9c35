import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, expectError, newMember, newTenant } from "../helpers";
import { eventRows } from "../webhook-helpers";

const PATH = "/api/v1/tenants/current";

describe("GET /api/v1/tenants/current", () => {
  it("200 for every member role, with the defaults: AdminsOnly, no redirect origins", async () => {
    const owner = await newTenant();
    const members = [owner, await newMember(owner, "Admin"), await newMember(owner, "Developer"), await newMember(owner, "Viewer")];
    for (const member of members) {
      const response = await call("GET", PATH, { token: member.token });
      expect(response.status, response.text).toBe(200);
      expect(response.body).toEqual({
        id: owner.tenantId,
        name: owner.tenantName,
        invitePolicy: "AdminsOnly",
        redirectOrigins: [],
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
    }
  });

  it("401 without a token; 404 TENANT_NOT_FOUND once the tenant is gone", async () => {
    expectError(await call("GET", PATH), 401, "UNAUTHORIZED");
    const owner = await newTenant();
    await env.DB.prepare("DELETE FROM tenants WHERE id = ?").bind(owner.tenantId).run();
    expectError(await call("GET", PATH, { token: owner.token }), 404, "TENANT_NOT_FOUND");
    expectError(await call("PATCH", PATH, { token: owner.token, body: { invitePolicy: "Members" } }), 404, "TENANT_NOT_FOUND");
  });
});

describe("PATCH /api/v1/tenants/current", () => {
  it("an Owner sets the policy and the origins (normalized, de-duplicated); members read the change", async () => {
    const owner = await newTenant();
    const viewer = await newMember(owner, "Viewer");
    const response = await call("PATCH", PATH, {
      token: owner.token,
      body: { invitePolicy: "Members", redirectOrigins: ["HTTPS://App.Example.com:443", "https://app.example.com/", "http://localhost:5173", "https://b.example.com:8443"] },
    });
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({ invitePolicy: "Members", redirectOrigins: ["https://app.example.com", "http://localhost:5173", "https://b.example.com:8443"] });
    expect(Date.parse(response.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(response.body.createdAt));
    expect((await call("GET", PATH, { token: viewer.token })).body).toEqual(response.body);

    // each field alone leaves the other as it was
    const policyOnly = await call("PATCH", PATH, { token: owner.token, body: { invitePolicy: "AdminsOnly" } });
    expect(policyOnly.body).toMatchObject({ invitePolicy: "AdminsOnly", redirectOrigins: ["https://app.example.com", "http://localhost:5173", "https://b.example.com:8443"] });
    const cleared = await call("PATCH", PATH, { token: owner.token, body: { redirectOrigins: [] } });
    expect(cleared.body).toMatchObject({ invitePolicy: "AdminsOnly", redirectOrigins: [] });
  });

  it("403 FORBIDDEN for Admins, Developers and Viewers, and nothing changes", async () => {
    const owner = await newTenant();
    for (const role of ["Admin", "Developer", "Viewer"] as const) {
      const member = await newMember(owner, role);
      expectError(await call("PATCH", PATH, { token: member.token, body: { invitePolicy: "Members" } }), 403, "FORBIDDEN");
    }
    expect((await call("GET", PATH, { token: owner.token })).body.invitePolicy).toBe("AdminsOnly");
  });

  it.each([
    [{}, "_"],
    [{ invitePolicy: "Everyone" }, "invitePolicy"],
    [{ invitePolicy: "members" }, "invitePolicy"],
    [{ redirectOrigins: "https://app.example.com" }, "redirectOrigins"],
    [{ redirectOrigins: ["http://app.example.com"] }, "redirectOrigins.0"],
    [{ redirectOrigins: ["https://app.example.com/callback"] }, "redirectOrigins.0"],
    [{ redirectOrigins: ["https://app.example.com?x=1"] }, "redirectOrigins.0"],
    [{ redirectOrigins: ["https://app.example.com#top"] }, "redirectOrigins.0"],
    [{ redirectOrigins: ["https://*.example.com"] }, "redirectOrigins.0"],
    [{ redirectOrigins: ["https://user:pw@app.example.com"] }, "redirectOrigins.0"],
    [{ redirectOrigins: ["ftp://app.example.com"] }, "redirectOrigins.0"],
    [{ redirectOrigins: ["javascript:alert(1)"] }, "redirectOrigins.0"],
    [{ redirectOrigins: ["app.example.com"] }, "redirectOrigins.0"],
    [{ redirectOrigins: ["https://ok.example.com", 42] }, "redirectOrigins.1"],
    [{ redirectOrigins: [`https://${"a".repeat(300)}.com`] }, "redirectOrigins.0"],
    [{ redirectOrigins: Array.from({ length: 11 }, (_, i) => `https://app${i}.example.com`) }, "redirectOrigins"],
  ])("400 VALIDATION_ERROR for %j", async (body, field) => {
    const owner = await newTenant();
    const error = expectError(await call("PATCH", PATH, { token: owner.token, body }), 400, "VALIDATION_ERROR");
    expect(Object.keys(error.details.fields)).toEqual([field]);
  });

  it("401 without a token, 415 for a non-JSON body, 413 above 16 KiB", async () => {
    const owner = await newTenant();
    expectError(await call("PATCH", PATH, { body: { invitePolicy: "Members" } }), 401, "UNAUTHORIZED");
    expectError(
      await call("PATCH", PATH, { token: owner.token, rawBody: "invitePolicy=Members", headers: { "Content-Type": "application/x-www-form-urlencoded" } }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
    expectError(await call("PATCH", PATH, { token: owner.token, body: { invitePolicy: "Members", pad: "x".repeat(17_000) } }), 413, "PAYLOAD_TOO_LARGE");
  });
});

describe("tenant.settings_changed", () => {
  const changes = (tenantId: string) => eventRows(tenantId, "tenant.settings_changed");

  it("a change writes one event, in its batch, naming what changed and the values now in force; a repeat or a refusal writes none", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    expect((await call("PATCH", PATH, { token: owner.token, body: { invitePolicy: "Members" } })).status).toBe(200);
    expect((await call("PATCH", PATH, { token: owner.token, body: { invitePolicy: "Members", redirectOrigins: ["https://app.example.test"] } })).status).toBe(200);
    const events = await changes(owner.tenantId);
    expect(events.map((event) => [event.actor_type, event.actor_id, event.data])).toEqual([
      ["user", owner.userId, { changed: ["invitePolicy"], invitePolicy: "Members", redirectOrigins: [] }],
      ["user", owner.userId, { changed: ["redirectOrigins"], invitePolicy: "Members", redirectOrigins: ["https://app.example.test"] }],
    ]);
    // the same values again: 200, nothing written, not even updatedAt
    const before = await call("GET", PATH, { token: owner.token });
    const same = await call("PATCH", PATH, { token: owner.token, body: { invitePolicy: "Members", redirectOrigins: ["https://APP.example.test"] } });
    expect(same.body).toEqual(before.body);
    // refused: 403 for an Admin, 400 for a bad origin
    expectError(await call("PATCH", PATH, { token: admin.token, body: { invitePolicy: "AdminsOnly" } }), 403, "FORBIDDEN");
    expectError(await call("PATCH", PATH, { token: owner.token, body: { redirectOrigins: ["ftp://nope"] } }), 400, "VALIDATION_ERROR");
    expect(await changes(owner.tenantId)).toHaveLength(2);
  });

  it("concurrent changes: each that changed something has its event, and the last event matches what is stored", async () => {
    const owner = await newTenant();
    const bodies = Array.from({ length: 6 }, (_, i) => ({ invitePolicy: i % 2 ? "Members" : "AdminsOnly", redirectOrigins: [`https://app${i}.example.test`] }));
    const responses = await Promise.all(bodies.map((body) => call("PATCH", PATH, { token: owner.token, body })));
    expect(responses.map((r) => r.status)).toEqual(bodies.map(() => 200));
    const events = await changes(owner.tenantId);
    expect(events).toHaveLength(6);
    const stored = (await call("GET", PATH, { token: owner.token })).body;
    const last = events[events.length - 1]!.data;
    expect({ invitePolicy: last.invitePolicy, redirectOrigins: last.redirectOrigins }).toEqual({ invitePolicy: stored.invitePolicy, redirectOrigins: stored.redirectOrigins });
  });
});
