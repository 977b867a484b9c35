import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import type { Env } from "../../src/env";
import { purgeExpired } from "../../src/features/maintenance/service";
import { INVITE_SORT_FIELDS, INVITE_STATUSES } from "../../src/features/invites/service";
import { USER_SORT_FIELDS } from "../../src/features/users/service";
import { operatorStatement } from "../../scripts/lib/operator-sql.mjs";
import { runMaintenance } from "../../src/features/maintenance/service";
import { runMailJob } from "../../src/outbox/mail-consumer";
import { purgeFinishedMail, reenqueueStuckMail } from "../../src/outbox/maintenance";
import { deliverMessage, dispatchPending, sweepOutbox } from "../../src/outbox/webhooks";
import { capturingD1, type CapturedStatement } from "../d1-spy";
import { webhookReceiver } from "../webhook-helpers";
import { BASE, PASSWORD, randomIp, unique, uniqueEmail } from "../helpers";

/** Our tables: every access to one of them must be an index SEARCH, never a SCAN of the table. */
const TABLES = ["tenants", "accounts", "memberships", "users", "invites", "refresh_tokens"];
/** The tables of the email channel and of events/webhooks (DESIGN §2.7, §2.8). */
const OUTBOX_TABLES = ["events", "webhook_endpoints", "webhook_deliveries", "mail_outbox", "account_tokens"];

/** Full table scans among `statements` and the indexes they use. */
async function plans(statements: CapturedStatement[], tables: string[], allowedScans: RegExp[] = []) {
  const distinct = [...new Map(statements.map((statement) => [statement.sql, statement])).values()];
  const scans: string[] = [];
  const used = new Set<string>();
  for (const statement of distinct) {
    for (const detail of await explain(statement)) {
      const index = /USING (?:COVERING )?INDEX (\w+)/.exec(detail)?.[1];
      if (index) used.add(index);
      const scanned = /^SCAN (\w+)(?: AS \w+)?$/.exec(detail)?.[1];
      if (scanned && tables.includes(scanned) && !allowedScans.some((allowed) => allowed.test(statement.sql))) scans.push(`${detail}  ←  ${statement.sql.replace(/\s+/g, " ").slice(0, 160)}`);
    }
  }
  return { distinct, scans, used };
}

/** The non-unique indexes of `tables` that no statement in `used` reaches its rows through. */
async function unusedIndexes(tables: string[], used: Set<string>): Promise<string[]> {
  const { results: indexes } = await env.DB.prepare(
    `SELECT name, tbl_name AS tableName, sql FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%' AND tbl_name IN (${tables.map(() => "?").join(",")})`,
  )
    .bind(...tables)
    .all<{ name: string; tableName: string; sql: string }>();
  return indexes.filter((index) => !/^CREATE UNIQUE/i.test(index.sql) && !used.has(index.name)).map((index) => index.name);
}

