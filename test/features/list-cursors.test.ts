/**
 * DESIGN §2.9 "cursor pagination on every list": the two lists that were unpaged, GET /users/me/tenants
 * (oldest first) and GET /webhooks (newest first), page by the one codec of src/http/pagination.ts; each
 * refuses a cursor another list issued, and a cursor is a position, never a way into another's rows.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { idCursor } from "../../src/http/cursor";
import { MAX_WEBHOOKS_PER_TENANT } from "../../src/features/webhooks/service";
import { call, createInvite, expectError, newMember, newTenant, type Session } from "../helpers";
import { createWebhook } from "../webhook-helpers";

type Item = { tenantId?: string; id?: string };
const myTenants = (session: Session, query = "") => call("GET", `/api/v1/users/me/tenants${query}`, { token: session.token });
const webhooks = (session: Session, query = "") => call("GET", `/api/v1/webhooks${query}`, { token: session.token });
const tenantIds = (response: { body: { items: Item[] } }) => response.body.items.map((item) => item.tenantId);
const ids = (response: { body: { items: Item[] } }) => response.body.items.map((item) => item.id);
const b64url = (value: unknown) => btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** `joiner`'s account accepts an invite of each host's tenant: one more membership per host. */
async function joinAll(joiner: Session, hosts: Session[]) {
  for (const host of hosts) {
    const invite = await createInvite(host.token, { role: "Viewer" });
    const accepted = await call("POST", `/api/v1/invites/${invite.token}/accept`, { token: joiner.token });
    expect(accepted.status, accepted.text).toBe(201);
  }
}

/** Walks a list forward by `nextCursor` from its first page, then back by `prevCursor`; returns the pages. */
async function walk(list: (query: string) => Promise<{ status: number; text: string; body: any }>, qt: number) {
  const forward = [await list(`?Qt=${qt}`)];
  while (forward.at(-1)!.body.nextCursor) forward.push(await list(`?Qt=${qt}&starting_after=${forward.at(-1)!.body.nextCursor}`));
  const back = [forward.at(-1)!];
  while (back.at(-1)!.body.prevCursor) back.push(await list(`?Qt=${qt}&ending_before=${back.at(-1)!.body.prevCursor}`));
  for (const page of [...forward, ...back]) expect(page.status, page.text).toBe(200);
  return { forward, back: back.reverse() };
}

