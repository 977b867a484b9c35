/**
 * DESIGN §2.6: one account, many tenants. Accept, sessions per tenant (login `tenantId`, switch),
 * my tenants, remove and leave, and the tenant read — every status code of those routes.
 */
import { env } from "cloudflare:test";
import { decodeJwt } from "jose";
import { app } from "../../src/app";
import { describe, expect, it, vi } from "vitest";
import { call, createInvite, expectError, login, newMember, newTenant, PASSWORD, register, uniqueEmail, type Session } from "../helpers";
import { verifyEmailOf } from "../mail-helpers";

const accept = (token: string, inviteToken: string, ip?: string) => call("POST", `/api/v1/invites/${inviteToken}/accept`, { token, ip });
const switchTenant = (token: string, tenantId: string) => call("POST", "/api/v1/auth/switch-tenant", { token, body: { tenantId } });
const loginTo = (email: string, tenantId?: string, password = PASSWORD) =>
  call("POST", "/api/v1/auth/login", { body: { email, password, ...(tenantId ? { tenantId } : {}) } });
const membership = (tenantId: string, accountId: string) =>
  env.DB.prepare("SELECT role, status FROM memberships WHERE tenant_id = ? AND account_id = ?").bind(tenantId, accountId).first<{ role: string; status: string }>();
const inviteRow = (id: string) => env.DB.prepare("SELECT used_at, used_by FROM invites WHERE id = ?").bind(id).first<{ used_at: number | null; used_by: string | null }>();

/** `joiner` accepts an invite of `host`'s tenant with `role` and switches to it: a session there. */
async function join(joiner: Session, host: Session, role: "Admin" | "Developer" | "Viewer" = "Developer"): Promise<Session> {
  const invite = await createInvite(host.token, { role });
  const accepted = await accept(joiner.token, invite.token);
  expect(accepted.status, accepted.text).toBe(201);
  const switched = await switchTenant(joiner.token, host.tenantId);
  expect(switched.status, switched.text).toBe(200);
  return { ...joiner, tenantId: host.tenantId, tenantName: host.tenantName, token: switched.body.accessToken, refreshToken: switched.body.refreshToken };
}

describe("must show: an Owner of A joins B, works there with the invite's role, is removed from B and keeps A", () => {
  it("accept → switch → act as Admin in B → removed → B tokens 401, A still works", async () => {
    const a = await newTenant("must-a");
    const b = await newTenant("must-b");
    const invite = await createInvite(b.token, { role: "Admin" });

    const accepted = await accept(a.token, invite.token);
    expect(accepted.status, accepted.text).toBe(201);
    expect(Object.keys(accepted.body)).toEqual(["id", "tenantId", "email", "status", "role", "createdAt", "updatedAt", "redirectUrl"]);
    expect(accepted.body).toMatchObject({ id: a.userId, tenantId: b.tenantId, email: a.email, status: "Active", role: "Admin" });
    expect((await call("GET", `/api/v1/invites/${invite.id}`, { token: b.token })).body).toMatchObject({ status: "Used" });

    const switched = await switchTenant(a.token, b.tenantId);
    expect(switched.status, switched.text).toBe(200);
    expect(switched.body).toMatchObject({ tokenType: "Bearer", expiresIn: 900, tenantId: b.tenantId });
    expect(switched.body.tenants).toEqual(
      expect.arrayContaining([
        { tenantId: a.tenantId, tenantName: a.tenantName, role: "Owner" },
        { tenantId: b.tenantId, tenantName: b.tenantName, role: "Admin" },
      ]),
    );
    expect(decodeJwt(switched.body.accessToken)).toMatchObject({ sub: a.userId, tenant_id: b.tenantId, role: "Admin" });
    const inB = switched.body.accessToken as string;

    // Admin in B: creates invites there, but may not grant Admin (only an Owner does).
    const created = await call("POST", "/api/v1/invites", { token: inB, body: { role: "Viewer" } });
    expect(created.status, created.text).toBe(201);
    expect(created.body.tenantId).toBe(b.tenantId);
    expectError(await call("POST", "/api/v1/invites", { token: inB, body: { role: "Admin" } }), 403, "ROLE_NOT_ASSIGNABLE");
    expect((await call("GET", "/api/v1/users/me", { token: inB })).body).toMatchObject({ tenantId: b.tenantId, role: "Admin" });
    // ... and still Owner in A with the A token.
    expect((await call("GET", "/api/v1/users/me", { token: a.token })).body).toMatchObject({ tenantId: a.tenantId, role: "Owner" });

    const removed = await call("DELETE", `/api/v1/users/${a.userId}`, { token: b.token });
    expect(removed.status, removed.text).toBe(204);
    expectError(await call("GET", "/api/v1/users/me", { token: inB }), 401, "UNAUTHORIZED");
    expectError(await call("POST", "/api/v1/auth/refresh", { body: { refreshToken: switched.body.refreshToken } }), 401, "INVALID_REFRESH_TOKEN");
    expectError(await switchTenant(a.token, b.tenantId), 403, "NOT_A_MEMBER");

    expect((await call("GET", "/api/v1/users/me", { token: a.token })).body).toMatchObject({ tenantId: a.tenantId, role: "Owner" });
    expect((await call("POST", "/api/v1/invites", { token: a.token, body: {} })).status).toBe(201);
    const again = await loginTo(a.email);
    expect(again.status).toBe(200);
    expect(again.body.tenantId).toBe(a.tenantId);
    expect(again.body.tenants).toEqual([{ tenantId: a.tenantId, tenantName: a.tenantName, role: "Owner" }]);
    // the account may be invited back
    const back = await createInvite(b.token, { role: "Viewer" });
    expect((await accept(a.token, back.token)).status).toBe(201);
  });
});

