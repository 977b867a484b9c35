import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { createInvite as createInviteRow } from "../../src/features/invites/service";
import { ApiError } from "../../src/http/errors";
import { call, expectError, newMember, newTenant } from "../helpers";

/**
 * The freshness rule of the one-round-trip design (README, "Freshness"): a write checks the caller's
 * authority inside its own statement, so a demotion committed before it stops it at once; a read
 * carries its authority check in the same batch as its data (src/http/d1-sessions.ts for replicas).
 */
const invitesBy = async (tenantId: string, accountId: string) =>
  (await env.DB.prepare("SELECT id FROM invites WHERE tenant_id = ? AND created_by = ?").bind(tenantId, accountId).all<{ id: string }>()).results.map((r) => r.id);

const demote = (owner: { token: string }, userId: string) => call("PATCH", `/api/v1/users/${userId}`, { token: owner.token, body: { role: "Developer" } });

describe("authority freshness: writes check authority inside the write", () => {
  it("a create whose caller was demoted after any earlier read of its role is refused by the insert itself", async () => {
    const owner = await newTenant("fresh-write");
    const admin = await newMember(owner, "Admin");
    // As if the caller's authority had been read (Admin) just before the demotion landed.
    expect((await demote(owner, admin.userId)).status).toBe(200);
    let explained = 0;
    const refusal = new ApiError(403, "FORBIDDEN", "demoted");
    await expect(
      createInviteRow(env as unknown as Env, { userId: admin.userId, tenantId: owner.tenantId, jti: "test" }, { validityDays: 7, role: "Viewer" }, async () => {
        explained += 1;
        throw refusal;
      }),
    ).rejects.toBe(refusal);
    expect(explained).toBe(1);
    // The same for a mailed invite: no invite, no event, no mail job.
    const email = `fresh-write-${crypto.randomUUID()}@example.test`;
    await expect(
      createInviteRow(env as unknown as Env, { userId: admin.userId, tenantId: owner.tenantId, jti: "test" }, { validityDays: 7, role: "Viewer", email }, async () => {
        throw refusal;
      }),
    ).rejects.toBe(refusal);
    expect(await invitesBy(owner.tenantId, admin.userId)).toEqual([]);
    expect((await env.DB.prepare("SELECT count(*) AS n FROM mail_outbox WHERE recipient = ?").bind(email).first<{ n: number }>())?.n).toBe(0);
    expect((await env.DB.prepare("SELECT count(*) AS n FROM events WHERE tenant_id = ? AND actor_id = ?").bind(owner.tenantId, admin.userId).first<{ n: number }>())?.n).toBe(0);
  });

  it("a demoted Admin's next write fails at once, with the token minted while it was Admin", async () => {
    const owner = await newTenant("fresh-next");
    const admin = await newMember(owner, "Admin");
    expect((await call("POST", "/api/v1/invites", { token: admin.token, body: {} })).status).toBe(201);
    expect((await demote(owner, admin.userId)).status).toBe(200);
    expectError(await call("POST", "/api/v1/invites", { token: admin.token, body: {} }), 403, "FORBIDDEN");
    expect(await invitesBy(owner.tenantId, admin.userId)).toHaveLength(1);
  });

  it("20 concurrent creates racing the Admin's demotion: every 201 has its row, no refused create left one, none succeeds after", async () => {
    const owner = await newTenant("fresh-race");
    const admin = await newMember(owner, "Admin");
    const creates = Array.from({ length: 20 }, () => call("POST", "/api/v1/invites", { token: admin.token, body: { role: "Viewer" } }));
    const demotion = demote(owner, admin.userId);
    const results = await Promise.all(creates);
    expect((await demotion).status).toBe(200);
    for (const result of results) expect([201, 403], result.text).toContain(result.status);
    const created = results.filter((r) => r.status === 201).map((r) => r.body.id as string);
    expect((await invitesBy(owner.tenantId, admin.userId)).sort()).toEqual(created.sort());
    const after = await Promise.all(Array.from({ length: 5 }, () => call("POST", "/api/v1/invites", { token: admin.token, body: {} })));
    for (const result of after) expectError(result, 403, "FORBIDDEN");
    expect((await invitesBy(owner.tenantId, admin.userId)).length).toBe(created.length);
  });

  it("email-bound creates racing the demotion: every 201 has its invite, its event and its mail job (inviter's email read in the batch); a refused one wrote none", async () => {
    const owner = await newTenant("fresh-mail");
    const admin = await newMember(owner, "Admin");
    const creates = Array.from({ length: 12 }, (_, i) =>
      call("POST", "/api/v1/invites", { token: admin.token, body: { role: "Viewer", email: `fresh-mail-${i}-${crypto.randomUUID()}@example.test` } }),
    );
    const demotion = demote(owner, admin.userId);
    const results = await Promise.all(creates);
    expect((await demotion).status).toBe(200);
    for (const result of results) expect([201, 403], result.text).toContain(result.status);
    const created = results.filter((r) => r.status === 201).map((r) => r.body.id as string).sort();
    expect((await invitesBy(owner.tenantId, admin.userId)).sort()).toEqual(created);
    const { results: jobs } = await env.DB.prepare(
      "SELECT subject_id AS subjectId, payload FROM mail_outbox WHERE kind = 'invite' AND subject_id IN (SELECT id FROM invites WHERE tenant_id = ?)",
    )
      .bind(owner.tenantId)
      .all<{ subjectId: string; payload: string }>();
    const ownInvites = new Set(await invitesBy(owner.tenantId, admin.userId));
    const adminJobs = jobs.filter((job) => ownInvites.has(job.subjectId));
    expect(adminJobs.map((job) => job.subjectId).sort()).toEqual(created);
    for (const job of adminJobs) expect(JSON.parse(job.payload)).toEqual({ inviterEmail: admin.email });
    const { results: events } = await env.DB.prepare("SELECT json_extract(data, '$.inviteId') AS inviteId FROM events WHERE tenant_id = ? AND type = 'invite.created' AND actor_id = ?")
      .bind(owner.tenantId, admin.userId)
      .all<{ inviteId: string }>();
    expect(events.map((event) => event.inviteId).sort()).toEqual(created);
  });

  it("a refused create gives back its slot of the tenant's invite-create budget", async () => {
    const owner = await newTenant("fresh-budget");
    const viewer = await newMember(owner, "Viewer");
    // The budget is 3 an hour and newMember's invite spent one of them.
    const vars = { INVITE_CREATE_LIMIT_PER_HOUR: "3" };
    for (let i = 0; i < 3; i++) expectError(await call("POST", "/api/v1/invites", { token: viewer.token, body: {}, vars }), 403, "FORBIDDEN");
    expect((await call("POST", "/api/v1/invites", { token: owner.token, body: {}, vars })).status).toBe(201);
    expect((await call("POST", "/api/v1/invites", { token: owner.token, body: {}, vars })).status).toBe(201);
    expectError(await call("POST", "/api/v1/invites", { token: owner.token, body: {}, vars }), 429, "RATE_LIMITED");
  });
});