describe("GET /api/v1/users/me/tenants: cursor pages", () => {
  it("the default page is the unpaged response plus null cursors; Qt=2 pages forward and back, oldest first, null at both ends", async () => {
    const me = await newTenant("mine");
    const hosts = [await newTenant("host-1"), await newTenant("host-2"), await newTenant("host-3"), await newTenant("host-4")];
    await joinAll(me, hosts);
    const all = await myTenants(me);
    expect(all.status, all.text).toBe(200);
    expect(Object.keys(all.body)).toEqual(["items", "nextCursor", "prevCursor"]);
    expect(all.body).toMatchObject({ nextCursor: null, prevCursor: null });
    expect(tenantIds(all)).toEqual([me.tenantId, ...hosts.map((host) => host.tenantId)]);
    expect(Object.keys(all.body.items[0])).toEqual(["tenantId", "tenantName", "role", "status", "joinedAt"]);

    const { forward, back } = await walk((query) => myTenants(me, query), 2);
    expect(forward.map(tenantIds)).toEqual([tenantIds(all).slice(0, 2), tenantIds(all).slice(2, 4), tenantIds(all).slice(4)]);
    expect(back.map(tenantIds)).toEqual(forward.map(tenantIds));
    expect(forward[0]!.body.prevCursor).toBeNull();
    expect(forward[2]!.body.nextCursor).toBeNull();
    expect(back[0]!.body.prevCursor).toBeNull();
    expect(forward[1]!.body.items).toEqual(all.body.items.slice(2, 4));
    // opaque: not the raw tenant id
    expect(forward[0]!.body.nextCursor).not.toContain(hosts[0]!.tenantId);
  });

  it("memberships joined in the same millisecond page by tenant id: each exactly once, in both directions", async () => {
    const me = await newTenant("tied");
    const hosts = [await newTenant("tie-1"), await newTenant("tie-2"), await newTenant("tie-3")];
    await joinAll(me, hosts);
    await env.DB.prepare("UPDATE memberships SET created_at = 1764590000000 WHERE account_id = ?").bind(me.userId).run();
    const expected = [me.tenantId, ...hosts.map((host) => host.tenantId)].sort();
    expect(tenantIds(await myTenants(me))).toEqual(expected);
    const { forward, back } = await walk((query) => myTenants(me, query), 1);
    expect(forward.flatMap(tenantIds)).toEqual(expected);
    expect(back.flatMap(tenantIds)).toEqual(expected);
  });

  it("400 INVALID_CURSOR for a forged cursor or another list's; 400 VALIDATION_ERROR for both cursors or Qt out of 1–100", async () => {
    const me = await newTenant("bad-cursor");
    await joinAll(me, [await newTenant("bad-host")]);
    const own = (await myTenants(me, "?Qt=1")).body.nextCursor as string;
    expect((await myTenants(me, `?starting_after=${own}`)).status).toBe(200);
    await createWebhook(me);
    await createWebhook(me);
    const webhookCursor = (await webhooks(me, "?Qt=1")).body.nextCursor as string;
    await newMember(me, "Viewer"); // two users and two invites: each list has a next page
    await createInvite(me.token);
    const userCursor = (await call("GET", "/api/v1/users?CpOrd=createdAt&TpOrd=Asc&Qt=1", { token: me.token })).body.nextCursor;
    const inviteCursor = (await call("GET", "/api/v1/invites?Qt=1", { token: me.token })).body.nextCursor;
    expect([webhookCursor, userCursor, inviteCursor]).toEqual([expect.any(String), expect.any(String), expect.any(String)]);
    const forged = [
      "nope",
      "x".repeat(300),
      b64url({ v: 1, s: "joinedAt", d: "desc", l: "my-tenants", k: 1, id: crypto.randomUUID() }), // this list never goes newest first
      b64url({ v: 1, s: "joinedAt", d: "asc", l: "my-tenants", k: "1", id: crypto.randomUUID() }),
      b64url({ v: 1, s: "joinedAt", d: "asc", k: 1, id: crypto.randomUUID() }), // no list name
      b64url({ v: 2, s: "joinedAt", d: "asc", l: "my-tenants", k: 1, id: crypto.randomUUID() }),
    ];
    for (const cursor of [...forged, webhookCursor, userCursor, inviteCursor, idCursor(crypto.randomUUID())]) {
      for (const param of ["starting_after", "ending_before"]) {
        const error = expectError(await myTenants(me, `?${param}=${cursor}`), 400, "INVALID_CURSOR");
        expect(Object.keys(error.details.fields)).toEqual([param]);
      }
    }
    // ... and this list's cursor is not another list's
    expectError(await webhooks(me, `?starting_after=${own}`), 400, "INVALID_CURSOR");
    expectError(await call("GET", `/api/v1/events?starting_after=${own}`, { token: me.token }), 400, "INVALID_CURSOR");
    expectError(await call("GET", `/api/v1/users?starting_after=${own}`, { token: me.token }), 400, "INVALID_CURSOR");
    expectError(await myTenants(me, `?starting_after=${own}&ending_before=${own}`), 400, "VALIDATION_ERROR");
    expectError(await myTenants(me, "?Qt=0"), 400, "VALIDATION_ERROR");
    expectError(await myTenants(me, "?Qt=101"), 400, "VALIDATION_ERROR");
    expectError(await call("GET", "/api/v1/users/me/tenants?Qt=1"), 401, "UNAUTHORIZED");
  });

  it("a cursor is a position, not a key: another account's cursor reads the caller's own memberships only", async () => {
    const alice = await newTenant("alice");
    const bob = await newTenant("bob");
    const shared = await newTenant("shared");
    const alicesOnly = [await newTenant("alice-1"), await newTenant("alice-2")];
    await joinAll(alice, [alicesOnly[0]!, shared, alicesOnly[1]!]);
    await joinAll(bob, [shared]);
    const bobs = tenantIds(await myTenants(bob));
    expect(bobs).toEqual([bob.tenantId, shared.tenantId]);
    const alicePage = await myTenants(alice, "?Qt=1");
    for (const query of [`?starting_after=${alicePage.body.nextCursor}`, `?Qt=1&ending_before=${(await myTenants(alice, `?Qt=1&starting_after=${alicePage.body.nextCursor}`)).body.prevCursor}`]) {
      const page = await myTenants(bob, query);
      expect(page.status, page.text).toBe(200);
      for (const tenantId of tenantIds(page)) expect(bobs).toContain(tenantId);
      expect(page.text).not.toContain(alice.tenantId);
      for (const only of alicesOnly) expect(page.text).not.toContain(only.tenantId);
    }
  });
});

