import { env } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { userActor } from "../../src/events/catalogue";
import { eventStatements } from "../../src/events/record";
import { purgeExpired } from "../../src/features/maintenance/service";
import { idCursor } from "../../src/http/cursor";
import { call, expectError, newMember, newTenant, type Session } from "../helpers";
import { createWebhook, eventRows } from "../webhook-helpers";

const listEvents = (session: Session, query = "") => call("GET", `/api/v1/events${query}`, { token: session.token });

/** `count` events straight into D1, oldest first (as services write them), returning their ids. */
async function seedEvents(owner: Session, count: number, type: "invite.revoked" | "member.deactivated" = "invite.revoked", occurredAt = Date.now()) {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const event =
      type === "invite.revoked"
        ? eventStatements(env.DB, { tenantId: owner.tenantId, type, actor: userActor(owner.userId), data: { inviteId: crypto.randomUUID() }, occurredAt })
        : eventStatements(env.DB, { tenantId: owner.tenantId, type, actor: userActor(owner.userId), data: { memberId: crypto.randomUUID() }, occurredAt });
    await env.DB.batch(event.statements);
    ids.push(event.id);
  }
  return ids;
}

describe("events are written in the same batch as their change", () => {
  it("a batch that fails on a later statement leaves neither the change, nor the event, nor its deliveries", async () => {
    const owner = await newTenant();
    const hook = await createWebhook(owner);
    const inviteId = crypto.randomUUID();
    const event = eventStatements(env.DB, { tenantId: owner.tenantId, type: "invite.revoked", actor: userActor(owner.userId), data: { inviteId } });
    const change = env.DB.prepare("UPDATE tenants SET updated_at = updated_at + 1 WHERE id = ?").bind(owner.tenantId);
    // A later statement violates a constraint (the webhook's primary key): D1 rolls the whole batch back.
    const violation = env.DB.prepare("INSERT INTO webhook_endpoints (id, tenant_id, url, secret_ciphertext, created_at, updated_at) VALUES (?, ?, 'x', 'x', 0, 0)").bind(hook.id, owner.tenantId);
    const before = await env.DB.prepare("SELECT updated_at FROM tenants WHERE id = ?").bind(owner.tenantId).first("updated_at");
    await expect(env.DB.batch([change, ...event.statements, violation])).rejects.toThrow(/UNIQUE|constraint/i);
    expect(await env.DB.prepare("SELECT updated_at FROM tenants WHERE id = ?").bind(owner.tenantId).first("updated_at")).toBe(before);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM events WHERE id = ?").bind(event.id).first("n")).toBe(0);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE event_id = ?").bind(event.id).first("n")).toBe(0);

    // the same statements without the violation commit together: change, event, one delivery
    const retry = eventStatements(env.DB, { tenantId: owner.tenantId, type: "invite.revoked", actor: userActor(owner.userId), data: { inviteId } });
    await env.DB.batch([change, ...retry.statements]);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM events WHERE id = ?").bind(retry.id).first("n")).toBe(1);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE event_id = ?").bind(retry.id).first("n")).toBe(1);
  });

  it("a guard ties the event to a conditional change: no change, no event", async () => {
    const owner = await newTenant();
    const missing = crypto.randomUUID();
    const event = eventStatements(
      env.DB,
      { tenantId: owner.tenantId, type: "invite.revoked", actor: userActor(owner.userId), data: { inviteId: missing } },
      { sql: "EXISTS (SELECT 1 FROM invites WHERE id = ?)", params: [missing] },
    );
    await env.DB.batch(event.statements);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM events WHERE id = ?").bind(event.id).first("n")).toBe(0);
  });
});

