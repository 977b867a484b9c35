import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, createInvite, expectError, newMember, newTenant, randomIp, register, uniqueEmail, type Session } from "../helpers";

const DAY = 24 * 60 * 60 * 1000;
const PREVIEW_FIELDS = ["tenantName", "targetRole", "expiresAt", "status", "email", "allowedDomains", "redirectUrl", "publicMetadata"];

/** Moves an invite's expiry instead of waiting for it. */
async function setExpiry(inviteId: string, expiresAt: number) {
  const result = await env.DB.prepare("UPDATE invites SET expires_at = ? WHERE id = ?").bind(expiresAt, inviteId).run();
  expect(result.meta.changes).toBe(1);
}
const expire = (inviteId: string) => setExpiry(inviteId, Date.now() - 1000);

async function setUser(userId: string, fields: { role?: string; status?: string }) {
  const [column, value] = Object.entries(fields)[0]!;
  const result = await env.DB.prepare(`UPDATE memberships SET ${column} = ? WHERE account_id = ?`).bind(value, userId).run();
  expect(result.meta.changes).toBe(1);
}

const getInvite = (session: Session, id: string) => call("GET", `/api/v1/invites/${id}`, { token: session.token });
const preview = (token: string, ip?: string) => call("GET", `/api/v1/invites/${token}`, { ip });
const revoke = (session: Session, id: string) => call("DELETE", `/api/v1/invites/${id}`, { token: session.token });
const renew = (session: Session, id: string, body: Record<string, unknown> = {}) =>
  call("POST", `/api/v1/invites/${id}/renew`, { token: session.token, body });

async function statusOf(session: Session, id: string): Promise<string> {
  const response = await getInvite(session, id);
  expect(response.status, response.text).toBe(200);
  return response.body.status;
}

/** A well-formed token that no invite has. */
const unknownToken = () => `inv_${"A".repeat(43)}`;

describe("GET /api/v1/invites/{id} (admin view)", () => {
  it("200 with the full invite for the tenant's Owner and Admins", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const created = await createInvite(owner.token, { role: "Viewer", email: "Someone@Example.test" });
    for (const session of [owner, admin]) {
      const response = await getInvite(session, created.id);
      expect(response.status, response.text).toBe(200);
      expect(response.body).toEqual({ ...created, email: "someone@example.test" });
      expect(response.headers.get("RateLimit-Policy")).toBeNull();
    }
  });

  it("404 INVITE_NOT_FOUND for another tenant's id (never 403) and for an unknown id", async () => {
    const owner = await newTenant();
    const other = await newTenant();
    const foreign = await createInvite(other.token);
    expectError(await getInvite(owner, foreign.id), 404, "INVITE_NOT_FOUND");
    expectError(await getInvite(owner, crypto.randomUUID()), 404, "INVITE_NOT_FOUND");
    expect((await getInvite(other, foreign.id)).status).toBe(200);
  });

  it("401 without credentials, 403 FORBIDDEN for Developer and Viewer", async () => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token);
    expectError(await call("GET", `/api/v1/invites/${invite.id}`), 401, "UNAUTHORIZED");
    for (const role of ["Developer", "Viewer"] as const) {
      expectError(await getInvite(await newMember(owner, role), invite.id), 403, "FORBIDDEN");
    }
  });

  it("404 INVITE_NOT_FOUND for anything that is neither a UUID nor an inv_ token, with or without credentials", async () => {
    const owner = await newTenant();
    for (const key of ["hello", "12345", "not-a-uuid-0000-0000-000000000000", "INV_abc"]) {
      expectError(await call("GET", `/api/v1/invites/${key}`), 404, "INVITE_NOT_FOUND");
      expectError(await call("GET", `/api/v1/invites/${key}`, { token: owner.token }), 404, "INVITE_NOT_FOUND");
    }
  });
});

