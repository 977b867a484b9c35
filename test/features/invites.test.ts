import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, createInvite, expectError, newMember, newTenant, PASSWORD, randomIp, register, uniqueEmail } from "../helpers";

const DAY = 24 * 60 * 60 * 1000;
const SEED_FIELDS = ["id", "tenantId", "token", "targetRole", "expiresAt", "usedAt", "status", "createdAt"];

describe("POST /api/v1/invites", () => {
  it("201 with defaults (7 days, Developer), seed fields first, and a Location header", async () => {
    const owner = await newTenant();
    const before = Date.now();
    const response = await call("POST", "/api/v1/invites", { token: owner.token, body: {} });
    expect(response.status, response.text).toBe(201);
    const invite = response.body;
    expect(Object.keys(invite).slice(0, SEED_FIELDS.length)).toEqual(SEED_FIELDS);
    expect(invite).toMatchObject({ tenantId: owner.tenantId, targetRole: "Developer", status: "Pending", usedAt: null, email: null, createdBy: owner.userId, revokedAt: null });
    expect(invite.token).toMatch(/^inv_[A-Za-z0-9_-]{43}$/);
    const lifetime = Date.parse(invite.expiresAt) - Date.parse(invite.createdAt);
    expect(lifetime).toBe(7 * DAY);
    expect(Date.parse(invite.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(response.headers.get("Location")).toBe(`/api/v1/invites/${invite.id}`);
  });

  it.each([1, 30])("accepts validityDays %i", async (days) => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token, { validityDays: days, role: "Viewer" });
    expect(Date.parse(invite.expiresAt) - Date.parse((invite as any).createdAt)).toBe(days * DAY);
    expect(invite.targetRole).toBe("Viewer");
  });

  it.each([
    [{ validityDays: 0 }, "validityDays"],
    [{ validityDays: 31 }, "validityDays"],
    [{ validityDays: 2.5 }, "validityDays"],
    [{ validityDays: "7" }, "validityDays"],
    [{ role: "Owner" }, "role"],
    [{ role: "SuperAdmin" }, "role"],
    [{ role: "developer" }, "role"],
    [{ email: "not-an-email" }, "email"],
  ])("400 VALIDATION_ERROR for %j", async (body, field) => {
    const owner = await newTenant();
    const error = expectError(await call("POST", "/api/v1/invites", { token: owner.token, body }), 400, "VALIDATION_ERROR");
    expect(Object.keys(error.details.fields)).toEqual([field]);
  });

  it("401 without or with a bad token", async () => {
    expectError(await call("POST", "/api/v1/invites", { body: {} }), 401, "UNAUTHORIZED");
    expectError(await call("POST", "/api/v1/invites", { body: {}, token: "not.a.jwt" }), 401, "UNAUTHORIZED");
    expectError(await call("POST", "/api/v1/invites", { body: {}, headers: { Authorization: "Basic Zm9vOmJhcg==" } }), 401, "UNAUTHORIZED");
  });

  it("403 FORBIDDEN for Developer and Viewer callers", async () => {
    const owner = await newTenant();
    for (const role of ["Developer", "Viewer"] as const) {
      const member = await newMember(owner, role);
      expectError(await call("POST", "/api/v1/invites", { token: member.token, body: {} }), 403, "FORBIDDEN");
    }
  });

  it("an Admin invites Developers and Viewers, but inviting an Admin is 403 ROLE_NOT_ASSIGNABLE", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    expect((await createInvite(admin.token, { role: "Viewer" })).targetRole).toBe("Viewer");
    expect((await createInvite(admin.token, {})).targetRole).toBe("Developer");
    expectError(await call("POST", "/api/v1/invites", { token: admin.token, body: { role: "Admin" } }), 403, "ROLE_NOT_ASSIGNABLE");
    expect((await createInvite(owner.token, { role: "Admin" })).targetRole).toBe("Admin");
  });

  it("404 TENANT_NOT_FOUND when the caller's tenant is gone", async () => {
    const owner = await newTenant();
    await env.DB.prepare("DELETE FROM tenants WHERE id = ?").bind(owner.tenantId).run();
    expectError(await call("POST", "/api/v1/invites", { token: owner.token, body: {} }), 404, "TENANT_NOT_FOUND");
    expectError(await call("GET", "/api/v1/invites", { token: owner.token }), 404, "TENANT_NOT_FOUND");
  });
});