describe("GET /api/v1/events", () => {
  it("Owner and Admin: newest first, with actor and data; another tenant's events never", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const other = await newTenant();
    await seedEvents(other, 2);
    const ids = await seedEvents(owner, 3);
    for (const caller of [owner, admin]) {
      const response = await listEvents(caller, "?Type=invite.revoked");
      expect(response.status, response.text).toBe(200);
      expect(Object.keys(response.body)).toEqual(["items", "nextCursor", "prevCursor"]);
      expect(response.body.items.map((e: { id: string }) => e.id)).toEqual([...ids].reverse());
      expect(Object.keys(response.body.items[0])).toEqual(["id", "type", "tenantId", "occurredAt", "actor", "data"]);
      expect(response.body.items[0]).toMatchObject({ type: "invite.revoked", tenantId: owner.tenantId, actor: { type: "user", id: owner.userId }, data: { inviteId: expect.any(String) } });
      expect(response.body.items[0].occurredAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(response.body).toMatchObject({ nextCursor: null, prevCursor: null });
    }
  });

  it.each(["Developer", "Viewer"] as const)("403 for a %s; 401 without a token", async (role) => {
    const owner = await newTenant();
    expectError(await listEvents(await newMember(owner, role)), 403, "FORBIDDEN");
    expectError(await call("GET", "/api/v1/events"), 401, "UNAUTHORIZED");
  });

  it("cursor pagination: starting_after walks older pages, ending_before comes back; each page newest first", async () => {
    const owner = await newTenant();
    const ids = (await seedEvents(owner, 7, "member.deactivated")).reverse(); // newest first
    const page1 = await listEvents(owner, "?Type=member.deactivated&Qt=3");
    expect(page1.body.items.map((e: { id: string }) => e.id)).toEqual(ids.slice(0, 3));
    expect(page1.body.prevCursor).toBeNull();
    const page2 = await listEvents(owner, `?Type=member.deactivated&Qt=3&starting_after=${page1.body.nextCursor}`);
    expect(page2.body.items.map((e: { id: string }) => e.id)).toEqual(ids.slice(3, 6));
    const page3 = await listEvents(owner, `?Type=member.deactivated&Qt=3&starting_after=${page2.body.nextCursor}`);
    expect(page3.body.items.map((e: { id: string }) => e.id)).toEqual(ids.slice(6));
    expect(page3.body.nextCursor).toBeNull();
    const back = await listEvents(owner, `?Type=member.deactivated&Qt=3&ending_before=${page3.body.prevCursor}`);
    expect(back.body.items.map((e: { id: string }) => e.id)).toEqual(ids.slice(3, 6));
    const first = await listEvents(owner, `?Type=member.deactivated&Qt=3&ending_before=${back.body.prevCursor}`);
    expect(first.body.items.map((e: { id: string }) => e.id)).toEqual(ids.slice(0, 3));
    expect(first.body.prevCursor).toBeNull();
    // cursors are opaque, not the raw id
    expect(page1.body.nextCursor).not.toContain(ids[2]);
  });

  it("the Type filter is exact (case-insensitive) and covers the whole catalogue", async () => {
    const owner = await newTenant();
    await seedEvents(owner, 2, "invite.revoked");
    await seedEvents(owner, 1, "member.deactivated");
    expect((await listEvents(owner, "?Type=MEMBER.Deactivated")).body.items).toHaveLength(1);
    expect((await listEvents(owner, "?Type=invite.revoked")).body.items).toHaveLength(2);
    expect((await listEvents(owner, "?Type=invite.created")).body.items).toHaveLength(0);
    expectError(await listEvents(owner, "?Type=invite.*"), 400, "VALIDATION_ERROR");
  });

  it("400 INVALID_CURSOR for a cursor this API did not issue; 400 for both cursors, or Qt out of 1–100", async () => {
    const owner = await newTenant();
    for (const cursor of ["nope", "eyJ2IjoxfQ", btoa(JSON.stringify({ v: 1, id: "1 OR 1=1" })), encodeURIComponent("%%%"), "x".repeat(150)]) {
      expectError(await listEvents(owner, `?starting_after=${cursor}`), 400, "INVALID_CURSOR");
      expectError(await listEvents(owner, `?ending_before=${cursor}`), 400, "INVALID_CURSOR");
    }
    const valid = idCursor(crypto.randomUUID());
    expect((await listEvents(owner, `?starting_after=${valid}`)).status).toBe(200);
    // One codec for every list (src/http/pagination.ts): cursors issued before it (`{v:1,id}`) still work;
    // a cursor of another ordering (GET /invites?CpOrd=createdAt, or ascending) is not one of these lists'.
    const b64url = (value: unknown) => btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    expect((await listEvents(owner, `?starting_after=${b64url({ v: 1, id: crypto.randomUUID() })}`)).status).toBe(200);
    for (const foreign of [{ v: 1, s: "createdAt", d: "desc", k: 1, id: crypto.randomUUID() }, { v: 1, s: "id", d: "asc", id: crypto.randomUUID() }]) {
      expectError(await listEvents(owner, `?starting_after=${b64url(foreign)}`), 400, "INVALID_CURSOR");
    }
    expectError(await listEvents(owner, `?starting_after=${valid}&ending_before=${valid}`), 400, "VALIDATION_ERROR");
    expectError(await listEvents(owner, "?Qt=0"), 400, "VALIDATION_ERROR");
    expectError(await listEvents(owner, "?Qt=101"), 400, "VALIDATION_ERROR");
  });

  it("404 TENANT_NOT_FOUND once the caller's tenant is gone", async () => {
    const owner = await newTenant();
    await env.DB.prepare("DELETE FROM tenants WHERE id = ?").bind(owner.tenantId).run();
    expectError(await listEvents(owner), 404, "TENANT_NOT_FOUND");
  });
});