describe("GET /api/v1/invites/{token} (public preview)", () => {
  it("200 with exactly {tenantName, targetRole, expiresAt, status, email (masked), allowedDomains, redirectUrl, publicMetadata}: never the token or tenantId", async () => {
    const owner = await newTenant("Initech");
    const created = await createInvite(owner.token, { role: "Admin", email: "Bob.Smith@Initech.test", validityDays: 3 });
    const response = await preview(created.token);
    expect(response.status, response.text).toBe(200);
    expect(Object.keys(response.body)).toEqual(PREVIEW_FIELDS);
    expect(response.body).toEqual({
      tenantName: owner.tenantName,
      targetRole: "Admin",
      expiresAt: created.expiresAt,
      status: "Pending",
      email: "b***@initech.test",
      allowedDomains: null,
      redirectUrl: null,
      publicMetadata: null,
    });
    expect(response.text).not.toContain(created.token);
    expect(response.text).not.toContain(owner.tenantId);
    expect(response.text).not.toContain(created.id);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(response.headers.get("RateLimit-Policy")).toContain('"preview"');
  });

  it("email is null for an unbound invite, and no credentials are needed", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token, { role: "Viewer" });
    const response = await preview(created.token);
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({ targetRole: "Viewer", status: "Pending", email: null });
  });

  it("has no side effects: previews leave the invite untouched and redeemable", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token);
    const before = (await getInvite(owner, created.id)).body;
    for (let i = 0; i < 3; i++) expect((await preview(created.token)).status).toBe(200);
    expect((await getInvite(owner, created.id)).body).toEqual(before);
    expect((await register(created.token)).status).toBe(201);
  });

  it("reports each derived status: Expired, Revoked, Used", async () => {
    const owner = await newTenant();
    const [expired, revoked, used] = [await createInvite(owner.token), await createInvite(owner.token), await createInvite(owner.token)];
    await expire(expired.id);
    expect((await revoke(owner, revoked.id)).status).toBe(204);
    expect((await register(used.token)).status).toBe(201);
    expect((await preview(expired.token)).body.status).toBe("Expired");
    expect((await preview(revoked.token)).body.status).toBe("Revoked");
    expect((await preview(used.token)).body.status).toBe("Used");
  });

  it("404 INVITE_NOT_FOUND for an unknown or malformed token, and once the tenant is gone", async () => {
    expectError(await preview(unknownToken()), 404, "INVITE_NOT_FOUND");
    expectError(await preview("inv_tooShort"), 404, "INVITE_NOT_FOUND");
    expectError(await preview(`inv_${"A".repeat(42)}!`), 404, "INVITE_NOT_FOUND");
    const owner = await newTenant();
    const created = await createInvite(owner.token);
    await env.DB.prepare("DELETE FROM tenants WHERE id = ?").bind(owner.tenantId).run();
    expectError(await preview(created.token), 404, "INVITE_NOT_FOUND");
  });

  it("429 RATE_LIMITED after PREVIEW_LIMIT_PER_HOUR previews from one IP; the admin view from that IP is not limited", async () => {
    const limit = Number(env.PREVIEW_LIMIT_PER_HOUR);
    expect(limit).toBeGreaterThan(0);
    const owner = await newTenant();
    const created = await createInvite(owner.token);
    const ip = randomIp();
    for (let i = 0; i < limit; i++) {
      // unknown tokens count too: the limit is what stops token guessing
      const response = await preview(i % 2 ? created.token : unknownToken(), ip);
      expect(response.status, response.text).toBe(i % 2 ? 200 : 404);
    }
    const limited = expectError(await preview(created.token, ip), 429, "RATE_LIMITED");
    expect(limited.details).toMatchObject({ policy: "preview", limit });
    expect(Number((await preview(created.token, ip)).headers.get("Retry-After"))).toBeGreaterThan(0);
    expect((await preview(created.token, randomIp())).status).toBe(200);
    const adminView = await call("GET", `/api/v1/invites/${created.id}`, { token: owner.token, ip });
    expect(adminView.status, adminView.text).toBe(200);
  });
});