describe("GET /api/v1/invites", () => {
  async function tenantWithInvites(count: number) {
    const owner = await newTenant();
    const created = [];
    for (let i = 0; i < count; i++) created.push(await createInvite(owner.token, { validityDays: (i % 30) + 1, role: i % 3 === 0 ? "Viewer" : "Developer" }));
    return { owner, created };
  }

  it("pages with Qt/Pg, newest first by default, total counting every match", async () => {
    const { owner, created } = await tenantWithInvites(12);
    const first = await call("GET", "/api/v1/invites?Qt=5&Pg=1", { token: owner.token });
    expect(first.status, first.text).toBe(200);
    expect(first.body.total).toBe(12);
    expect(first.body.items.map((i: any) => i.id)).toEqual(created.slice(-5).reverse().map((i) => i.id));
    const last = await call("GET", "/api/v1/invites?Qt=5&Pg=3", { token: owner.token });
    expect(last.body.total).toBe(12);
    expect(last.body.items.map((i: any) => i.id)).toEqual(created.slice(0, 2).reverse().map((i) => i.id));
    const beyond = await call("GET", "/api/v1/invites?Qt=5&Pg=9", { token: owner.token });
    expect(beyond.body).toEqual({ total: 12, items: [], nextCursor: null, prevCursor: null });
    const byDefault = await call("GET", "/api/v1/invites", { token: owner.token });
    expect(byDefault.body.items).toHaveLength(10);
    expect(byDefault.body.items[0].token).toBe(created[11]!.token);
  });

  it("sorts by any whitelisted field, case-insensitively, ties broken by id", async () => {
    const { owner, created } = await tenantWithInvites(6);
    const asc = await call("GET", "/api/v1/invites?CpOrd=EXPIRESAT&TpOrd=asc&Qt=100", { token: owner.token });
    expect(asc.status, asc.text).toBe(200);
    const expires = asc.body.items.map((i: any) => i.expiresAt);
    expect(expires).toEqual([...expires].sort());
    const byRole = await call("GET", "/api/v1/invites?CpOrd=targetRole&TpOrd=Desc&Qt=100", { token: owner.token });
    const roles = byRole.body.items.map((i: any) => `${i.targetRole}|${i.id}`);
    expect(roles).toEqual([...roles].sort().reverse());
    for (const field of ["id", "createdAt", "usedAt", "status"]) {
      const response = await call("GET", `/api/v1/invites?CpOrd=${field}`, { token: owner.token });
      expect(response.status, field).toBe(200);
      expect(response.body.total).toBe(created.length);
    }
  });

  it.each([
    ["CpOrd=token", "INVALID_SORT_FIELD"],
    ["CpOrd=tenantId", "INVALID_SORT_FIELD"],
    ["CpOrd=id;DROP TABLE invites", "INVALID_SORT_FIELD"],
    ["Qt=0", "VALIDATION_ERROR"],
    ["Qt=101", "VALIDATION_ERROR"],
    ["Qt=abc", "VALIDATION_ERROR"],
    ["Pg=0", "VALIDATION_ERROR"],
    ["Pg=-1", "VALIDATION_ERROR"],
    ["Pg=1.5", "VALIDATION_ERROR"],
    ["TpOrd=up", "VALIDATION_ERROR"],
    ["Status=4", "VALIDATION_ERROR"],
    ["Status=Active", "VALIDATION_ERROR"],
  ])("400 for %s", async (query, code) => {
    const owner = await newTenant();
    expectError(await call("GET", `/api/v1/invites?${query}`, { token: owner.token }), 400, code);
  });

  it("filters by Status (number or name) with total counting the filtered set", async () => {
    const owner = await newTenant();
    const used = await createInvite(owner.token);
    await createInvite(owner.token);
    await createInvite(owner.token);
    expect((await register(used.token)).status).toBe(201);
    for (const [query, total] of [["Status=0", 2], ["Status=pending", 2], ["Status=1", 1], ["Status=USED", 1], ["Status=2", 0], ["Status=3", 0]] as const) {
      const response = await call("GET", `/api/v1/invites?${query}`, { token: owner.token });
      expect(response.status, query).toBe(200);
      expect(response.body.total, query).toBe(total);
      expect(response.body.items).toHaveLength(total);
    }
    const usedPage = await call("GET", "/api/v1/invites?Status=1", { token: owner.token });
    expect(usedPage.body.items[0]).toMatchObject({ id: used.id, status: "Used", token: used.token });
    expect(usedPage.body.items[0].usedAt).not.toBeNull();
  });

  it("only ever shows the caller's tenant", async () => {
    const a = await newTenant();
    const b = await newTenant();
    await createInvite(a.token);
    await createInvite(b.token);
    await createInvite(b.token);
    const listA = await call("GET", "/api/v1/invites", { token: a.token });
    expect(listA.body.total).toBe(1);
    expect(listA.body.items.every((i: any) => i.tenantId === a.tenantId)).toBe(true);
  });

  it("401 unauthenticated, 403 for Developer/Viewer", async () => {
    const owner = await newTenant();
    expectError(await call("GET", "/api/v1/invites"), 401, "UNAUTHORIZED");
    const viewer = await newMember(owner, "Viewer");
    expectError(await call("GET", "/api/v1/invites", { token: viewer.token }), 403, "FORBIDDEN");
    const admin = await newMember(owner, "Admin");
    expect((await call("GET", "/api/v1/invites", { token: admin.token })).status).toBe(200);
  });
});

