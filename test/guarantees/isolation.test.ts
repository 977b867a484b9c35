/**
 * Guarantee: tenants are isolated. Every authenticated route that takes an id (derived from
 * app.routes + the OpenAPI security, so routes added later are covered) answers another tenant's
 * Owner (and Admin) 404 for every id of the first tenant, with none of its data in the body and no
 * effect on its rows; lists never show another tenant's rows. A control proves each route does
 * find those ids for their own tenant, so the 404s are isolation, not a broken route.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { apiRoutes, exampleBody, routeKey, type ApiRoute } from "./surface";
import { call, createInvite, newMember, newTenant, register, uniqueEmail, type ApiResponse, type Session } from "../helpers";

interface Victim {
  owner: Session;
  members: Session[];
  /** every id of the tenant's own resources, labelled */
  ids: Record<string, string>;
  /** everything that must never reach another tenant */
  secrets: string[];
}

let victim: Victim;
let intruders: Session[];

async function victimRows(tenantId: string): Promise<string> {
  const parts = [];
  for (const sql of [
    "SELECT * FROM tenants WHERE id = ?1",
    "SELECT * FROM memberships WHERE tenant_id = ?1 ORDER BY account_id",
    "SELECT * FROM invites WHERE tenant_id = ?1 ORDER BY id",
    "SELECT * FROM refresh_tokens WHERE tenant_id = ?1 ORDER BY id",
    // configuration only: the failure record and the delivery log move with the Queue consumer in the background
    "SELECT id, url, event_types, enabled, secret_ciphertext, previous_secret_ciphertext, updated_at FROM webhook_endpoints WHERE tenant_id = ?1 ORDER BY id",
    "SELECT * FROM events WHERE tenant_id = ?1 ORDER BY id",
  ]) {
    parts.push((await env.DB.prepare(sql).bind(tenantId).all()).results);
  }
  return JSON.stringify(parts);
}

/**
 * Routes behind a bearer token (required or optional) that take a path parameter. Accept is not
 * one: its parameter is an invite token, a bearer secret any account holding it may redeem (its
 * tenant rules are tested in test/features/invites-accept.test.ts).
 */
const NOT_ID_ROUTES = ["POST /api/v1/invites/:token/accept"];
const idRoutes = () => apiRoutes().filter((route) => route.params.length > 0 && route.auth !== "public" && !NOT_ID_ROUTES.includes(routeKey(route)));
/** Authenticated collection reads: GET routes without parameters. */
const listRoutes = () => apiRoutes().filter((route) => route.params.length === 0 && route.auth === "bearer" && route.method === "GET");

/** Webhook routes are Owner-only: an Admin is refused (403) before any id is looked up, which is isolation too. */
const ownerOnly = (route: ApiRoute) => route.path.startsWith("/api/v1/webhooks");
/** The platform operator's routes read across tenants by design: every tenant member (no operator here) gets 403. */
const operatorOnly = (route: ApiRoute) => route.path.startsWith("/api/v1/operator/");

/** The first path parameter gets `id`; a second one (a delivery of that webhook) the victim's own delivery id. */
function send(route: ApiRoute, id: string, session: Session): Promise<ApiResponse> {
  let index = 0;
  const path = route.path.replace(/:(\w+)(?:\{[^}]*\})?\??/g, () => encodeURIComponent(index++ === 0 ? id : victim.ids.webhookDelivery!));
  const body = exampleBody(route.body);
  return call(route.method, path, { token: session.token, ...(body ? { body } : {}) });
}

beforeAll(async () => {
  const owner = await newTenant("victim");
  const admin = await newMember(owner, "Admin");
  const developer = await newMember(owner, "Developer");
  const pending = await createInvite(owner.token, { email: uniqueEmail("victim-bound") });
  const adminInvite = await createInvite(owner.token, { role: "Admin" });
  const used = await createInvite(owner.token, { role: "Viewer" });
  const viewerEmail = uniqueEmail("victim-viewer");
  const registered = await register(used.token, viewerEmail);
  expect(registered.status).toBe(201);
  const revoked = await createInvite(owner.token);
  await env.DB.prepare("UPDATE invites SET revoked_at = ?1, updated_at = ?1 WHERE id = ?2").bind(Date.now(), revoked.id).run();
  const hook = await call("POST", "/api/v1/webhooks", { token: owner.token, body: { url: `https://hooks.example.com/victim-${crypto.randomUUID()}` } });
  expect(hook.status, hook.text).toBe(201);
  const delivery = await env.DB.prepare("SELECT id FROM webhook_deliveries WHERE endpoint_id = ? LIMIT 1").bind(hook.body.id).first<{ id: string }>();
  victim = {
    owner,
    members: [admin, developer],
    ids: {
      ownerUser: owner.userId,
      adminUser: admin.userId,
      developerUser: developer.userId,
      viewerUser: registered.body.id,
      tenant: owner.tenantId,
      pendingInvite: pending.id,
      adminInvite: adminInvite.id,
      usedInvite: used.id,
      revokedInvite: revoked.id,
      webhook: hook.body.id,
      webhookDelivery: delivery!.id,
    },
    secrets: [
      owner.tenantId,
      owner.tenantName,
      owner.userId,
      admin.userId,
      developer.userId,
      registered.body.id,
      owner.email,
      admin.email,
      developer.email,
      viewerEmail,
      ...[pending, adminInvite, used, revoked].flatMap((i) => [i.id, i.token]),
      owner.refreshToken,
      admin.refreshToken,
      hook.body.id,
      hook.body.url,
      hook.body.secret,
      delivery!.id,
    ],
  };
  const intruder = await newTenant("intruder");
  intruders = [intruder, await newMember(intruder, "Admin")];
  // The intruding tenant has resources of its own, so its lists are not trivially empty.
  await createInvite(intruder.token);
});