describe("DELETE /api/v1/invites/{id} (revoke)", () => {
  it("204; the invite is Revoked, its preview says so and its register is 409 INVITE_REVOKED", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token);
    const response = await revoke(owner, created.id);
    expect(response.status, response.text).toBe(204);
    expect(response.text).toBe("");
    const after = (await getInvite(owner, created.id)).body;
    expect(after).toMatchObject({ status: "Revoked", usedAt: null });
    expect(Date.parse(after.revokedAt)).toBeGreaterThan(Date.now() - 60_000);
    expectError(await register(created.token), 409, "INVITE_REVOKED");
    expect(await statusOf(owner, created.id)).toBe("Revoked");
  });

  it("is idempotent: revoking twice is 204 both times and keeps the first revokedAt", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token);
    expect((await revoke(owner, created.id)).status).toBe(204);
    const first = (await getInvite(owner, created.id)).body.revokedAt;
    expect((await revoke(owner, created.id)).status).toBe(204);
    expect((await getInvite(owner, created.id)).body.revokedAt).toBe(first);
  });

  it("409 INVITE_NOT_REVOCABLE for a used invite, which stays Used", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token);
    expect((await register(created.token)).status).toBe(201);
    expectError(await revoke(owner, created.id), 409, "INVITE_NOT_REVOCABLE");
    expect(await statusOf(owner, created.id)).toBe("Used");
  });

  it("an expired invite can be revoked", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token);
    await expire(created.id);
    expect((await revoke(owner, created.id)).status).toBe(204);
    expect(await statusOf(owner, created.id)).toBe("Revoked");
  });

  it("403 ROLE_NOT_ASSIGNABLE when an Admin revokes an Admin invite; Admins revoke the rest, Owners everything", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const adminInvite = await createInvite(owner.token, { role: "Admin" });
    const developerInvite = await createInvite(owner.token, { role: "Developer" });
    expectError(await revoke(admin, adminInvite.id), 403, "ROLE_NOT_ASSIGNABLE");
    expect(await statusOf(owner, adminInvite.id)).toBe("Pending");
    expect((await revoke(admin, developerInvite.id)).status).toBe(204);
    expect((await revoke(owner, adminInvite.id)).status).toBe(204);
  });

  it("404 INVITE_NOT_FOUND for another tenant's id or a malformed one; 401 and 403 FORBIDDEN as for every admin route", async () => {
    const owner = await newTenant();
    const other = await newTenant();
    const foreign = await createInvite(other.token);
    expectError(await revoke(owner, foreign.id), 404, "INVITE_NOT_FOUND");
    expect(await statusOf(other, foreign.id)).toBe("Pending");
    expectError(await revoke(owner, "not-an-id"), 404, "INVITE_NOT_FOUND");
    expectError(await revoke(owner, foreign.token), 404, "INVITE_NOT_FOUND");
    expectError(await call("DELETE", `/api/v1/invites/${foreign.id}`), 401, "UNAUTHORIZED");
    const invite = await createInvite(owner.token);
    expectError(await revoke(await newMember(owner, "Viewer"), invite.id), 403, "FORBIDDEN");
  });

  it("racing a registration: exactly one of revoke and register takes effect", async () => {
    const owner = await newTenant();
    const invites = await Promise.all(Array.from({ length: 8 }, () => createInvite(owner.token)));
    const outcomes = await Promise.all(
      invites.map(async (invite) => {
        const email = uniqueEmail("racer");
        const [revoked, registered] = await Promise.all([revoke(owner, invite.id), register(invite.token, email)]);
        return { invite, email, revoked: revoked.status, registered: registered.status, registeredCode: registered.body?.code };
      }),
    );
    for (const outcome of outcomes) {
      const status = await statusOf(owner, outcome.invite.id);
      if (outcome.registered === 201) {
        expect(outcome.revoked).toBe(409);
        expect(status).toBe("Used");
      } else {
        expect(outcome.revoked).toBe(204);
        expect(outcome.registered).toBe(409);
        expect(outcome.registeredCode).toBe("INVITE_REVOKED");
        expect(status).toBe("Revoked");
        const user = await env.DB.prepare("SELECT id FROM accounts WHERE email = ?").bind(outcome.email).first();
        expect(user).toBeNull();
      }
    }
  });
});