describe("authority freshness under invitePolicy Members (issue 15)", () => {
  it("a Developer's creates and bulks racing the Owner's switch back to AdminsOnly: every 201 has its rows, none succeeds after", async () => {
    const owner = await newTenant("fresh-policy");
    const developer = await newMember(owner, "Developer");
    expect((await call("PATCH", "/api/v1/tenants/current", { token: owner.token, body: { invitePolicy: "Members" } })).status).toBe(200);
    const creates = Array.from({ length: 12 }, (_, i) =>
      i % 3 ? call("POST", "/api/v1/invites", { token: developer.token, body: { role: "Viewer" } }) : call("POST", "/api/v1/invites/bulk", { token: developer.token, body: { invites: [{}, {}] } }),
    );
    const switched = call("PATCH", "/api/v1/tenants/current", { token: owner.token, body: { invitePolicy: "AdminsOnly" } });
    const results = await Promise.all(creates);
    expect((await switched).status).toBe(200);
    for (const result of results) expect([201, 403], result.text).toContain(result.status);
    const created = results.filter((r) => r.status === 201).flatMap((r) => (r.body.items ?? [r.body]).map((item: { id: string }) => item.id)).sort();
    expect((await invitesBy(owner.tenantId, developer.userId)).sort()).toEqual(created);
    expectError(await call("POST", "/api/v1/invites", { token: developer.token, body: {} }), 403, "FORBIDDEN");
    expectError(await call("GET", "/api/v1/invites", { token: developer.token }), 403, "FORBIDDEN");
  });

  it("a Viewer's invalid bulk body or cursor is 403, not 400", async () => {
    const owner = await newTenant("fresh-order-links");
    const viewer = await newMember(owner, "Viewer");
    expectError(await call("POST", "/api/v1/invites/bulk", { token: viewer.token, body: { invites: [{ validityDays: 99 }] } }), 403, "FORBIDDEN");
    expectError(await call("GET", "/api/v1/invites?starting_after=nope", { token: viewer.token }), 403, "FORBIDDEN");
    expectError(await call("GET", "/api/v1/users?ending_before=nope", { token: viewer.token }), 403, "FORBIDDEN");
    expectError(await call("GET", "/api/v1/invites?starting_after=nope", { token: owner.token }), 400, "INVALID_CURSOR");
  });
});

describe("authority still comes before input errors on the one-round-trip routes", () => {
  it("a Viewer's invalid list query or create body is 403, an unknown token's 401, not 400/415", async () => {
    const owner = await newTenant("fresh-order");
    const viewer = await newMember(owner, "Viewer");
    expectError(await call("GET", "/api/v1/invites?Qt=0", { token: viewer.token }), 403, "FORBIDDEN");
    expectError(await call("GET", "/api/v1/users?CpOrd=nope", { token: viewer.token }), 403, "FORBIDDEN");
    expectError(await call("POST", "/api/v1/invites", { token: viewer.token, body: { validityDays: 99 } }), 403, "FORBIDDEN");
    expectError(await call("POST", "/api/v1/invites", { token: viewer.token, rawBody: "{", headers: { "Content-Type": "application/json" } }), 403, "FORBIDDEN");
    expectError(await call("POST", "/api/v1/invites", { token: viewer.token, rawBody: "x", headers: { "Content-Type": "text/plain" } }), 403, "FORBIDDEN");
    expectError(await call("GET", "/api/v1/invites?Qt=0", { token: "a.b.c" }), 401, "UNAUTHORIZED");
    expectError(await call("GET", "/api/v1/invites?Qt=0", { token: owner.token }), 400, "VALIDATION_ERROR");
  });
});
