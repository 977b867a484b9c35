import { env, SELF } from "cloudflare:test";
import { operatorStatement } from "../scripts/lib/operator-sql.mjs";
import { hc } from "hono/client";
import { describe, expect, expectTypeOf, it } from "vitest";
import { ApiRequestError, createApiClient, memoryBookmarkStore, unwrap, type ApiClient } from "../examples/spa-client";
import type { AppType } from "../src/app";
import { WELL_FORMED_BOOKMARK } from "../src/http/d1-sessions";
import { BASE, PASSWORD, randomIp, unique, uniqueEmail } from "./helpers";

/** fetch into the Worker under test (inside the pool), each call from a fresh client IP. */
const workerFetch = (input: RequestInfo | URL, init?: RequestInit) => {
  const headers = new Headers(init?.headers);
  headers.set("CF-Connecting-IP", randomIp());
  return SELF.fetch(input, { ...init, headers });
};

describe("typed client (hc<AppType>) against the Worker", () => {
  it("covers tenant settings, link options and bulk create", async () => {
    const owner = createApiClient({ baseUrl: BASE, fetch: workerFetch });
    const email = uniqueEmail("rpc-links");
    await owner.signUp({ name: unique("rpc-links"), adminEmail: email, adminPassword: PASSWORD });
    await owner.logIn(email, PASSWORD);
    expect((await owner.tenantSettings()).invitePolicy).toBe("AdminsOnly");
    const settings = await owner.updateTenantSettings({ invitePolicy: "Members", redirectOrigins: ["https://app.example.test"] });
    expect(settings.redirectOrigins).toEqual(["https://app.example.test"]);
    const team = await owner.createInvite({ maxUses: 5, allowedDomains: ["example.test"], redirectUrl: "https://app.example.test/hi", publicMetadata: { team: "a" } });
    expectTypeOf(team.maxUses).toEqualTypeOf<number>();
    expect(team).toMatchObject({ maxUses: 5, uses: 0, allowedDomains: ["example.test"], redirectUrl: "https://app.example.test/hi" });
    const joined = await createApiClient({ baseUrl: BASE, fetch: workerFetch }).register(team.token, { email: uniqueEmail("rpc-joiner"), password: PASSWORD });
    expect(joined.redirectUrl).toBe("https://app.example.test/hi");
    const { items } = await owner.createInvites([{ role: "Viewer" }, { email: uniqueEmail("rpc-bulk") }]);
    expect(items).toHaveLength(2);
    const refused = await owner.createInvites([{ redirectUrl: "https://evil.test/" }]).catch((error: unknown) => error);
    expect(refused).toMatchObject({ status: 400, code: "REDIRECT_NOT_ALLOWED" });
  });

  it("covers the operator routes: 403 until `npm run operator -- grant`, then typed cursor pages", async () => {
    const client = createApiClient({ baseUrl: BASE, fetch: workerFetch });
    const email = uniqueEmail("rpc-operator");
    const tenant = await client.signUp({ name: unique("rpc-operator"), adminEmail: email, adminPassword: PASSWORD });
    await client.logIn(email, PASSWORD);
    expect(await client.operatorTenants().catch((error: unknown) => error)).toMatchObject({ status: 403, code: "FORBIDDEN" });
    await env.DB.prepare(operatorStatement("grant", email)).run();
    const tenants = await client.operatorTenants({ Qt: "1" });
    expectTypeOf(tenants.nextCursor).toEqualTypeOf<string | null>();
    expect(tenants.items[0]).toMatchObject({ id: tenant.tenantId, memberCount: 1 });
    const invite = await client.createInvite({});
    const invites = await client.operatorInvites({ TenantId: tenant.tenantId });
    expect(invites.items.map((item) => item.id)).toEqual([invite.id]);
    expect(invites.items[0]).not.toHaveProperty("token");
  });

  it("runs signup → login → create invite → register → list through examples/spa-client.ts", async () => {
    const bookmarks = memoryBookmarkStore();
    const admin = createApiClient({ baseUrl: BASE, fetch: workerFetch, bookmarks });
    const ownerEmail = uniqueEmail("rpc-owner");

    const tenant = await admin.signUp({ name: unique("rpc"), adminEmail: ownerEmail, adminPassword: PASSWORD });
    expect(tenant.adminRole).toBe("Owner");
    const tokens = await admin.logIn(ownerEmail, PASSWORD);
    expect(tokens.tokenType).toBe("Bearer");

    const invite = await admin.createInvite({ role: "Viewer", validityDays: 3 });
    expect(invite).toMatchObject({ tenantId: tenant.tenantId, targetRole: "Viewer", status: "Pending" });
    expect(invite.token).toMatch(/^inv_/);
    const afterWrite = bookmarks.get();
    expect(afterWrite).toMatch(WELL_FORMED_BOOKMARK);

    // The invitee has a browser of their own: no token, no bookmark.
    const invitee = createApiClient({ baseUrl: BASE, fetch: workerFetch });
    const memberEmail = uniqueEmail("rpc-member");
    const user = await invitee.register(invite.token, { email: memberEmail, password: PASSWORD });
    expect(user).toMatchObject({ tenantId: tenant.tenantId, email: memberEmail, role: "Viewer", status: "Active" });

    const page = await admin.listInvites({ Status: "Used", CpOrd: "createdAt", TpOrd: "Desc", Qt: "10" });
    expect(page.total).toBe(1);
    expect(page.items[0]).toMatchObject({ id: invite.id, status: "Used" });
    expect(page.nextCursor).toBeNull();
    await admin.createInvite({});
    const byCursor = await admin.listInvites({ Qt: "1", CpOrd: "createdAt" });
    const rest = await admin.listInvites({ Qt: "1", starting_after: byCursor.nextCursor! });
    expect(rest.prevCursor).toEqual(expect.any(String));
    // The list was read with the bookmark of the write and returned one at least as new.
    expect(bookmarks.get()! >= afterWrite!).toBe(true);
  });

  it("joins a second tenant: accept → switchTenant → getTenant/myTenants → removeUser; leave", async () => {
    const host = createApiClient({ baseUrl: BASE, fetch: workerFetch });
    const hostEmail = uniqueEmail("rpc-host");
    const hostTenant = await host.signUp({ name: unique("rpc-host"), adminEmail: hostEmail, adminPassword: PASSWORD });
    await host.logIn(hostEmail, PASSWORD);
    const joiner = createApiClient({ baseUrl: BASE, fetch: workerFetch });
    const joinerEmail = uniqueEmail("rpc-joiner");
    const home = await joiner.signUp({ name: unique("rpc-home"), adminEmail: joinerEmail, adminPassword: PASSWORD });
    await joiner.logIn(joinerEmail, PASSWORD);

    const invite = await host.createInvite({ role: "Viewer" });
    const joined = await joiner.accept(invite.token);
    expect(joined).toMatchObject({ id: home.adminUserId, tenantId: hostTenant.tenantId, role: "Viewer" });
    const switched = await joiner.switchTenant(hostTenant.tenantId);
    expect(switched.tenantId).toBe(hostTenant.tenantId);
    expect((await joiner.getTenant(hostTenant.tenantId)).memberCount).toBe(2);
    expect((await joiner.myTenants()).items.map((t) => t.tenantId)).toEqual([home.tenantId, hostTenant.tenantId]);
    const firstOfMine = await joiner.myTenants({ Qt: "1" });
    expectTypeOf(firstOfMine.nextCursor).toEqualTypeOf<string | null>();
    expect((await joiner.myTenants({ starting_after: firstOfMine.nextCursor! })).items.map((t) => t.tenantId)).toEqual([hostTenant.tenantId]);

    await host.removeUser(home.adminUserId);
    await expect(joiner.getTenant(hostTenant.tenantId)).rejects.toMatchObject({ status: 401 });
    await joiner.logIn(joinerEmail, PASSWORD, home.tenantId);
    await expect(joiner.leave()).rejects.toMatchObject({ status: 409, code: "LAST_OWNER" });
  });

  it("throws the error envelope as ApiRequestError, with code, status, field errors and request id", async () => {
    const client = createApiClient({ baseUrl: BASE, fetch: workerFetch });
    const invalid = await client.signUp({ name: "", adminEmail: "nope", adminPassword: "short" }).catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(ApiRequestError);
    const validation = invalid as ApiRequestError;
    expect(validation.status).toBe(400);
    expect(validation.code).toBe("VALIDATION_ERROR");
    expect(Object.keys(validation.fieldErrors)).toEqual(expect.arrayContaining(["name", "adminEmail", "adminPassword"]));
    expect(validation.requestId).toBeTruthy();

    const unauthenticated = await client.listInvites().catch((error: unknown) => error);
    expect(unauthenticated).toMatchObject({ status: 401, code: "UNAUTHORIZED" });

    const unknownInvite = await client.register("inv_doesnotexist", { email: uniqueEmail("x"), password: PASSWORD }).catch((error: unknown) => error);
    expect(unknownInvite).toMatchObject({ status: 404, code: "INVITE_NOT_FOUND" });
  });

  it("the raw hc<AppType> client is typed per route and status", async () => {
    const client = hc<AppType>(BASE, { fetch: workerFetch });
    const health = await unwrap(client.healthz.$get());
    expect(health).toEqual({ status: "ok" });

    const failed = await unwrap(
      client.api.v1.invites[":token"].register.$post({ param: { token: "inv_nothing" }, json: { email: uniqueEmail("y"), password: PASSWORD } }),
    ).catch((error: unknown) => error);
    // Only success bodies are typed by the routes; every failure is the one envelope, read by unwrap().
    expect(failed).toBeInstanceOf(ApiRequestError);
    expectTypeOf<ApiRequestError["envelope"]["code"]>().toEqualTypeOf<string>();
    expect((failed as ApiRequestError).envelope).toMatchObject({ code: "INVITE_NOT_FOUND", statusCode: 404, error: "Not Found" });
  });

  it("types the success bodies from the route schemas (compile-time)", () => {
    type Invite = Awaited<ReturnType<ApiClient["createInvite"]>>;
    type Page = Awaited<ReturnType<ApiClient["listInvites"]>>;
    type User = Awaited<ReturnType<ApiClient["register"]>>;
    expectTypeOf<Invite["token"]>().toEqualTypeOf<string>();
    expectTypeOf<Invite["status"]>().toEqualTypeOf<"Pending" | "Used" | "Expired" | "Revoked">();
    expectTypeOf<Page["total"]>().toEqualTypeOf<number>();
    expectTypeOf<Page["items"][number]["id"]>().toEqualTypeOf<string>();
    expectTypeOf<User["role"]>().toEqualTypeOf<"Owner" | "Admin" | "Developer" | "Viewer">();
    expectTypeOf<Invite>().not.toHaveProperty("nope");
  });
});