function expectNoLeak(response: ApiResponse, allowed: string, context: string) {
  for (const secret of victim.secrets) {
    if (secret === allowed) continue;
    expect(response.text.includes(secret), `${context} leaks ${secret.slice(0, 12)}…: ${response.text.slice(0, 300)}`).toBe(false);
  }
}

describe("guarantee: another tenant's ids are 404 everywhere, with no data and no effect", () => {
  it("finds the routes to check", () => {
    const routes = idRoutes().map(routeKey);
    expect(routes).toEqual(expect.arrayContaining(["GET /api/v1/invites/:id"]));
    console.log(`isolation: ${routes.length} id routes × ${Object.keys(victim.ids).length} foreign ids × ${intruders.length} intruders (Owner, Admin): ${routes.join(", ")}`);
  });

  it("every id route × every id of another tenant → 404 envelope, none of its data, its rows unchanged", async () => {
    const before = await victimRows(victim.owner.tenantId);
    let checked = 0;
    for (const intruder of intruders) {
      for (const route of idRoutes()) {
        for (const [label, id] of Object.entries(victim.ids)) {
          const response = await send(route, id, intruder);
          const asAdmin = intruder !== intruders[0];
          const context = `${asAdmin ? "Admin" : "Owner"} of another tenant: ${routeKey(route)} with its ${label}`;
          if (asAdmin && ownerOnly(route)) {
            expect(response.status, `${context}: ${response.text.slice(0, 300)}`).toBe(403);
            expect(response.body, context).toMatchObject({ statusCode: 403, code: "FORBIDDEN" });
          } else {
            expect(response.status, `${context}: ${response.text.slice(0, 300)}`).toBe(404);
            expect(response.body, context).toMatchObject({ statusCode: 404, code: expect.stringMatching(/_NOT_FOUND$/) });
          }
          expectNoLeak(response, id, context);
          checked++;
        }
      }
    }
    expect(checked).toBe(intruders.length * idRoutes().length * Object.keys(victim.ids).length);
    expect(await victimRows(victim.owner.tenantId)).toBe(before);
  }, 120_000); // hundreds of sequential requests (13 id routes × 11 ids × 2 intruders): slow on a loaded machine

  it("another tenant's lists never contain the tenant's rows", async () => {
    expect(listRoutes().length).toBeGreaterThan(0);
    for (const intruder of intruders) {
      for (const route of listRoutes()) {
        const response = await call("GET", `${route.path}?Qt=100`, { token: intruder.token });
        expect(response.status, `${routeKey(route)}: ${response.text.slice(0, 200)}`).toBe(operatorOnly(route) || (intruder !== intruders[0] && ownerOnly(route)) ? 403 : 200);
        expectNoLeak(response, "", routeKey(route));
      }
    }
  });

  it("control: each route does find those ids for the tenant's own Owner (so the 404s above are isolation)", async () => {
    // Deletes last: the webhook routes after DELETE /webhooks/:id would find nothing.
    const deletesLast = [...idRoutes()].sort((a, b) => Number(a.method === "DELETE") - Number(b.method === "DELETE"));
    for (const route of deletesLast) {
      const statuses: number[] = [];
      for (const id of Object.values(victim.ids)) statuses.push((await send(route, id, victim.owner)).status);
      expect(statuses.some((status) => status !== 404), `${routeKey(route)} answered 404 to its own tenant for every id: ${statuses}`).toBe(true);
    }
  }, 120_000); // hundreds of sequential requests (13 id routes × 11 ids × 2 intruders): slow on a loaded machine
});
