import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { USER_SORT_FIELDS } from "../../src/features/users/service";
import { envWith, headers, observedD1, ORIGIN } from "../d1-spy";
import { call, createInvite, expectError, login, newMember, newTenant, PASSWORD, type Session } from "../helpers";

const USER_KEYS = ["id", "tenantId", "email", "status", "role", "createdAt", "updatedAt"];
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const me = (token: string) => call("GET", "/api/v1/users/me", { token });
const listUsers = (token: string, query = "") => call("GET", `/api/v1/users${query}`, { token });
const patchUser = (token: string, id: string, body: unknown) => call("PATCH", `/api/v1/users/${id}`, { token, body });

async function stored(userId: string) {
  return env.DB.prepare("SELECT role, status, updated_at FROM memberships WHERE account_id = ?").bind(userId).first<{ role: string; status: string; updated_at: number }>();
}

/** A second Owner can only come from outside this API (tenant creation makes exactly one). */
async function promoteToOwnerInD1(session: Session): Promise<Session> {
  await env.DB.prepare("UPDATE memberships SET role = 'Owner' WHERE account_id = ?").bind(session.userId).run();
  return session;
}

describe("GET /api/v1/users/me", () => {
  it.each(["Owner", "Admin", "Developer", "Viewer"] as const)("200 for a %s, with the User shape", async (role) => {
    const owner = await newTenant();
    const session = role === "Owner" ? owner : await newMember(owner, role);
    const response = await me(session.token);
    expect(response.status, response.text).toBe(200);
    expect(Object.keys(response.body)).toEqual([...USER_KEYS, "emailVerified"]);
    // Sign-up and an unbound registration leave the email unverified until the mailed link is used.
    expect(response.body).toMatchObject({ id: session.userId, tenantId: owner.tenantId, email: session.email, status: "Active", role, emailVerified: false });
    expect(response.body.createdAt).toMatch(ISO_MS);
    expect(response.body.updatedAt).toMatch(ISO_MS);
  });

  it("401 without a token", async () => {
    expectError(await call("GET", "/api/v1/users/me"), 401, "UNAUTHORIZED");
  });

  it("404 TENANT_NOT_FOUND on every users route once the caller's tenant is gone", async () => {
    const owner = await newTenant();
    const dev = await newMember(owner, "Developer");
    await env.DB.prepare("DELETE FROM tenants WHERE id = ?").bind(owner.tenantId).run();
    expectError(await me(owner.token), 404, "TENANT_NOT_FOUND");
    expectError(await listUsers(owner.token), 404, "TENANT_NOT_FOUND");
    expectError(await patchUser(owner.token, dev.userId, { role: "Viewer" }), 404, "TENANT_NOT_FOUND");
  });
});