describe("POST /api/v1/invites/{token}/register", () => {
  it("201 creates an Active user with the invite's targetRole and marks the invite used", async () => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token, { role: "Viewer" });
    const email = uniqueEmail("New.Person");
    const response = await register(invite.token, email.toUpperCase());
    expect(response.status, response.text).toBe(201);
    // the seed's User fields, then where the invitee goes next (§2.9 redirectUrl)
    expect(Object.keys(response.body)).toEqual(["id", "tenantId", "email", "status", "role", "createdAt", "updatedAt", "redirectUrl"]);
    expect(response.body).toMatchObject({ tenantId: owner.tenantId, email: email.toLowerCase(), status: "Active", role: "Viewer" });
    const row = await env.DB.prepare("SELECT used_at, used_by FROM invites WHERE id = ?").bind(invite.id).first<{ used_at: number; used_by: string }>();
    expect(row?.used_by).toBe(response.body.id);
    // and the new user can sign in
    expect((await call("POST", "/api/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
  });

  it.each([
    [{ email: "not-an-email", password: PASSWORD }, "email"],
    [{ email: `${"a".repeat(250)}@x.test`, password: PASSWORD }, "email"],
    [{ email: "a@b.test", password: "" }, "password"],
    [{ email: "a@b.test", password: "short" }, "password"],
    [{ email: "a@b.test" }, "password"],
    [{ password: PASSWORD }, "email"],
  ])("400 VALIDATION_ERROR for %j, invite untouched", async (body, field) => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token);
    const error = expectError(await call("POST", `/api/v1/invites/${invite.token}/register`, { body }), 400, "VALIDATION_ERROR");
    expect(Object.keys(error.details.fields)).toContain(field);
    expect((await call("GET", "/api/v1/invites", { token: owner.token })).body.items[0].status).toBe("Pending");
  });

  it.each([
    ["unknown", `inv_${"A".repeat(43)}`],
    ["malformed", "not-a-token"],
    ["too short", "inv_abc"],
    ["with odd characters", "inv_%F0%9F%92%A9"],
    ["very long", `inv_${"x".repeat(2000)}`],
  ])("404 INVITE_NOT_FOUND for a %s token", async (_label, token) => {
    expectError(await call("POST", `/api/v1/invites/${token}/register`, { body: { email: uniqueEmail(), password: PASSWORD } }), 404, "INVITE_NOT_FOUND");
  });

  it("409 INVITE_USED on a second redemption", async () => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token);
    expect((await register(invite.token)).status).toBe(201);
    expectError(await register(invite.token), 409, "INVITE_USED");
  });

  it("409 INVITE_EXPIRED once expiresAt has passed", async () => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token, { validityDays: 1 });
    await env.DB.prepare("UPDATE invites SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, invite.id).run();
    const error = expectError(await register(invite.token), 409, "INVITE_EXPIRED");
    expect(error.message).toMatch(/expired on \d{4}-/);
  });

  it("409 EMAIL_TAKEN (case-insensitive, across tenants) leaves the invite Pending", async () => {
    const other = await newTenant();
    const owner = await newTenant();
    const invite = await createInvite(owner.token);
    expectError(await register(invite.token, other.email.toUpperCase()), 409, "EMAIL_TAKEN");
    const list = await call("GET", "/api/v1/invites", { token: owner.token });
    expect(list.body.items[0]).toMatchObject({ id: invite.id, status: "Pending", usedAt: null });
    expect((await register(invite.token)).status).toBe(201);
  });

  it("409 EMAIL_TAKEN from the unique index when two invites race for one email", async () => {
    const owner = await newTenant();
    const [first, second] = [await createInvite(owner.token), await createInvite(owner.token)];
    const email = uniqueEmail("racer");
    const results = await Promise.all([register(first.token, email), register(second.token, email)]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(results.find((r) => r.status === 409)!.body.code).toBe("EMAIL_TAKEN");
    const statuses = (await call("GET", "/api/v1/invites?CpOrd=status&TpOrd=asc", { token: owner.token })).body.items.map((i: any) => i.status);
    expect(statuses).toEqual(["Pending", "Used"]);
    const { count } = (await env.DB.prepare("SELECT COUNT(*) AS count FROM accounts WHERE email = ?").bind(email).first<{ count: number }>())!;
    expect(count).toBe(1);
  });

  it("20 concurrent redemptions of one token create exactly one user", async () => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token);
    const emails = Array.from({ length: 20 }, () => uniqueEmail("concurrent"));
    const responses = await Promise.all(emails.map((email) => register(invite.token, email)));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    for (const r of responses.filter((r) => r.status === 409)) expect(r.body.code).toBe("INVITE_USED");
    const { count } = (await env.DB.prepare("SELECT COUNT(*) AS count FROM memberships WHERE tenant_id = ?").bind(owner.tenantId).first<{ count: number }>())!;
    expect(count).toBe(2); // the Owner and the one winner
    const row = await env.DB.prepare("SELECT used_by FROM invites WHERE id = ?").bind(invite.id).first<{ used_by: string }>();
    expect(row?.used_by).toBe(responses.find((r) => r.status === 201)!.body.id);
  });

  it("429 on the 11th request from one IP within an hour, whatever the outcomes", async () => {
    const ip = randomIp();
    const owner = await newTenant();
    const invite = await createInvite(owner.token);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const token = i === 0 ? invite.token : `inv_${"B".repeat(43)}`;
      statuses.push((await register(token, uniqueEmail(), PASSWORD, ip)).status);
    }
    expect(statuses).toEqual([201, 404, 404, 404, 404, 404, 404, 404, 404, 404]);
    const refused = await register(invite.token, uniqueEmail(), PASSWORD, ip);
    expectError(refused, 429, "RATE_LIMITED");
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(refused.headers.get("RateLimit-Policy")).toBe(`"register";q=10;w=3600`);
    expect(refused.headers.get("RateLimit")).toMatch(/^"register";r=0;t=\d+$/);
    // another IP is unaffected
    expectError(await register(invite.token), 409, "INVITE_USED");
  });
});