describe("POST /api/v1/invites/{id}/renew", () => {
  it("200: same id, a fresh token and expiry; the old token is 404 on preview and register at once", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token, { validityDays: 1 });
    const before = Date.now();
    const response = await renew(owner, created.id, { validityDays: 14 });
    expect(response.status, response.text).toBe(200);
    const renewed = response.body;
    expect(renewed).toMatchObject({ id: created.id, tenantId: owner.tenantId, status: "Pending", usedAt: null, revokedAt: null });
    expect(renewed.token).toMatch(/^inv_[A-Za-z0-9_-]{43}$/);
    expect(renewed.token).not.toBe(created.token);
    expect(Date.parse(renewed.expiresAt)).toBeGreaterThanOrEqual(before + 14 * DAY);
    expect(Date.parse(renewed.expiresAt)).toBeLessThanOrEqual(Date.now() + 14 * DAY);
    expect((await getInvite(owner, created.id)).body.token).toBe(renewed.token);

    expectError(await preview(created.token), 404, "INVITE_NOT_FOUND");
    expectError(await register(created.token), 404, "INVITE_NOT_FOUND");
    expect((await preview(renewed.token)).body.status).toBe("Pending");
    expect((await register(renewed.token)).status).toBe(201);
  });

  it("validityDays defaults to 7", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token, { validityDays: 2 });
    const before = Date.now();
    const renewed = (await renew(owner, created.id)).body;
    const lifetime = Date.parse(renewed.expiresAt) - before;
    expect(lifetime).toBeGreaterThanOrEqual(7 * DAY);
    expect(lifetime).toBeLessThan(7 * DAY + 60_000);
  });

  it("renews an expired invite back to Pending (that is its point)", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token);
    await expire(created.id);
    expectError(await register(created.token), 409, "INVITE_EXPIRED");
    const renewed = await renew(owner, created.id, { validityDays: 1 });
    expect(renewed.status, renewed.text).toBe(200);
    expect(renewed.body.status).toBe("Pending");
    expect((await register(renewed.body.token)).status).toBe(201);
  });

  it("409 INVITE_USED for a used invite and 409 INVITE_REVOKED for a revoked one; neither changes", async () => {
    const owner = await newTenant();
    const used = await createInvite(owner.token);
    expect((await register(used.token)).status).toBe(201);
    expectError(await renew(owner, used.id), 409, "INVITE_USED");
    const revoked = await createInvite(owner.token);
    expect((await revoke(owner, revoked.id)).status).toBe(204);
    expectError(await renew(owner, revoked.id), 409, "INVITE_REVOKED");
    expect((await getInvite(owner, revoked.id)).body).toMatchObject({ status: "Revoked", token: revoked.token, expiresAt: revoked.expiresAt });
  });

  it.each([0, 31, 2.5, "7", null])("400 VALIDATION_ERROR for validityDays %j", async (validityDays) => {
    const owner = await newTenant();
    const created = await createInvite(owner.token);
    const error = expectError(await renew(owner, created.id, { validityDays }), 400, "VALIDATION_ERROR");
    expect(Object.keys(error.details.fields)).toEqual(["validityDays"]);
  });

  it("415 without a JSON body", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token);
    const response = await call("POST", `/api/v1/invites/${created.id}/renew`, { token: owner.token, rawBody: "validityDays=3", headers: { "Content-Type": "text/plain" } });
    expectError(response, 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("403 ROLE_NOT_ASSIGNABLE when an Admin renews an Admin invite; an Admin renews a Developer invite", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const adminInvite = await createInvite(owner.token, { role: "Admin" });
    expectError(await renew(admin, adminInvite.id), 403, "ROLE_NOT_ASSIGNABLE");
    expect((await getInvite(owner, adminInvite.id)).body.token).toBe(adminInvite.token);
    const developerInvite = await createInvite(admin.token);
    expect((await renew(admin, developerInvite.id)).status).toBe(200);
    expect((await renew(owner, adminInvite.id)).status).toBe(200);
  });

  it("404 INVITE_NOT_FOUND for another tenant's id; 401; 403 FORBIDDEN for a Developer", async () => {
    const owner = await newTenant();
    const other = await newTenant();
    const foreign = await createInvite(other.token);
    expectError(await renew(owner, foreign.id), 404, "INVITE_NOT_FOUND");
    expect((await getInvite(other, foreign.id)).body.token).toBe(foreign.token);
    expectError(await renew(owner, "nope"), 404, "INVITE_NOT_FOUND");
    expectError(await call("POST", `/api/v1/invites/${foreign.id}/renew`, { body: {} }), 401, "UNAUTHORIZED");
    expectError(await renew(await newMember(other, "Developer"), foreign.id), 403, "FORBIDDEN");
  });

  it("409 INVITE_PENDING_FOR_EMAIL when a newer pending invite exists for the bound email; allowed once it is gone", async () => {
    const owner = await newTenant();
    const email = uniqueEmail("bound");
    const first = await createInvite(owner.token, { email });
    await expire(first.id);
    const second = await createInvite(owner.token, { email: email.toUpperCase() });
    expectError(await renew(owner, first.id), 409, "INVITE_PENDING_FOR_EMAIL");
    // refused without effect: the old token still finds the (still expired) invite
    expect((await preview(first.token)).body.status).toBe("Expired");
    expect((await revoke(owner, second.id)).status).toBe(204);
    const renewed = await renew(owner, first.id);
    expect(renewed.status, renewed.text).toBe(200);
    expect(renewed.body.status).toBe("Pending");
    // and now the renewed one blocks a new invite for that email
    expectError(await call("POST", "/api/v1/invites", { token: owner.token, body: { email } }), 409, "INVITE_PENDING_FOR_EMAIL");
  });

  it("renewing a pending email-bound invite is not a second pending invite for that email", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token, { email: uniqueEmail("bound") });
    expect((await renew(owner, created.id)).status).toBe(200);
  });

  it("409 INVITE_AUTHORITY_LAPSED for an Admin invite whose creator is no longer an active Owner", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token, { role: "Admin" });
    const secondOwner = await newMember(owner, "Admin");
    await setUser(secondOwner.userId, { role: "Owner" });
    await setUser(owner.userId, { role: "Admin" });
    expectError(await renew(secondOwner, created.id), 409, "INVITE_AUTHORITY_LAPSED");
    expect((await getInvite(secondOwner, created.id)).body.token).toBe(created.token);
  });
});