describe("POST /api/v1/invites/{token}/accept", () => {
  it("401 without a bearer, or with an invalid one; the invite stays Pending", async () => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token);
    expectError(await call("POST", `/api/v1/invites/${invite.token}/accept`), 401, "UNAUTHORIZED");
    expectError(await accept("not.a.jwt", invite.token), 401, "UNAUTHORIZED");
    expect((await inviteRow(invite.id))!.used_at).toBeNull();
  });

  it("404 INVITE_NOT_FOUND for an unknown, malformed or renewed-away token", async () => {
    const owner = await newTenant();
    const joiner = await newTenant();
    expectError(await accept(joiner.token, `inv_${"A".repeat(43)}`), 404, "INVITE_NOT_FOUND");
    expectError(await accept(joiner.token, "inv_short"), 404, "INVITE_NOT_FOUND");
    expectError(await accept(joiner.token, "garbage"), 404, "INVITE_NOT_FOUND");
    const invite = await createInvite(owner.token);
    expect((await call("POST", `/api/v1/invites/${invite.id}/renew`, { token: owner.token, body: {} })).status).toBe(200);
    expectError(await accept(joiner.token, invite.token), 404, "INVITE_NOT_FOUND");
  });

  it("409 ALREADY_MEMBER for a member (Active or Inactive) of the invite's tenant; the invite stays Pending", async () => {
    const owner = await newTenant();
    const dev = await newMember(owner, "Developer");
    const invite = await createInvite(owner.token, { role: "Viewer" });
    expectError(await accept(owner.token, invite.token), 409, "ALREADY_MEMBER");
    expectError(await accept(dev.token, invite.token), 409, "ALREADY_MEMBER");
    expect((await inviteRow(invite.id))!.used_at).toBeNull();
    expect(await membership(owner.tenantId, dev.userId)).toEqual({ role: "Developer", status: "Active" });

    // Deactivated in the invite's tenant, signed in elsewhere: an invite does not reactivate them.
    const other = await newTenant();
    const both = await join(dev, other);
    await env.DB.prepare("UPDATE memberships SET status = 'Inactive' WHERE tenant_id = ? AND account_id = ?").bind(owner.tenantId, dev.userId).run();
    expectError(await accept(both.token, invite.token), 409, "ALREADY_MEMBER");
    expect(await membership(owner.tenantId, dev.userId)).toEqual({ role: "Developer", status: "Inactive" });
    expect((await inviteRow(invite.id))!.used_at).toBeNull();
  });

  it("409 INVITE_USED, INVITE_EXPIRED, INVITE_REVOKED", async () => {
    const owner = await newTenant();
    const joiner = await newTenant();
    const used = await createInvite(owner.token);
    expect((await register(used.token)).status).toBe(201);
    expectError(await accept(joiner.token, used.token), 409, "INVITE_USED");

    const expired = await createInvite(owner.token);
    await env.DB.prepare("UPDATE invites SET expires_at = ? WHERE id = ?").bind(Date.now() - 1000, expired.id).run();
    expectError(await accept(joiner.token, expired.token), 409, "INVITE_EXPIRED");

    const revoked = await createInvite(owner.token);
    expect((await call("DELETE", `/api/v1/invites/${revoked.id}`, { token: owner.token })).status).toBe(204);
    expectError(await accept(joiner.token, revoked.token), 409, "INVITE_REVOKED");
    expect(await membership(owner.tenantId, joiner.userId)).toBeNull();
  });

  it("an invite expires by the clock: accepted just before, refused just after (vi.setSystemTime)", async () => {
    const owner = await newTenant();
    const early = await newTenant();
    const late = await newTenant();
    const first = await createInvite(owner.token, { validityDays: 1 });
    const second = await createInvite(owner.token, { validityDays: 1 });
    try {
      // Sign in at each moment: an access token lives 15 minutes.
      vi.setSystemTime(Date.parse(first.expiresAt) - 1000);
      expect((await accept((await login(early.email)).accessToken, first.token)).status).toBe(201);
      vi.setSystemTime(Date.parse(second.expiresAt) + 1000);
      expectError(await accept((await login(late.email)).accessToken, second.token), 409, "INVITE_EXPIRED");
    } finally {
      vi.useRealTimers();
    }
  });

  it("409 EMAIL_MISMATCH when the invite is bound to another email (case-insensitively equal is fine)", async () => {
    const owner = await newTenant();
    const joiner = await newTenant();
    const bound = await createInvite(owner.token, { email: uniqueEmail("someone-else") });
    expectError(await accept(joiner.token, bound.token), 409, "EMAIL_MISMATCH");
    expect((await inviteRow(bound.id))!.used_at).toBeNull();
    const mine = await createInvite(owner.token, { email: joiner.email.toUpperCase(), role: "Viewer" });
    // An email-bound invite is accepted only by an account that proved the address (issue 13).
    await verifyEmailOf(joiner.email);
    const accepted = await accept(joiner.token, mine.token);
    expect(accepted.status, accepted.text).toBe(201);
    expect(accepted.body).toMatchObject({ role: "Viewer", tenantId: owner.tenantId });
  });

  it("409 INVITE_AUTHORITY_LAPSED for an Admin invite whose creator is no longer an active Owner; honoured once restored", async () => {
    const owner = await newTenant();
    const joiner = await newTenant();
    const invite = await createInvite(owner.token, { role: "Admin" });
    await env.DB.prepare("UPDATE memberships SET role = 'Admin' WHERE tenant_id = ? AND account_id = ?").bind(owner.tenantId, owner.userId).run();
    expectError(await accept(joiner.token, invite.token), 409, "INVITE_AUTHORITY_LAPSED");
    expect((await inviteRow(invite.id))!.used_at).toBeNull();
    await env.DB.prepare("UPDATE memberships SET role = 'Owner' WHERE tenant_id = ? AND account_id = ?").bind(owner.tenantId, owner.userId).run();
    expect((await accept(joiner.token, invite.token)).status).toBe(201);
  });

  it("429 RATE_LIMITED: accepts and registers from one IP share the register limit", async () => {
    const owner = await newTenant();
    const joiner = await newTenant();
    const ip = `10.77.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    const limit = Number(env.REGISTER_LIMIT_PER_HOUR);
    for (let i = 0; i < limit / 2; i++) expect((await register("inv_nope", uniqueEmail(), PASSWORD, ip)).status).toBe(404);
    for (let i = 0; i < limit / 2; i++) expect((await accept(joiner.token, "inv_nope", ip)).status).toBe(404);
    const invite = await createInvite(owner.token);
    const limited = expectError(await accept(joiner.token, invite.token, ip), 429, "RATE_LIMITED");
    expect(limited.details).toMatchObject({ policy: "register" });
    expect((await inviteRow(invite.id))!.used_at).toBeNull();
    expectError(await register(invite.token, uniqueEmail(), PASSWORD, ip), 429, "RATE_LIMITED");
  });

  it("503 SERVICE_UNAVAILABLE (fail closed) when the limiter cannot be reached; nothing is written", async () => {
    const owner = await newTenant();
    const joiner = await newTenant();
    const invite = await createInvite(owner.token);
    const unreachable = {
      idFromName: () => {
        throw new Error("Durable Object namespace unavailable");
      },
    };
    const response = await app.request(
      `/api/v1/invites/${invite.token}/accept`,
      { method: "POST", headers: { Authorization: `Bearer ${joiner.token}` } },
      { ...env, RATE_LIMITER: unreachable },
    );
    expectError({ status: response.status, headers: response.headers, text: "", body: await response.json() }, 503, "SERVICE_UNAVAILABLE");
    expect((await inviteRow(invite.id))!.used_at).toBeNull();
    expect(await membership(owner.tenantId, joiner.userId)).toBeNull();
  });

  it("the accepted membership shows in the tenant's users list with the membership's timestamps", async () => {
    const owner = await newTenant();
    const joiner = await newTenant();
    const invite = await createInvite(owner.token, { role: "Viewer" });
    const accepted = await accept(joiner.token, invite.token);
    const list = await call("GET", "/api/v1/users?Role=Viewer", { token: owner.token });
    const { redirectUrl, ...member } = accepted.body;
    expect(redirectUrl).toBeNull();
    expect(list.body).toEqual({ total: 1, items: [member], nextCursor: null, prevCursor: null });
    expect((await inviteRow(invite.id))!.used_by).toBe(joiner.userId);
  });
});

describe("register with an existing account's email", () => {
  it("409 EMAIL_TAKEN whose message says to sign in and accept; the invite stays Pending", async () => {
    const owner = await newTenant();
    const existing = await newTenant();
    const invite = await createInvite(owner.token);
    const body = expectError(await register(invite.token, existing.email), 409, "EMAIL_TAKEN");
    expect(body.message).toMatch(/sign in/i);
    expect(body.message).toMatch(/accept/i);
    expect((await inviteRow(invite.id))!.used_at).toBeNull();
  });
});

describe("POST /api/v1/auth/login with several tenants", () => {
  it("defaults to the tenant signed in to most recently (login or switch), else the oldest membership", async () => {
    const a = await newTenant("login-a");
    const b = await newTenant("login-b");
    await join(a, b, "Viewer");
    // the switch into B made B the most recent
    expect((await loginTo(a.email)).body.tenantId).toBe(b.tenantId);
    expect((await loginTo(a.email, a.tenantId)).body.tenantId).toBe(a.tenantId);
    const latest = await loginTo(a.email);
    expect(latest.body.tenantId).toBe(a.tenantId);
    expect(latest.body.tenants).toEqual([
      { tenantId: a.tenantId, tenantName: a.tenantName, role: "Owner" },
      { tenantId: b.tenantId, tenantName: b.tenantName, role: "Viewer" },
    ]);
    // the most recent tenant is no longer available: the oldest active membership
    await env.DB.prepare("UPDATE memberships SET status = 'Inactive' WHERE tenant_id = ? AND account_id = ?").bind(a.tenantId, a.userId).run();
    const fallback = await loginTo(a.email);
    expect(fallback.body.tenantId).toBe(b.tenantId);
    expect(fallback.body.tenants).toEqual([{ tenantId: b.tenantId, tenantName: b.tenantName, role: "Viewer" }]);
  });

  it("403 NOT_A_MEMBER for a right password and a tenant without an active membership (unknown tenants too)", async () => {
    const a = await newTenant();
    const b = await newTenant();
    expectError(await loginTo(a.email, b.tenantId), 403, "NOT_A_MEMBER");
    expectError(await loginTo(a.email, crypto.randomUUID()), 403, "NOT_A_MEMBER");
    // a wrong password never reveals membership
    expectError(await loginTo(a.email, b.tenantId, "wrong password!"), 401, "INVALID_CREDENTIALS");
    expectError(await loginTo(a.email, "not-a-uuid"), 400, "VALIDATION_ERROR");
  });

  it("401 INVALID_CREDENTIALS when no membership anywhere is active, with or without tenantId", async () => {
    const owner = await newTenant();
    const dev = await newMember(owner, "Developer");
    await env.DB.prepare("UPDATE memberships SET status = 'Inactive' WHERE account_id = ?").bind(dev.userId).run();
    const plain = expectError(await loginTo(dev.email), 401, "INVALID_CREDENTIALS");
    const asked = expectError(await loginTo(dev.email, owner.tenantId), 401, "INVALID_CREDENTIALS");
    const unknown = expectError(await loginTo(uniqueEmail("nobody")), 401, "INVALID_CREDENTIALS");
    expect(asked).toEqual(plain);
    expect(unknown).toEqual(plain);
  });
});

describe("POST /api/v1/auth/switch-tenant", () => {
  it("200 a login-shaped pair whose refresh token stays in that tenant; the previous session keeps working", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const inB = await join(a, b, "Developer");
    const refreshed = await call("POST", "/api/v1/auth/refresh", { body: { refreshToken: inB.refreshToken } });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(decodeJwt(refreshed.body.accessToken)).toMatchObject({ sub: a.userId, tenant_id: b.tenantId, role: "Developer" });
    expect((await call("GET", "/api/v1/users/me", { token: a.token })).body.tenantId).toBe(a.tenantId);
    const back = await switchTenant(inB.token, a.tenantId);
    expect(back.status).toBe(200);
    expect(decodeJwt(back.body.accessToken)).toMatchObject({ tenant_id: a.tenantId, role: "Owner" });
  });

  it("403 NOT_A_MEMBER for another tenant, an unknown tenant and an inactive membership; 400 for a bad id; 401 without a bearer", async () => {
    const a = await newTenant();
    const b = await newTenant();
    expectError(await switchTenant(a.token, b.tenantId), 403, "NOT_A_MEMBER");
    expectError(await switchTenant(a.token, crypto.randomUUID()), 403, "NOT_A_MEMBER");
    await join(a, b);
    await env.DB.prepare("UPDATE memberships SET status = 'Inactive' WHERE tenant_id = ? AND account_id = ?").bind(b.tenantId, a.userId).run();
    expectError(await switchTenant(a.token, b.tenantId), 403, "NOT_A_MEMBER");
    expectError(await call("POST", "/api/v1/auth/switch-tenant", { token: a.token, body: { tenantId: "nope" } }), 400, "VALIDATION_ERROR");
    expectError(await call("POST", "/api/v1/auth/switch-tenant", { body: { tenantId: b.tenantId } }), 401, "UNAUTHORIZED");
  });

  it("deactivation ends only that tenant's access: the other tenant's session and refresh keep working", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const inB = await join(a, b, "Viewer");
    expect((await call("PATCH", `/api/v1/users/${a.userId}`, { token: b.token, body: { status: "Inactive" } })).status).toBe(200);
    expectError(await call("GET", "/api/v1/users/me", { token: inB.token }), 401, "UNAUTHORIZED");
    expectError(await call("POST", "/api/v1/auth/refresh", { body: { refreshToken: inB.refreshToken } }), 401, "INVALID_REFRESH_TOKEN");
    expect((await call("GET", "/api/v1/users/me", { token: a.token })).status).toBe(200);
    expect((await call("POST", "/api/v1/auth/refresh", { body: { refreshToken: a.refreshToken } })).status).toBe(200);
  });
});

describe("GET /api/v1/users/me/tenants", () => {
  it("every membership with its role and status, oldest first; 401 without a bearer", async () => {
    const a = await newTenant();
    const b = await newTenant();
    await join(a, b, "Viewer");
    await env.DB.prepare("UPDATE memberships SET status = 'Inactive' WHERE tenant_id = ? AND account_id = ?").bind(b.tenantId, a.userId).run();
    const response = await call("GET", "/api/v1/users/me/tenants", { token: a.token });
    expect(response.status, response.text).toBe(200);
    expect(response.body.items.map((i: Record<string, unknown>) => ({ ...i, joinedAt: typeof i.joinedAt }))).toEqual([
      { tenantId: a.tenantId, tenantName: a.tenantName, role: "Owner", status: "Active", joinedAt: "string" },
      { tenantId: b.tenantId, tenantName: b.tenantName, role: "Viewer", status: "Inactive", joinedAt: "string" },
    ]);
    expectError(await call("GET", "/api/v1/users/me/tenants"), 401, "UNAUTHORIZED");
  });
});

describe("DELETE /api/v1/users/{id}", () => {
  it("204: the membership is deleted, that tenant's sessions revoked in the same batch, the account and its other memberships stay", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const inB = await join(a, b, "Developer");
    expect((await call("DELETE", `/api/v1/users/${a.userId}`, { token: b.token })).status).toBe(204);
    expect(await membership(b.tenantId, a.userId)).toBeNull();
    expect(await membership(a.tenantId, a.userId)).toEqual({ role: "Owner", status: "Active" });
    const live = await env.DB.prepare("SELECT tenant_id FROM refresh_tokens WHERE account_id = ? AND revoked_at IS NULL").bind(a.userId).all<{ tenant_id: string }>();
    expect(new Set(live.results.map((r) => r.tenant_id))).toEqual(new Set([a.tenantId]));
    expectError(await call("GET", "/api/v1/users/me", { token: inB.token }), 401, "UNAUTHORIZED");
    expect((await call("GET", `/api/v1/users/${a.userId}`, { token: b.token })).status).toBe(404);
  });

  it("same rules as PATCH: 403 for an Admin removing an Admin or an Owner, and for Developers and Viewers", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const admin2 = await newMember(owner, "Admin");
    const dev = await newMember(owner, "Developer");
    const viewer = await newMember(owner, "Viewer");
    expectError(await call("DELETE", `/api/v1/users/${admin2.userId}`, { token: admin.token }), 403, "FORBIDDEN");
    expectError(await call("DELETE", `/api/v1/users/${admin.userId}`, { token: admin.token }), 403, "FORBIDDEN");
    expectError(await call("DELETE", `/api/v1/users/${owner.userId}`, { token: admin.token }), 403, "FORBIDDEN");
    expectError(await call("DELETE", `/api/v1/users/${viewer.userId}`, { token: dev.token }), 403, "FORBIDDEN");
    expectError(await call("DELETE", `/api/v1/users/${dev.userId}`, { token: viewer.token }), 403, "FORBIDDEN");
    expect((await call("DELETE", `/api/v1/users/${viewer.userId}`, { token: admin.token })).status).toBe(204);
    expect((await call("DELETE", `/api/v1/users/${admin2.userId}`, { token: owner.token })).status).toBe(204);
  });

  it("409 LAST_OWNER for the last active Owner; with two Owners one may remove the other", async () => {
    const owner = await newTenant();
    expectError(await call("DELETE", `/api/v1/users/${owner.userId}`, { token: owner.token }), 409, "LAST_OWNER");
    const second = await newMember(owner, "Admin");
    await env.DB.prepare("UPDATE memberships SET role = 'Owner' WHERE account_id = ?").bind(second.userId).run();
    expect((await call("DELETE", `/api/v1/users/${second.userId}`, { token: owner.token })).status).toBe(204);
    expectError(await call("DELETE", `/api/v1/users/${owner.userId}`, { token: owner.token }), 409, "LAST_OWNER");
  });

  it("404 USER_NOT_FOUND for another tenant's user, an unknown or malformed id; 401 without a bearer", async () => {
    const owner = await newTenant();
    const stranger = await newTenant();
    for (const id of [stranger.userId, crypto.randomUUID(), "nope"]) {
      expectError(await call("DELETE", `/api/v1/users/${id}`, { token: owner.token }), 404, "USER_NOT_FOUND");
    }
    expect(await membership(stranger.tenantId, stranger.userId)).not.toBeNull();
    expectError(await call("DELETE", `/api/v1/users/${owner.userId}`), 401, "UNAUTHORIZED");
  });
});

describe("DELETE /api/v1/users/me (leave)", () => {
  it("204 for a member: gone from this tenant only; 409 LAST_OWNER for the last active Owner; 401 without a bearer", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const inB = await join(a, b, "Viewer");
    expect((await call("DELETE", "/api/v1/users/me", { token: inB.token })).status).toBe(204);
    expect(await membership(b.tenantId, a.userId)).toBeNull();
    expectError(await call("GET", "/api/v1/users/me", { token: inB.token }), 401, "UNAUTHORIZED");
    expectError(await call("POST", "/api/v1/auth/refresh", { body: { refreshToken: inB.refreshToken } }), 401, "INVALID_REFRESH_TOKEN");
    expect((await call("GET", "/api/v1/users/me", { token: a.token })).status).toBe(200);
    expectError(await call("DELETE", "/api/v1/users/me", { token: a.token }), 409, "LAST_OWNER");
    expect(await membership(a.tenantId, a.userId)).toEqual({ role: "Owner", status: "Active" });
    expectError(await call("DELETE", "/api/v1/users/me"), 401, "UNAUTHORIZED");
  });
});

describe("GET /api/v1/tenants/{id}", () => {
  it("200 for any member of the tenant, with memberCount; 404 TENANT_NOT_FOUND for another tenant or an unknown id; 401 without a bearer", async () => {
    const owner = await newTenant();
    const viewer = await newMember(owner, "Viewer");
    const dev = await newMember(owner, "Developer");
    await env.DB.prepare("UPDATE memberships SET status = 'Inactive' WHERE account_id = ?").bind(dev.userId).run();
    const other = await newTenant();
    for (const session of [owner, viewer]) {
      const response = await call("GET", `/api/v1/tenants/${owner.tenantId}`, { token: session.token });
      expect(response.status, response.text).toBe(200);
      expect(Object.keys(response.body)).toEqual(["id", "name", "createdAt", "updatedAt", "memberCount"]);
      expect(response.body).toMatchObject({ id: owner.tenantId, name: owner.tenantName, memberCount: 3 });
    }
    expectError(await call("GET", `/api/v1/tenants/${other.tenantId}`, { token: owner.token }), 404, "TENANT_NOT_FOUND");
    expectError(await call("GET", `/api/v1/tenants/${crypto.randomUUID()}`, { token: owner.token }), 404, "TENANT_NOT_FOUND");
    expectError(await call("GET", `/api/v1/tenants/${owner.tenantId}`), 401, "UNAUTHORIZED");
    // a member of both sees each tenant from a session in it, never the other
    const inOther = await join(viewer, other, "Viewer");
    expect((await call("GET", `/api/v1/tenants/${other.tenantId}`, { token: inOther.token })).body.memberCount).toBe(2);
    expectError(await call("GET", `/api/v1/tenants/${owner.tenantId}`, { token: inOther.token }), 404, "TENANT_NOT_FOUND");
  });
});

describe("a tenant that no longer exists", () => {
  it("404 TENANT_NOT_FOUND from GET /tenants/{id}, DELETE /users/me and DELETE /users/{id}; 404 INVITE_NOT_FOUND for its invites; switch and login refuse it", async () => {
    const gone = await newTenant("gone");
    const dev = await newMember(gone, "Developer");
    const invite = await createInvite(gone.token);
    const joiner = await newTenant("gone-joiner");
    await env.DB.prepare("DELETE FROM tenants WHERE id = ?").bind(gone.tenantId).run();
    expectError(await call("GET", `/api/v1/tenants/${gone.tenantId}`, { token: gone.token }), 404, "TENANT_NOT_FOUND");
    expectError(await call("DELETE", "/api/v1/users/me", { token: dev.token }), 404, "TENANT_NOT_FOUND");
    expectError(await call("DELETE", `/api/v1/users/${dev.userId}`, { token: gone.token }), 404, "TENANT_NOT_FOUND");
    expect(await membership(gone.tenantId, dev.userId)).not.toBeNull();
    expectError(await accept(joiner.token, invite.token), 404, "INVITE_NOT_FOUND");
    expectError(await switchTenant(joiner.token, gone.tenantId), 403, "NOT_A_MEMBER");
    // Its members' only membership is in a tenant that is gone: no active membership anywhere.
    expectError(await loginTo(dev.email), 401, "INVALID_CREDENTIALS");
    // GET /users/me/tenants lists memberships of tenants that exist only.
    expect((await call("GET", "/api/v1/users/me/tenants", { token: dev.token })).body).toEqual({ items: [], nextCursor: null, prevCursor: null });
  });
});
