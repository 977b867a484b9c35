import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { operatorStatement } from "../../scripts/lib/operator-sql.mjs";
import { call, createInvite, expectError, newMember, newTenant, type Session } from "../helpers";
import { eventRows } from "../webhook-helpers";

/** Marks the account an operator with the very statement `npm run operator -- grant` runs. */
async function grant(session: Session) {
  const { results } = await env.DB.prepare(operatorStatement("grant", session.email)).all();
  expect(results).toHaveLength(1);
}

const invitesPage = (session: Session, query = "") => call("GET", `/api/v1/operator/invites${query}`, { token: session.token });
const tenantsPage = (session: Session, query = "") => call("GET", `/api/v1/operator/tenants${query}`, { token: session.token });

describe("platform operator: GET /api/v1/operator/invites and /operator/tenants", () => {
  it("403 FORBIDDEN for every non-operator (an Owner included); 401 without a token; nothing is written", async () => {
    const owner = await newTenant("op-refused");
    const admin = await newMember(owner, "Admin");
    for (const session of [owner, admin]) {
      expectError(await invitesPage(session), 403, "FORBIDDEN");
      expectError(await tenantsPage(session), 403, "FORBIDDEN");
    }
    expectError(await call("GET", "/api/v1/operator/invites"), 401, "UNAUTHORIZED");
    expectError(await call("GET", "/api/v1/operator/tenants", { token: "a.b.c" }), 401, "UNAUTHORIZED");
    expect(await eventRows(owner.tenantId, "operator.viewed")).toEqual([]);
  });

  it("200: every tenant's invites, newest first, with their tenant — never a token — and a TenantId filter", async () => {
    const operator = await newTenant("op-home");
    await grant(operator);
    const a = await newTenant("op-a");
    const b = await newTenant("op-b");
    const bound = (await createInvite(a.token, { email: `op-bound-${crypto.randomUUID()}@example.test`, privateMetadata: { secret: "PRIVATE-42" } })) as Record<string, any>;
    const link = await createInvite(b.token, { maxUses: 5, allowedDomains: ["example.test"] });
    const page = await invitesPage(operator, "?Qt=100");
    expect(page.status, page.text).toBe(200);
    expect(Object.keys(page.body)).toEqual(["items", "nextCursor", "prevCursor"]);
    const byId = Object.fromEntries(page.body.items.map((item: { id: string }) => [item.id, item]));
    expect(byId[bound.id]).toEqual({
      id: bound.id,
      tenantId: a.tenantId,
      tenantName: a.tenantName,
      targetRole: "Developer",
      status: "Pending",
      email: bound.email,
      createdBy: a.userId,
      createdAt: bound.createdAt,
      expiresAt: bound.expiresAt,
      usedAt: null,
      revokedAt: null,
      uses: 0,
      maxUses: 1,
      allowedDomains: null,
    });
    expect(byId[link.id]).toMatchObject({ tenantId: b.tenantId, uses: 0, maxUses: 5, allowedDomains: ["example.test"] });
    const ids = page.body.items.map((item: { id: string }) => item.id);
    expect(ids).toEqual([...ids].sort().reverse());
    for (const needle of ["inv_", bound.token, link.token, "PRIVATE-42", "token"]) expect(page.text).not.toContain(needle);

    const onlyB = await invitesPage(operator, `?TenantId=${b.tenantId}&Qt=100`);
    expect(onlyB.body.items.map((item: { id: string }) => item.id)).toEqual([link.id]);
    expectError(await invitesPage(operator, "?TenantId=nope"), 400, "VALIDATION_ERROR");
  });

  it("cursor pages over every tenant (the codec of every list): 400 INVALID_CURSOR for a forged one, 400 for both cursors or Qt out of range", async () => {
    const operator = await newTenant("op-pages");
    await grant(operator);
    const created = [await newTenant("op-p1"), await newTenant("op-p2"), await newTenant("op-p3")];
    const first = await tenantsPage(operator, "?Qt=2");
    expect(first.status, first.text).toBe(200);
    expect(first.body.items).toHaveLength(2);
    expect(first.body.items[0]).toMatchObject({ id: created[2]!.tenantId, name: created[2]!.tenantName, invitePolicy: "AdminsOnly", memberCount: 1, inviteCount: 0 });
    expect(first.body.prevCursor).toBeNull();
    const second = await tenantsPage(operator, `?Qt=2&starting_after=${first.body.nextCursor}`);
    expect(second.body.items[0].id).toBe(created[0]!.tenantId);
    const back = await tenantsPage(operator, `?Qt=2&ending_before=${second.body.prevCursor}`);
    expect(back.body.items.map((t: { id: string }) => t.id)).toEqual(first.body.items.map((t: { id: string }) => t.id));
    const invites = await invitesPage(operator, `?Qt=1&starting_after=${first.body.nextCursor}`);
    expect(invites.status).toBe(200);
    for (const query of ["?starting_after=nope", "?ending_before=eyJ2IjoyfQ"]) {
      expectError(await tenantsPage(operator, query), 400, "INVALID_CURSOR");
      expectError(await invitesPage(operator, query), 400, "INVALID_CURSOR");
    }
    expectError(await tenantsPage(operator, `?starting_after=${first.body.nextCursor}&ending_before=${first.body.nextCursor}`), 400, "VALIDATION_ERROR");
    expectError(await invitesPage(operator, "?Qt=0"), 400, "VALIDATION_ERROR");
    expectError(await tenantsPage(operator, "?Qt=101"), 400, "VALIDATION_ERROR");
  });

  it("each call writes operator.viewed (what, which tenant, how many rows) in the operator's tenant; never a token", async () => {
    const operator = await newTenant("op-audit");
    await grant(operator);
    const other = await newTenant("op-audited");
    const invite = (await createInvite(other.token)) as Record<string, any>;
    await invitesPage(operator, `?TenantId=${other.tenantId}`);
    await tenantsPage(operator, "?Qt=3");
    const events = await eventRows(operator.tenantId, "operator.viewed");
    expect(events.map((event) => [event.actor_type, event.actor_id, event.data])).toEqual([
      ["user", operator.userId, { operatorId: operator.userId, resource: "invites", tenantId: other.tenantId, count: 1 }],
      ["user", operator.userId, { operatorId: operator.userId, resource: "tenants", tenantId: null, count: 3 }],
    ]);
    expect(JSON.stringify(events)).not.toContain(invite.token);
    // read-only: the viewed tenant's data and audit trail are untouched
    expect(await eventRows(other.tenantId, "operator.viewed")).toEqual([]);
    expect((await call("GET", `/api/v1/invites/${invite.id}`, { token: other.token })).body.updatedAt).toBe(invite.updatedAt);
  });

  it("revoke takes effect on the operator's next request (authority read from D1, not the token)", async () => {
    const operator = await newTenant("op-revoke");
    await grant(operator);
    expect((await tenantsPage(operator)).status).toBe(200);
    await env.DB.prepare(operatorStatement("revoke", operator.email)).run();
    expectError(await tenantsPage(operator), 403, "FORBIDDEN");
  });
});