describe("email-bound invites", () => {
  it("409 INVITE_PENDING_FOR_EMAIL for a second pending invite for the same email, compared case-insensitively", async () => {
    const owner = await newTenant();
    const email = uniqueEmail("bound");
    const first = await createInvite(owner.token, { email: email.toUpperCase() });
    expect(first).toMatchObject({ email });
    expectError(await call("POST", "/api/v1/invites", { token: owner.token, body: { email: `  ${email.replace(/^./, (c) => c.toUpperCase())}` } }), 409, "INVITE_PENDING_FOR_EMAIL");
    // the rule is per tenant
    const other = await newTenant();
    expect(await createInvite(other.token, { email })).toMatchObject({ email });
  });

  it.each([
    ["expired", async (_owner: Session, invite: { id: string }) => expire(invite.id)],
    ["revoked", async (owner: Session, invite: { id: string }) => void expect((await revoke(owner, invite.id)).status).toBe(204)],
    ["used", async (_owner: Session, invite: { token: string }, email: string) => void expect((await register(invite.token, email)).status).toBe(201)],
  ] as const)("a new invite for the email is allowed once the first is %s", async (_label, endFirst) => {
    const owner = await newTenant();
    const email = uniqueEmail("bound");
    const first = await createInvite(owner.token, { email });
    await endFirst(owner, first as any, email);
    const second = await call("POST", "/api/v1/invites", { token: owner.token, body: { email } });
    expect(second.status, second.text).toBe(201);
  });

  it("409 EMAIL_MISMATCH when registering with another email; the invite stays Pending and the bound email still works", async () => {
    const owner = await newTenant();
    const email = uniqueEmail("bound");
    const created = await createInvite(owner.token, { email });
    expectError(await register(created.token, uniqueEmail("intruder")), 409, "EMAIL_MISMATCH");
    expect(await statusOf(owner, created.id)).toBe("Pending");
    expect((await preview(created.token)).body.status).toBe("Pending");
    const registered = await register(created.token, email.toUpperCase());
    expect(registered.status, registered.text).toBe(201);
    expect(registered.body.email).toBe(email);
  });
});