async function explain(statement: CapturedStatement): Promise<string[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${statement.sql}`)
    .bind(...statement.params)
    .all<{ detail: string }>();
  return results.map((row) => row.detail);
}

/** The app over a D1 binding that records every statement, and a way to call it. */
function capturingApp(vars: Record<string, string> = {}) {
  const { db, statements } = capturingD1();
  const captured = { ...(env as unknown as Env), ...vars, DB: db };
  const send = async (method: string, path: string, { token, body }: { token?: string; body?: unknown } = {}) => {
    const headers: Record<string, string> = { "CF-Connecting-IP": randomIp() };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await app.request(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }, captured);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  return { statements, captured, send };
}

describe("query plans (EXPLAIN QUERY PLAN of every statement the API runs)", () => {
  it("every statement reaches its rows through an index, and every non-unique index serves some statement", async () => {
    const { statements, captured, send } = capturingApp();

    // Every route, the list routes with every sort field, direction and filter.
    const ownerEmail = uniqueEmail("plans-owner");
    const signup = await send("POST", "/api/v1/tenants", { body: { name: unique("plans"), adminEmail: ownerEmail, adminPassword: PASSWORD } });
    expect(signup.status).toBe(201);
    const login = await send("POST", "/api/v1/auth/login", { body: { email: ownerEmail, password: PASSWORD } });
    expect(login.status).toBe(200);
    const token = login.body.accessToken as string;
    const bound = await send("POST", "/api/v1/invites", { token, body: { email: uniqueEmail("bound") } });
    expect(bound.status).toBe(201);
    const open = await send("POST", "/api/v1/invites", { token, body: { role: "Viewer" } });
    expect(open.status).toBe(201);
    for (const CpOrd of INVITE_SORT_FIELDS) {
      for (const TpOrd of ["Asc", "Desc"]) expect((await send("GET", `/api/v1/invites?CpOrd=${CpOrd}&TpOrd=${TpOrd}&Pg=2&Qt=5`, { token })).status).toBe(200);
    }
    for (const Status of INVITE_STATUSES) expect((await send("GET", `/api/v1/invites?Status=${Status}`, { token })).status).toBe(200);
    expect((await send("GET", `/api/v1/invites/${bound.body.id}`, { token })).status).toBe(200);
    expect((await send("GET", `/api/v1/invites/${open.body.token}`)).status).toBe(200);
    const memberEmail = uniqueEmail("plans-member");
    const registered = await send("POST", `/api/v1/invites/${open.body.token}/register`, { body: { email: memberEmail, password: PASSWORD } });
    expect(registered.status).toBe(201);
    expect((await send("POST", `/api/v1/invites/${open.body.token}/register`, { body: { email: uniqueEmail("late"), password: PASSWORD } })).status).toBe(409);
    expect((await send("POST", `/api/v1/invites/${bound.body.id}/renew`, { token, body: { validityDays: 3 } })).status).toBe(200);
    expect((await send("DELETE", `/api/v1/invites/${bound.body.id}`, { token })).status).toBe(204);
    for (const CpOrd of USER_SORT_FIELDS) {
      for (const TpOrd of ["Asc", "Desc"]) expect((await send("GET", `/api/v1/users?CpOrd=${CpOrd}&TpOrd=${TpOrd}`, { token })).status).toBe(200);
    }
    expect((await send("GET", "/api/v1/users?Status=Active&Role=Viewer", { token })).status).toBe(200);
    expect((await send("GET", "/api/v1/users/me", { token })).status).toBe(200);
    expect((await send("GET", `/api/v1/users/${registered.body.id}`, { token })).status).toBe(200);
    expect((await send("PATCH", `/api/v1/users/${registered.body.id}`, { token, body: { role: "Developer" } })).status).toBe(200);
    const refreshed = await send("POST", "/api/v1/auth/refresh", { body: { refreshToken: login.body.refreshToken } });
    expect(refreshed.status).toBe(200);
    expect((await send("POST", "/api/v1/auth/refresh", { body: { refreshToken: login.body.refreshToken } })).status).toBe(401);
    expect((await send("POST", "/api/v1/auth/logout", { body: { refreshToken: refreshed.body.refreshToken } })).status).toBe(204);
    // Memberships: a second tenant invites the first Owner's account, which accepts, switches and lists its tenants.
    const hostEmail = uniqueEmail("plans-host");
    expect((await send("POST", "/api/v1/tenants", { body: { name: unique("plans-host"), adminEmail: hostEmail, adminPassword: PASSWORD } })).status).toBe(201);
    const host = (await send("POST", "/api/v1/auth/login", { body: { email: hostEmail, password: PASSWORD } })).body.accessToken as string;
    const join = await send("POST", "/api/v1/invites", { token: host, body: { role: "Developer" } });
    expect(join.status).toBe(201);
    const accepted = await send("POST", `/api/v1/invites/${join.body.token}/accept`, { token });
    expect(accepted.status).toBe(201);
    const switched = await send("POST", "/api/v1/auth/switch-tenant", { token, body: { tenantId: join.body.tenantId } });
    expect(switched.status).toBe(200);
    expect((await send("GET", "/api/v1/users/me/tenants", { token })).status).toBe(200);
    const myFirst = await send("GET", "/api/v1/users/me/tenants?Qt=1", { token });
    expect(myFirst.body.nextCursor).toEqual(expect.any(String));
    const mySecond = await send("GET", `/api/v1/users/me/tenants?Qt=1&starting_after=${myFirst.body.nextCursor}`, { token });
    expect(mySecond.body.prevCursor).toEqual(expect.any(String));
    expect((await send("GET", `/api/v1/users/me/tenants?Qt=1&ending_before=${mySecond.body.prevCursor}`, { token })).status).toBe(200);
    expect((await send("GET", `/api/v1/tenants/${signup.body.tenantId}`, { token })).status).toBe(200);
    expect((await send("DELETE", "/api/v1/users/me", { token: switched.body.accessToken })).status).toBe(204);
    expect((await send("DELETE", `/api/v1/users/${registered.body.id}`, { token })).status).toBe(204);
    // Links and policies: tenant settings, link options, bulk create, cursor pages (both directions), a
    // Developer's own invites under Members, a multi-use link redeemed.
    expect((await send("GET", "/api/v1/tenants/current", { token })).status).toBe(200);
    expect((await send("PATCH", "/api/v1/tenants/current", { token, body: { invitePolicy: "Members", redirectOrigins: ["https://app.plans.test"] } })).status).toBe(200);
    const bulk = await send("POST", "/api/v1/invites/bulk", {
      token,
      body: { invites: [{ email: uniqueEmail("bulk") }, { maxUses: 5, allowedDomains: ["example.test"], redirectUrl: "https://app.plans.test/x", publicMetadata: { a: 1 } }] },
    });
    expect(bulk.status).toBe(201);
    expect((await send("POST", "/api/v1/invites/bulk", { token, body: { invites: [{ email: uniqueEmail("again") }, { redirectUrl: "https://elsewhere.test/" }] } })).status).toBe(400);
    expect((await send("POST", `/api/v1/invites/${bulk.body.items[1].token}/register`, { body: { email: uniqueEmail("link"), password: PASSWORD } })).status).toBe(201);
    for (const CpOrd of INVITE_SORT_FIELDS) {
      for (const TpOrd of ["Asc", "Desc"]) {
        const page = await send("GET", `/api/v1/invites?CpOrd=${CpOrd}&TpOrd=${TpOrd}&Qt=1`, { token });
        expect(page.status).toBe(200);
        const next = await send("GET", `/api/v1/invites?Qt=1&starting_after=${page.body.nextCursor}`, { token });
        expect(next.status).toBe(200);
        expect(next.body.prevCursor).toEqual(expect.any(String));
        expect((await send("GET", `/api/v1/invites?Qt=1&ending_before=${next.body.prevCursor}`, { token })).status).toBe(200);
      }
    }
    for (const CpOrd of USER_SORT_FIELDS) {
      const page = await send("GET", `/api/v1/users?CpOrd=${CpOrd}&Qt=1`, { token });
      expect((await send("GET", `/api/v1/users?Qt=1&starting_after=${page.body.nextCursor}`, { token })).status).toBe(200);
    }
    const developerInvite = await send("POST", "/api/v1/invites", { token, body: { role: "Developer" } });
    const developerEmail = uniqueEmail("plans-dev");
    expect((await send("POST", `/api/v1/invites/${developerInvite.body.token}/register`, { body: { email: developerEmail, password: PASSWORD } })).status).toBe(201);
    const developer = (await send("POST", "/api/v1/auth/login", { body: { email: developerEmail, password: PASSWORD } })).body.accessToken as string;
    const own = await send("POST", "/api/v1/invites", { token: developer, body: { role: "Viewer", email: uniqueEmail("own") } });
    expect(own.status).toBe(201);
    expect((await send("GET", "/api/v1/invites?Status=Pending", { token: developer })).status).toBe(200);
    expect((await send("GET", `/api/v1/invites/${own.body.id}`, { token: developer })).status).toBe(200);
    expect((await send("POST", `/api/v1/invites/${own.body.id}/resend`, { token: developer })).status).toBe(429);
    expect((await send("DELETE", `/api/v1/invites/${own.body.id}`, { token: developer })).status).toBe(204);
    // The platform operator's cross-tenant pages (with and without a tenant, after a cursor).
    await env.DB.prepare(operatorStatement("grant", ownerEmail)).run();
    const operatorToken = (await send("POST", "/api/v1/auth/login", { body: { email: ownerEmail, password: PASSWORD } })).body.accessToken as string;
    for (const path of ["/api/v1/operator/invites?Qt=1", `/api/v1/operator/invites?Qt=1&TenantId=${signup.body.tenantId}`, "/api/v1/operator/tenants?Qt=1"]) {
      const page = await send("GET", path, { token: operatorToken });
      expect(page.status).toBe(200);
      expect((await send("GET", `${path}&starting_after=${page.body.nextCursor}`, { token: operatorToken })).status).toBe(200);
      expect((await send("GET", `${path}&ending_before=${page.body.nextCursor}`, { token: operatorToken })).status).toBe(200);
    }
    await purgeExpired(captured, Date.now());

    const { distinct, scans, used } = await plans(statements, TABLES);
    expect(distinct.length).toBeGreaterThan(20);
    expect(scans, "full table scans").toEqual([]);
    const unused = await unusedIndexes(TABLES, used);
    expect(unused, "indexes no statement uses (each costs a row written per insert)").toEqual([]);
  });

  it("the email channel, events and webhooks too: every statement of their routes, consumers and cron through an index, every non-unique index used", async () => {
    const { statements, captured, send } = capturingApp({ ALLOW_LOCAL_WEBHOOKS: "1" });
    const ownerEmail = uniqueEmail("plans-outbox");
    const signup = await send("POST", "/api/v1/tenants", { body: { name: unique("plans-outbox"), adminEmail: ownerEmail, adminPassword: PASSWORD } });
    expect(signup.status).toBe(201);
    const token = (await send("POST", "/api/v1/auth/login", { body: { email: ownerEmail, password: PASSWORD } })).body.accessToken as string;
    const hook = await send("POST", "/api/v1/webhooks", { token, body: { url: `https://hooks.example.com/${crypto.randomUUID()}`, events: ["invite.created", "member.added"] } });
    expect(hook.status).toBe(201);
    const everything = await send("POST", "/api/v1/webhooks", { token, body: { url: `https://hooks.example.com/${crypto.randomUUID()}` } });
    expect(everything.status).toBe(201);
    const bound = await send("POST", "/api/v1/invites", { token, body: { email: uniqueEmail("plans-mail") } });
    expect(bound.status).toBe(201);
    expect([202, 429]).toContain((await send("POST", `/api/v1/invites/${bound.body.id}/resend`, { token })).status);
    const open = await send("POST", "/api/v1/invites", { token, body: { role: "Viewer" } });
    expect((await send("POST", `/api/v1/invites/${open.body.token}/register`, { body: { email: uniqueEmail("plans-joiner"), password: PASSWORD } })).status).toBe(201);
    expect((await send("DELETE", `/api/v1/invites/${bound.body.id}`, { token })).status).toBe(204);
    const events = await send("GET", "/api/v1/events?Qt=2", { token });
    expect(events.status).toBe(200);
    expect((await send("GET", `/api/v1/events?Qt=2&starting_after=${events.body.nextCursor}`, { token })).status).toBe(200);
    expect((await send("GET", `/api/v1/events?Qt=2&ending_before=${events.body.nextCursor}`, { token })).status).toBe(200);
    expect((await send("GET", "/api/v1/events?Type=invite.created", { token })).status).toBe(200);
    expect((await send("GET", "/api/v1/webhooks", { token })).status).toBe(200);
    const hooks = await send("GET", "/api/v1/webhooks?Qt=1", { token });
    expect(hooks.body.nextCursor).toEqual(expect.any(String));
    expect((await send("GET", `/api/v1/webhooks?Qt=1&starting_after=${hooks.body.nextCursor}`, { token })).status).toBe(200);
    expect((await send("GET", `/api/v1/webhooks?Qt=1&ending_before=${hooks.body.nextCursor}`, { token })).status).toBe(200);
    expect((await send("GET", `/api/v1/webhooks/${hook.body.id}`, { token })).status).toBe(200);
    expect((await send("PATCH", `/api/v1/webhooks/${hook.body.id}`, { token, body: { events: ["invite.created"] } })).status).toBe(200);
    expect((await send("POST", `/api/v1/webhooks/${hook.body.id}/rotate-secret`, { token })).status).toBe(200);
    // The consumers and the cron, on the same recording binding.
    const receiver = webhookReceiver(() => new Response(null, { status: 500 }));
    try {
      const { results: pending } = await env.DB.prepare("SELECT endpoint_id AS endpointId, event_id AS eventId FROM webhook_deliveries WHERE tenant_id = ? AND status = 'Pending'")
        .bind(signup.body.tenantId)
        .all<{ endpointId: string; eventId: string }>();
      expect(pending.length).toBeGreaterThan(0);
      for (const message of pending.slice(0, 3)) await deliverMessage(captured, message);
    } finally {
      receiver.restore();
    }
    const deliveries = await send("GET", `/api/v1/webhooks/${hook.body.id}/deliveries?Qt=2`, { token });
    expect(deliveries.status).toBe(200);
    if (deliveries.body.nextCursor) expect((await send("GET", `/api/v1/webhooks/${hook.body.id}/deliveries?Qt=2&starting_after=${deliveries.body.nextCursor}`, { token })).status).toBe(200);
    const firstDelivery = deliveries.body.items[0];
    if (firstDelivery) expect((await send("POST", `/api/v1/webhooks/${hook.body.id}/deliveries/${firstDelivery.id}/redeliver`, { token })).status).toBe(202);
    const { results: jobs } = await env.DB.prepare("SELECT id FROM mail_outbox WHERE recipient = ? OR subject_id = ?").bind(ownerEmail, bound.body.id).all<{ id: string }>();
    const mailer = { send: async () => ({ ok: true as const, messageId: "plans@test" }) };
    for (const job of jobs) await runMailJob(captured, job.id, mailer);
    expect((await send("POST", "/api/v1/auth/verify-email/resend", { token })).status).toBe(202);
    expect((await send("POST", "/api/v1/auth/verify-email", { body: { token: "ev_notarealtoken" } })).status).toBe(400);
    expect((await send("POST", "/api/v1/auth/password-reset", { body: { email: ownerEmail } })).status).toBe(202);
    expect((await send("POST", "/api/v1/auth/password-reset/confirm", { body: { token: "pr_notarealtoken", password: PASSWORD } })).status).toBe(400);
    expect((await send("DELETE", `/api/v1/webhooks/${everything.body.id}`, { token })).status).toBe(204);
    const later = Date.now() + 200 * 24 * 3600 * 1000;
    await dispatchPending(captured);
    await sweepOutbox(captured, later);
    await reenqueueStuckMail(captured, later);
    await purgeFinishedMail(captured, later);
    await runMaintenance(captured, later);

    // After a key rotation the nightly job reads each sealed secret once to find those under an old key (a
    // bounded sweep by design, README "Rotating INVITE_TOKEN_KEY").
    const { distinct, scans, used } = await plans(statements, OUTBOX_TABLES, [/substr\((?:previous_)?secret_ciphertext, 1, 12\)/]);
    expect(distinct.length).toBeGreaterThan(20);
    expect(scans, "full table scans").toEqual([]);
    expect(await unusedIndexes(OUTBOX_TABLES, used), "indexes no statement uses (each costs a row written per insert)").toEqual([]);
  });
});