describe("GET /api/v1/webhooks: cursor pages", () => {
  it(`the default page holds all ${MAX_WEBHOOKS_PER_TENANT} endpoints a tenant may have, cursors null; Qt=3 pages forward and back, newest first`, async () => {
    const owner = await newTenant("hooks-pages");
    const created: string[] = [];
    for (let i = 0; i < MAX_WEBHOOKS_PER_TENANT; i++) created.push((await createWebhook(owner)).id);
    const newestFirst = [...created].reverse();
    const all = await webhooks(owner);
    expect(all.status, all.text).toBe(200);
    expect(Object.keys(all.body)).toEqual(["items", "nextCursor", "prevCursor"]);
    expect(all.body).toMatchObject({ nextCursor: null, prevCursor: null });
    expect(ids(all)).toEqual(newestFirst);

    const { forward, back } = await walk((query) => webhooks(owner, query), 3);
    expect(forward.map(ids)).toEqual([newestFirst.slice(0, 3), newestFirst.slice(3, 6), newestFirst.slice(6, 9), newestFirst.slice(9)]);
    expect(back.map(ids)).toEqual(forward.map(ids));
    expect(forward[0]!.body.prevCursor).toBeNull();
    expect(forward.at(-1)!.body.nextCursor).toBeNull();
    expect(forward[1]!.body.items).toEqual(all.body.items.slice(3, 6));
    expect(all.text).not.toContain("whsec_");
  });

  it("400 INVALID_CURSOR for a forged cursor or another list's (events, deliveries, my tenants); 400 VALIDATION_ERROR for both or Qt out of range", async () => {
    const owner = await newTenant("hooks-bad");
    const hook = await createWebhook(owner);
    await createWebhook(owner);
    const own = (await webhooks(owner, "?Qt=1")).body.nextCursor as string;
    expect((await webhooks(owner, `?ending_before=${own}`)).status).toBe(200);
    const eventCursor = (await call("GET", "/api/v1/events?Qt=1", { token: owner.token })).body.nextCursor;
    expect(eventCursor).toEqual(expect.any(String));
    await joinAll(owner, [await newTenant("hooks-bad-host")]);
    const tenantsCursor = (await myTenants(owner, "?Qt=1")).body.nextCursor as string;
    const forged = [
      "nope",
      b64url({ v: 1, s: "id", d: "asc", l: "webhooks", id: crypto.randomUUID() }),
      b64url({ v: 1, s: "id", d: "desc", l: "events", id: crypto.randomUUID() }),
      b64url({ v: 1, s: "id", d: "desc", l: "webhooks", id: "1 OR 1=1" }),
    ];
    for (const cursor of [...forged, eventCursor, idCursor(crypto.randomUUID()), tenantsCursor]) {
      for (const param of ["starting_after", "ending_before"]) expectError(await webhooks(owner, `?${param}=${cursor}`), 400, "INVALID_CURSOR");
    }
    // a webhooks cursor is refused by the lists that share its ordering
    expectError(await call("GET", `/api/v1/events?starting_after=${own}`, { token: owner.token }), 400, "INVALID_CURSOR");
    expectError(await call("GET", `/api/v1/webhooks/${hook.id}/deliveries?starting_after=${own}`, { token: owner.token }), 400, "INVALID_CURSOR");
    expectError(await myTenants(owner, `?starting_after=${own}`), 400, "INVALID_CURSOR");
    expectError(await webhooks(owner, `?starting_after=${own}&ending_before=${own}`), 400, "VALIDATION_ERROR");
    expectError(await webhooks(owner, "?Qt=0"), 400, "VALIDATION_ERROR");
    expectError(await webhooks(owner, "?Qt=101"), 400, "VALIDATION_ERROR");
  });

  it("a cursor is a position, not a key: another tenant's cursor reads the caller's endpoints only", async () => {
    const a = await newTenant("hooks-a");
    const b = await newTenant("hooks-b");
    const aHooks: string[] = [];
    const bHooks: string[] = [];
    for (let i = 0; i < 3; i++) {
      aHooks.push((await createWebhook(a)).id);
      bHooks.push((await createWebhook(b)).id);
    }
    // Created a0 b0 a1 b1 a2 b2 (ids ascending). A's cursors are positions among B's ids: after a2 is b1 b0,
    // before a1 is b2 b1 — and never one of A's endpoints.
    const aPage = await webhooks(a, "?Qt=1");
    const fromA = await webhooks(b, `?starting_after=${aPage.body.nextCursor}`);
    expect(fromA.status, fromA.text).toBe(200);
    expect(ids(fromA)).toEqual(bHooks.slice(0, 2).reverse());
    const before = await webhooks(b, `?ending_before=${(await webhooks(a, `?Qt=1&starting_after=${aPage.body.nextCursor}`)).body.prevCursor}`);
    expect(before.status, before.text).toBe(200);
    expect(ids(before)).toEqual(bHooks.slice(1).reverse());
    for (const page of [fromA, before]) for (const id of aHooks) expect(page.text).not.toContain(id);
  });
});