describe("retention", () => {
  it("the daily purge deletes events older than 90 days, with their delivery attempts; newer ones stay", async () => {
    const owner = await newTenant();
    await createWebhook(owner);
    const now = Date.now();
    const old = await seedEvents(owner, 2, "invite.revoked", now - 91 * 86_400_000);
    const kept = await seedEvents(owner, 1, "invite.revoked", now - 89 * 86_400_000);
    expect(await env.DB.prepare(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE event_id IN (?, ?)`).bind(...old).first("n")).toBe(2);
    const result = await purgeExpired(env, now);
    expect(result.events).toBeGreaterThanOrEqual(2);
    const left = (await eventRows(owner.tenantId, "invite.revoked")).map((e) => e.id);
    expect(left).toEqual(kept);
    expect(await env.DB.prepare(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE event_id IN (?, ?)`).bind(...old).first("n")).toBe(0);
  });
});

describe("the catalogue", () => {
  it("event payloads never carry a token, link, password or secret", async () => {
    vi.useRealTimers();
    const owner = await newTenant();
    const hook = await createWebhook(owner);
    await call("POST", `/api/v1/webhooks/${hook.id}/rotate-secret`, { token: owner.token });
    await call("PATCH", `/api/v1/webhooks/${hook.id}`, { token: owner.token, body: { url: "https://hooks.example.com/with?token=s3cr3t" } });
    const all = JSON.stringify(await eventRows(owner.tenantId));
    for (const needle of ["whsec_", "inv_", "rt_", "s3cr3t", owner.password, "hooks.example.com"]) expect(all).not.toContain(needle);
  });
});

describe("invite changes write their events (same batch)", () => {
  it("invite.created, invite.renewed, invite.revoked — once each, none for a refused change", async () => {
    const owner = await newTenant();
    const email = `bound-${crypto.randomUUID()}@example.test`;
    const created = await call("POST", "/api/v1/invites", { token: owner.token, body: { email, role: "Developer" } });
    expect(created.status, created.text).toBe(201);
    expectError(await call("POST", "/api/v1/invites", { token: owner.token, body: { email, role: "Viewer" } }), 409, "INVITE_PENDING_FOR_EMAIL");
    const unbound = await call("POST", "/api/v1/invites", { token: owner.token, body: {} });
    const renewed = await call("POST", `/api/v1/invites/${created.body.id}/renew`, { token: owner.token, body: { validityDays: 3 } });
    expect(renewed.status, renewed.text).toBe(200);
    expect((await call("DELETE", `/api/v1/invites/${created.body.id}`, { token: owner.token })).status).toBe(204);
    expect((await call("DELETE", `/api/v1/invites/${created.body.id}`, { token: owner.token })).status).toBe(204); // idempotent: no second event
    expectError(await call("POST", `/api/v1/invites/${created.body.id}/renew`, { token: owner.token, body: {} }), 409, "INVITE_REVOKED");

    const events = (await eventRows(owner.tenantId)).filter((e) => e.type.startsWith("invite."));
    expect(events.map((e) => e.type)).toEqual(["invite.created", "invite.created", "invite.renewed", "invite.revoked"]);
    const actor = { actor_type: "user", actor_id: owner.userId };
    expect(events[0]).toMatchObject({ ...actor, data: { inviteId: created.body.id, targetRole: "Developer", email, expiresAt: created.body.expiresAt } });
    expect(events[1]).toMatchObject({ ...actor, data: { inviteId: unbound.body.id, targetRole: "Developer", email: null } });
    expect(events[2]).toMatchObject({ ...actor, data: { inviteId: created.body.id, expiresAt: renewed.body.expiresAt } });
    expect(events[3]).toMatchObject({ ...actor, data: { inviteId: created.body.id } });
    const all = JSON.stringify(events);
    for (const token of [created.body.token, renewed.body.token, unbound.body.token]) expect(all).not.toContain(token);
    expect(all).not.toContain("inv_");
  });

  it("concurrent creates for one email: one invite, one event", async () => {
    const owner = await newTenant();
    const email = `race-${crypto.randomUUID()}@example.test`;
    const responses = await Promise.all(Array.from({ length: 8 }, () => call("POST", "/api/v1/invites", { token: owner.token, body: { email } })));
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    expect(await eventRows(owner.tenantId, "invite.created")).toHaveLength(1);
  });
});