describe("derived statuses", () => {
  /** One invite in each status (Expired by moving expires_at), created in this order. */
  async function oneOfEach() {
    const owner = await newTenant();
    const pending = await createInvite(owner.token);
    const used = await createInvite(owner.token);
    const expired = await createInvite(owner.token);
    const revoked = await createInvite(owner.token);
    expect((await register(used.token)).status).toBe(201);
    await expire(expired.id);
    expect((await revoke(owner, revoked.id)).status).toBe(204);
    return { owner, ids: { Pending: pending.id, Used: used.id, Expired: expired.id, Revoked: revoked.id } };
  }

  const list = (owner: Session, query: string) => call("GET", `/api/v1/invites?${query}`, { token: owner.token });

  it("409 codes tell INVITE_USED, INVITE_EXPIRED and INVITE_REVOKED apart", async () => {
    const owner = await newTenant();
    const [used, expired, revoked] = [await createInvite(owner.token), await createInvite(owner.token), await createInvite(owner.token)];
    expect((await register(used.token)).status).toBe(201);
    await expire(expired.id);
    expect((await revoke(owner, revoked.id)).status).toBe(204);
    expectError(await register(used.token), 409, "INVITE_USED");
    expectError(await register(expired.token), 409, "INVITE_EXPIRED");
    expectError(await register(revoked.token), 409, "INVITE_REVOKED");
  });

  it("an invite turns Expired at read time, without any write", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token);
    const before = (await getInvite(owner, created.id)).body;
    await setExpiry(created.id, Date.now() - 1);
    const after = (await getInvite(owner, created.id)).body;
    expect(after.status).toBe("Expired");
    expect(after.updatedAt).toBe(before.updatedAt);
  });

  it.each([
    ["0", "Pending"],
    ["1", "Used"],
    ["2", "Expired"],
    ["3", "Revoked"],
    ["pending", "Pending"],
    ["USED", "Used"],
    ["Expired", "Expired"],
    ["revoked", "Revoked"],
  ] as const)("Status=%s lists only the %s invite", async (value, status) => {
    const { owner, ids } = await oneOfEach();
    const response = await list(owner, `Status=${value}`);
    expect(response.status, response.text).toBe(200);
    expect(response.body.total).toBe(1);
    expect(response.body.items.map((item: any) => [item.id, item.status])).toEqual([[ids[status], status]]);
  });

  it.each(["4", "-1", "Active", "1.0"])("400 VALIDATION_ERROR for Status=%s", async (value) => {
    const owner = await newTenant();
    const error = expectError(await list(owner, `Status=${value}`), 400, "VALIDATION_ERROR");
    expect(Object.keys(error.details.fields)).toEqual(["Status"]);
  });

  it("CpOrd=status sorts by the derived status (Pending < Used < Expired < Revoked), ties by id", async () => {
    const { owner, ids } = await oneOfEach();
    // a second Expired invite, created last: ties break by id
    const lateExpired = await createInvite(owner.token);
    await expire(lateExpired.id);
    const asc = await list(owner, "CpOrd=STATUS&TpOrd=asc");
    expect(asc.status, asc.text).toBe(200);
    expect(asc.body.items.map((item: any) => item.id)).toEqual([ids.Pending, ids.Used, ids.Expired, lateExpired.id, ids.Revoked]);
    expect(asc.body.items.map((item: any) => item.status)).toEqual(["Pending", "Used", "Expired", "Expired", "Revoked"]);
    const desc = await list(owner, "CpOrd=status&TpOrd=Desc");
    expect(desc.body.items.map((item: any) => item.id)).toEqual([ids.Revoked, lateExpired.id, ids.Expired, ids.Used, ids.Pending]);
  });

  it("the status filter follows the clock: a Pending invite moved past its expiry is listed as Expired", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token);
    expect((await list(owner, "Status=Pending")).body.total).toBe(1);
    await expire(created.id);
    expect((await list(owner, "Status=Pending")).body.total).toBe(0);
    expect((await list(owner, "Status=Expired")).body.items.map((item: any) => item.id)).toEqual([created.id]);
  });
});