describe("GET /api/v1/users", () => {
  async function populatedTenant() {
    const owner = await newTenant("users-list");
    const admin = await newMember(owner, "Admin");
    const dev1 = await newMember(owner, "Developer");
    const dev2 = await newMember(owner, "Developer");
    const viewer = await newMember(owner, "Viewer");
    await env.DB.prepare("UPDATE memberships SET status = 'Inactive' WHERE account_id = ?").bind(dev2.userId).run();
    return { owner, admin, dev1, dev2, viewer };
  }

  it("Owner and Admin see every user of their tenant only, newest id first by default", async () => {
    const { owner, admin, dev1, dev2, viewer } = await populatedTenant();
    await newTenant("other-tenant");
    for (const caller of [owner, admin]) {
      const response = await listUsers(caller.token);
      expect(response.status, response.text).toBe(200);
      expect(Object.keys(response.body)).toEqual(["total", "items", "nextCursor", "prevCursor"]);
      expect(response.body.total).toBe(5);
      expect(response.body.items.map((u: { id: string }) => u.id)).toEqual([viewer.userId, dev2.userId, dev1.userId, admin.userId, owner.userId]);
      for (const item of response.body.items) {
        expect(Object.keys(item)).toEqual(USER_KEYS);
        expect(item.tenantId).toBe(owner.tenantId);
      }
    }
  });

  it("403 for Developers and Viewers", async () => {
    const { dev1, viewer } = await populatedTenant();
    expectError(await listUsers(dev1.token), 403, "FORBIDDEN");
    expectError(await listUsers(viewer.token), 403, "FORBIDDEN");
  });

  it("paginates with Qt/Pg; total counts every match", async () => {
    const { owner, admin, dev1, dev2, viewer } = await populatedTenant();
    const page1 = await listUsers(owner.token, "?Qt=2&Pg=1&TpOrd=asc");
    expect(page1.body.total).toBe(5);
    expect(page1.body.items.map((u: { id: string }) => u.id)).toEqual([owner.userId, admin.userId]);
    expect((await listUsers(owner.token, "?Qt=2&Pg=2&TpOrd=asc")).body.items.map((u: { id: string }) => u.id)).toEqual([dev1.userId, dev2.userId]);
    expect((await listUsers(owner.token, "?Qt=2&Pg=3&TpOrd=ASC")).body.items.map((u: { id: string }) => u.id)).toEqual([viewer.userId]);
    expect((await listUsers(owner.token, "?Qt=2&Pg=9")).body).toEqual({ total: 5, items: [], nextCursor: null, prevCursor: null });
  });

  it("sorts by each whitelisted field, case-insensitively, ties broken by id", async () => {
    const { owner, admin, dev1, dev2, viewer } = await populatedTenant();
    const byEmail = await listUsers(owner.token, "?CpOrd=EMAIL&TpOrd=asc");
    const emails = byEmail.body.items.map((u: { email: string }) => u.email);
    expect(emails).toEqual([...emails].sort());
    const byRole = await listUsers(owner.token, "?CpOrd=role&TpOrd=Asc");
    // stored role names, alphabetically; the two Developers in id order
    expect(byRole.body.items.map((u: { id: string }) => u.id)).toEqual([admin.userId, dev1.userId, dev2.userId, owner.userId, viewer.userId]);
    const byStatus = await listUsers(owner.token, "?CpOrd=status&TpOrd=desc");
    expect(byStatus.body.items[0].id).toBe(dev2.userId);
    expect(byStatus.body.items.slice(1).map((u: { id: string }) => u.id)).toEqual([viewer.userId, dev1.userId, admin.userId, owner.userId]);
    await env.DB.prepare("UPDATE memberships SET updated_at = updated_at + 100000 WHERE account_id = ?").bind(admin.userId).run();
    expect((await listUsers(owner.token, "?CpOrd=updatedAt")).body.items[0].id).toBe(admin.userId);
    const byCreated = await listUsers(owner.token, "?CpOrd=createdAt&TpOrd=asc");
    expect(byCreated.body.items[0].id).toBe(owner.userId);
  });

  it("filters by Status and Role, by number or name, case-insensitively", async () => {
    const { owner, dev1, dev2, viewer } = await populatedTenant();
    const ids = (response: { body: { items: Array<{ id: string }> } }) => response.body.items.map((u) => u.id);
    expect(ids(await listUsers(owner.token, "?Status=1"))).toEqual([dev2.userId]);
    expect(ids(await listUsers(owner.token, "?Status=inactive"))).toEqual([dev2.userId]);
    expect((await listUsers(owner.token, "?Status=0")).body.total).toBe(4);
    expect((await listUsers(owner.token, "?Status=ACTIVE")).body.total).toBe(4);
    expect(ids(await listUsers(owner.token, "?Role=2"))).toEqual([dev2.userId, dev1.userId]);
    expect(ids(await listUsers(owner.token, "?Role=developer"))).toEqual([dev2.userId, dev1.userId]);
    expect(ids(await listUsers(owner.token, "?Role=3"))).toEqual([viewer.userId]);
    expect(ids(await listUsers(owner.token, "?Role=Owner"))).toEqual([owner.userId]);
    expect((await listUsers(owner.token, "?Role=developer&Status=Active")).body).toMatchObject({ total: 1, items: [{ id: dev1.userId }] });
  });

  it.each([
    ["?Status=2", "VALIDATION_ERROR"],
    ["?Status=Pending", "VALIDATION_ERROR"],
    ["?Role=4", "VALIDATION_ERROR"],
    ["?Role=Superuser", "VALIDATION_ERROR"],
    ["?Qt=0", "VALIDATION_ERROR"],
    ["?Qt=101", "VALIDATION_ERROR"],
    ["?Pg=0", "VALIDATION_ERROR"],
    ["?TpOrd=up", "VALIDATION_ERROR"],
    ["?CpOrd=passwordHash", "INVALID_SORT_FIELD"],
    ["?CpOrd=tenantId", "INVALID_SORT_FIELD"],
  ])("400 for %s", async (query, code) => {
    const owner = await newTenant();
    expectError(await listUsers(owner.token, query), 400, code);
  });

  it("every sort, by Pg and by cursor, runs on an index that starts with tenant_id, without a temporary sort", async () => {
    const owner = await newTenant();
    for (let i = 0; i < 3; i++) await newMember(owner, i % 2 ? "Viewer" : "Developer");
    for (const sortField of USER_SORT_FIELDS) {
      for (const direction of ["Asc", "Desc"] as const) {
        const first = await listUsers(owner.token, `?Qt=2&CpOrd=${sortField}&TpOrd=${direction}`);
        expect(first.body.nextCursor, sortField).toEqual(expect.any(String));
        for (const query of [`Qt=2&CpOrd=${sortField}&TpOrd=${direction}&Pg=2`, `Qt=2&starting_after=${first.body.nextCursor}`, `Qt=2&ending_before=${first.body.nextCursor}`]) {
          const { db, log } = observedD1();
          const response = await app.request(`${ORIGIN}/api/v1/users?${query}`, { headers: headers({ Authorization: `Bearer ${owner.token}` }) }, envWith({ DB: db }));
          expect(response.status, query).toBe(200);
          const statements = [...log.plain, ...log.sessions.flatMap((session) => session.sql)].filter((sql) => /^select "tenant_id", "account_id"/i.test(sql));
          expect(statements.length, query).toBeGreaterThan(0);
          for (const sql of statements) {
            const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
              .bind(...Array.from({ length: sql.split("?").length - 1 }, () => owner.tenantId))
              .all<{ detail: string }>();
            const details = plan.results.map((row) => row.detail).join(" | ");
            expect(details, `${query}: ${sql}`).toMatch(/USING (COVERING )?INDEX (memberships_tenant_\w+|sqlite_autoindex_memberships_1) \(tenant_id=\?/);
            expect(details, `${query}: ${sql}`).not.toMatch(/TEMP B-TREE/);
          }
        }
      }
    }
  });

  it("cursor pages walk the same order as Pg pages", async () => {
    const owner = await newTenant();
    for (let i = 0; i < 4; i++) await newMember(owner, i % 2 ? "Viewer" : "Developer");
    for (const sortField of USER_SORT_FIELDS) {
      const all = (await listUsers(owner.token, `?Qt=100&CpOrd=${sortField}&TpOrd=Asc`)).body.items.map((item: { id: string }) => item.id);
      const walked: string[] = [];
      let page = await listUsers(owner.token, `?Qt=2&CpOrd=${sortField}&TpOrd=Asc`);
      walked.push(...page.body.items.map((item: { id: string }) => item.id));
      while (page.body.nextCursor) {
        page = await listUsers(owner.token, `?Qt=2&starting_after=${page.body.nextCursor}`);
        expect(page.body.total).toBe(5);
        walked.push(...page.body.items.map((item: { id: string }) => item.id));
      }
      expect(walked, sortField).toEqual(all);
    }
    expectError(await listUsers(owner.token, "?starting_after=bm9wZQ"), 400, "INVALID_CURSOR");
  });
});

describe("GET /api/v1/users/{id}", () => {
  it("200 for a user of the caller's tenant; 404 USER_NOT_FOUND for another tenant's, a random or a malformed id", async () => {
    const owner = await newTenant();
    const dev = await newMember(owner, "Developer");
    const stranger = await newTenant();
    const response = await call("GET", `/api/v1/users/${dev.userId}`, { token: owner.token });
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({ id: dev.userId, role: "Developer" });
    expectError(await call("GET", `/api/v1/users/${stranger.userId}`, { token: owner.token }), 404, "USER_NOT_FOUND");
    expectError(await call("GET", `/api/v1/users/${crypto.randomUUID()}`, { token: owner.token }), 404, "USER_NOT_FOUND");
    expectError(await call("GET", "/api/v1/users/not-a-uuid", { token: owner.token }), 404, "USER_NOT_FOUND");
    expectError(await call("GET", `/api/v1/users/${owner.userId}`, { token: dev.token }), 403, "FORBIDDEN");
  });
});

describe("PATCH /api/v1/users/{id}", () => {
  it("an Owner grants and removes Admin and deactivates anyone but the last Owner; 200 with the User", async () => {
    const owner = await newTenant();
    const dev = await newMember(owner, "Developer");
    const promoted = await patchUser(owner.token, dev.userId, { role: "Admin" });
    expect(promoted.status, promoted.text).toBe(200);
    expect(Object.keys(promoted.body)).toEqual(USER_KEYS);
    expect(promoted.body).toMatchObject({ id: dev.userId, role: "Admin", status: "Active" });
    expect(await stored(dev.userId)).toMatchObject({ role: "Admin", status: "Active" });

    const demoted = await patchUser(owner.token, dev.userId, { role: "Viewer", status: "Inactive" });
    expect(demoted.status, demoted.text).toBe(200);
    expect(demoted.body).toMatchObject({ role: "Viewer", status: "Inactive" });
    expect(await stored(dev.userId)).toMatchObject({ role: "Viewer", status: "Inactive" });

    const reactivated = await patchUser(owner.token, dev.userId, { status: "Active" });
    expect(reactivated.body).toMatchObject({ role: "Viewer", status: "Active" });
  });

  it("updatedAt moves on a change and stays on a no-op", async () => {
    const owner = await newTenant();
    const dev = await newMember(owner, "Developer");
    await env.DB.prepare("UPDATE memberships SET updated_at = 1000 WHERE account_id = ?").bind(dev.userId).run();
    const noop = await patchUser(owner.token, dev.userId, { role: "Developer", status: "Active" });
    expect(noop.status).toBe(200);
    expect(noop.body.updatedAt).toBe(new Date(1000).toISOString());
    const changed = await patchUser(owner.token, dev.userId, { role: "Viewer" });
    expect(Date.parse(changed.body.updatedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect((await stored(dev.userId))!.updated_at).toBe(Date.parse(changed.body.updatedAt));
  });

  it("an Admin manages Developers and Viewers: role between the two, and status", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const dev = await newMember(owner, "Developer");
    const viewer = await newMember(owner, "Viewer");
    expect((await patchUser(admin.token, dev.userId, { role: "Viewer" })).body).toMatchObject({ role: "Viewer" });
    expect((await patchUser(admin.token, viewer.userId, { role: "Developer" })).body).toMatchObject({ role: "Developer" });
    expect((await patchUser(admin.token, viewer.userId, { status: "Inactive" })).body).toMatchObject({ status: "Inactive" });
  });

  it("403 ROLE_NOT_ASSIGNABLE when an Admin grants Admin", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const dev = await newMember(owner, "Developer");
    expectError(await patchUser(admin.token, dev.userId, { role: "Admin" }), 403, "ROLE_NOT_ASSIGNABLE");
    expect(await stored(dev.userId)).toMatchObject({ role: "Developer" });
  });

  it("403 FORBIDDEN when an Admin touches an Admin (themselves included) or an Owner", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const otherAdmin = await newMember(owner, "Admin");
    expectError(await patchUser(admin.token, otherAdmin.userId, { role: "Developer" }), 403, "FORBIDDEN");
    expectError(await patchUser(admin.token, otherAdmin.userId, { status: "Inactive" }), 403, "FORBIDDEN");
    expectError(await patchUser(admin.token, admin.userId, { role: "Viewer" }), 403, "FORBIDDEN");
    expectError(await patchUser(admin.token, owner.userId, { status: "Inactive" }), 403, "FORBIDDEN");
    expect(await stored(otherAdmin.userId)).toMatchObject({ role: "Admin", status: "Active" });
    expect(await stored(owner.userId)).toMatchObject({ role: "Owner", status: "Active" });
  });

  it("403 FORBIDDEN for an Owner's role, whoever asks (an Owner's own role included)", async () => {
    const owner = await newTenant();
    const second = await promoteToOwnerInD1(await newMember(owner, "Developer"));
    expectError(await patchUser(owner.token, owner.userId, { role: "Admin" }), 403, "FORBIDDEN");
    expectError(await patchUser(owner.token, second.userId, { role: "Viewer" }), 403, "FORBIDDEN");
    expect(await stored(second.userId)).toMatchObject({ role: "Owner" });
  });

  it("403 FORBIDDEN for Developer and Viewer callers", async () => {
    const owner = await newTenant();
    const dev = await newMember(owner, "Developer");
    const viewer = await newMember(owner, "Viewer");
    expectError(await patchUser(dev.token, viewer.userId, { status: "Inactive" }), 403, "FORBIDDEN");
    expectError(await patchUser(viewer.token, viewer.userId, { role: "Developer" }), 403, "FORBIDDEN");
  });

  it.each([
    ["role Owner (never granted)", { role: "Owner" }, "role"],
    ["an unknown role", { role: "Superuser" }, "role"],
    ["a lower-case role", { role: "admin" }, "role"],
    ["an unknown status", { status: "Suspended" }, "status"],
    ["neither field", {}, "_"],
    ["only unknown fields", { email: "x@y.test" }, "_"],
  ])("400 VALIDATION_ERROR for %s", async (_label, body, field) => {
    const owner = await newTenant();
    const dev = await newMember(owner, "Developer");
    const error = expectError(await patchUser(owner.token, dev.userId, body), 400, "VALIDATION_ERROR");
    expect(Object.keys(error.details.fields)).toContain(field);
    expect(await stored(dev.userId)).toMatchObject({ role: "Developer", status: "Active" });
  });

  it("404 USER_NOT_FOUND for another tenant's user, an unknown id and a non-UUID id", async () => {
    const owner = await newTenant();
    const stranger = await newTenant();
    const strangerDev = await newMember(stranger, "Developer");
    expectError(await patchUser(owner.token, strangerDev.userId, { status: "Inactive" }), 404, "USER_NOT_FOUND");
    expectError(await patchUser(owner.token, stranger.userId, { status: "Inactive" }), 404, "USER_NOT_FOUND");
    expectError(await patchUser(owner.token, crypto.randomUUID(), { status: "Inactive" }), 404, "USER_NOT_FOUND");
    expectError(await patchUser(owner.token, "123", { status: "Inactive" }), 404, "USER_NOT_FOUND");
    expectError(await patchUser(owner.token, "x".repeat(300), { status: "Inactive" }), 404, "USER_NOT_FOUND");
    expect(await stored(strangerDev.userId)).toMatchObject({ status: "Active" });
  });

  it("401 without a token; 415 for a non-JSON body", async () => {
    const owner = await newTenant();
    expectError(await call("PATCH", `/api/v1/users/${owner.userId}`, { body: { status: "Inactive" } }), 401, "UNAUTHORIZED");
    expectError(
      await call("PATCH", `/api/v1/users/${owner.userId}`, { token: owner.token, rawBody: "status=Inactive", headers: { "Content-Type": "text/plain" } }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
  });

  it("409 LAST_OWNER when the only active Owner deactivates themselves", async () => {
    const owner = await newTenant();
    expectError(await patchUser(owner.token, owner.userId, { status: "Inactive" }), 409, "LAST_OWNER");
    expect(await stored(owner.userId)).toMatchObject({ status: "Active" });
    // an inactive second Owner does not count
    const dormant = await promoteToOwnerInD1(await newMember(owner, "Viewer"));
    await env.DB.prepare("UPDATE memberships SET status = 'Inactive' WHERE account_id = ?").bind(dormant.userId).run();
    expectError(await patchUser(owner.token, owner.userId, { status: "Inactive" }), 409, "LAST_OWNER");
  });

  it("with two active Owners one may deactivate the other (or step down), but not both", async () => {
    const owner = await newTenant();
    const second = await promoteToOwnerInD1(await newMember(owner, "Developer"));
    const response = await patchUser(owner.token, second.userId, { status: "Inactive" });
    expect(response.status, response.text).toBe(200);
    expectError(await patchUser(owner.token, owner.userId, { status: "Inactive" }), 409, "LAST_OWNER");
    expect((await patchUser(owner.token, second.userId, { status: "Active" })).status).toBe(200);
    const steppedDown = await patchUser(owner.token, owner.userId, { status: "Inactive" });
    expect(steppedDown.status, steppedDown.text).toBe(200);
    expectError(await me(owner.token), 401, "UNAUTHORIZED");
  });

  async function activeOwners(tenantId: string) {
    const { results } = await env.DB.prepare("SELECT account_id AS id FROM memberships WHERE tenant_id = ? AND role = 'Owner' AND status = 'Active'").bind(tenantId).all();
    return results.length;
  }

  it("two Owners stepping down at the same moment: exactly one succeeds, the other is 409 LAST_OWNER (atomic check)", async () => {
    for (let round = 0; round < 3; round++) {
      const owner = await newTenant();
      const second = await promoteToOwnerInD1(await newMember(owner, "Developer"));
      const responses = await Promise.all([
        patchUser(owner.token, owner.userId, { status: "Inactive" }),
        patchUser(second.token, second.userId, { status: "Inactive" }),
      ]);
      expect(responses.map((r) => r.status).sort()).toEqual([200, 409]);
      expectError(responses.find((r) => r.status === 409)!, 409, "LAST_OWNER");
      expect(await activeOwners(owner.tenantId)).toBe(1);
    }
  });

  it("two Owners deactivating each other at the same moment: exactly one succeeds, one active Owner remains", async () => {
    for (let round = 0; round < 3; round++) {
      const owner = await newTenant();
      const second = await promoteToOwnerInD1(await newMember(owner, "Developer"));
      const responses = await Promise.all([
        patchUser(owner.token, second.userId, { status: "Inactive" }),
        patchUser(second.token, owner.userId, { status: "Inactive" }),
      ]);
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses[0]).toBe(200);
      // the loser was deactivated by the winner: depending on timing its request fails authentication (401),
      // finds its authority gone at write time (403), or finds it would leave no Owner (409)
      expect([401, 403, 409]).toContain(statuses[1]);
      expect(await activeOwners(owner.tenantId)).toBe(1);
    }
  });

  it("takes effect on the target's very next request: a demoted Admin cannot invite", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    await createInvite(admin.token, { role: "Developer" });
    expect((await patchUser(owner.token, admin.userId, { role: "Developer" })).status).toBe(200);
    expectError(await call("POST", "/api/v1/invites", { token: admin.token, body: { role: "Developer" } }), 403, "FORBIDDEN");
    expect((await me(admin.token)).body.role).toBe("Developer");
  });

  it("takes effect on the target's very next request: a deactivated user is 401 everywhere, sessions revoked", async () => {
    const owner = await newTenant();
    const dev = await newMember(owner, "Developer");
    expect((await me(dev.token)).status).toBe(200);
    expect((await patchUser(owner.token, dev.userId, { status: "Inactive" })).status).toBe(200);
    expectError(await me(dev.token), 401, "UNAUTHORIZED");
    expectError(await call("POST", "/api/v1/auth/refresh", { body: { refreshToken: dev.refreshToken } }), 401, "INVALID_REFRESH_TOKEN");
    const { results } = await env.DB.prepare("SELECT revoked_at FROM refresh_tokens WHERE account_id = ?").bind(dev.userId).all<{ revoked_at: number | null }>();
    expect(results.length).toBeGreaterThan(0);
    expect(results.every((row) => row.revoked_at !== null)).toBe(true);
    expectError(await call("POST", "/api/v1/auth/login", { body: { email: dev.email, password: PASSWORD } }), 401, "INVALID_CREDENTIALS");

    // reactivation restores sign-in, not the revoked sessions
    expect((await patchUser(owner.token, dev.userId, { status: "Active" })).status).toBe(200);
    expectError(await call("POST", "/api/v1/auth/refresh", { body: { refreshToken: dev.refreshToken } }), 401, "INVALID_REFRESH_TOKEN");
    const fresh = await login(dev.email);
    expect((await me(fresh.accessToken)).status).toBe(200);
  });
});