describe("authority re-checked at redemption", () => {
  it("409 INVITE_AUTHORITY_LAPSED when the Admin invite's creator was demoted; the invite stays Pending and works once restored", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token, { role: "Admin" });
    await setUser(owner.userId, { role: "Admin" });
    const email = uniqueEmail("admin");
    expectError(await register(created.token, email), 409, "INVITE_AUTHORITY_LAPSED");
    expect(await env.DB.prepare("SELECT id FROM accounts WHERE email = ?").bind(email).first()).toBeNull();
    expect(await statusOf(owner, created.id)).toBe("Pending");
    await setUser(owner.userId, { role: "Owner" });
    const registered = await register(created.token, email);
    expect(registered.status, registered.text).toBe(201);
    expect(registered.body.role).toBe("Admin");
  });

  it("409 INVITE_AUTHORITY_LAPSED when the creator was deactivated", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token, { role: "Admin" });
    await setUser(owner.userId, { status: "Inactive" });
    expectError(await register(created.token), 409, "INVITE_AUTHORITY_LAPSED");
    const row = await env.DB.prepare("SELECT used_at FROM invites WHERE id = ?").bind(created.id).first();
    expect(row).toEqual({ used_at: null });
  });

  it("every invite depends on its creator: a Developer invite from an Owner now a Viewer → 409; now an Admin → honoured", async () => {
    const owner = await newTenant();
    const created = await createInvite(owner.token, { role: "Developer" });
    await setUser(owner.userId, { role: "Viewer" });
    expectError(await register(created.token), 409, "INVITE_AUTHORITY_LAPSED");
    await setUser(owner.userId, { role: "Admin" });
    expect((await register(created.token)).status).toBe(201);
  });
});

describe("OpenAPI", () => {
  it("documents get/preview, revoke and renew", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    expect(Object.keys(doc.paths["/api/v1/invites/{id}"]).sort()).toEqual(["delete", "get"]);
    expect(Object.keys(doc.paths["/api/v1/invites/{id}/renew"])).toEqual(["post"]);
    expect(doc.components.schemas.InvitePreview.required).toEqual(PREVIEW_FIELDS);
    expect(doc.paths["/api/v1/invites/{id}"].get.responses["429"]).toBeDefined();
  });
});
