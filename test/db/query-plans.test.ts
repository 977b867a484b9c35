import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import type { Env } from "../../src/env";
import { purgeExpired } from "../../src/features/maintenance/service";
import { INVITE_SORT_FIELDS, INVITE_STATUSES } from "../../src/features/invites/service";
import { USER_SORT_FIELDS } from "../../src/features/users/service";
import { operatorStatement } from "../../scripts/lib/operator-sql.mjs";
import { capturingD1, type CapturedStatement } from "../d1-spy";
import { BASE, PASSWORD, randomIp, unique, uniqueEmail } from "../helpers";

/** Our tables: every access to one of them must be an index SEARCH, never a SCAN of the table. */
const TABLES = ["tenants", "accounts", "memberships", "users", "invites", "refresh_tokens"];

async function explain(statement: CapturedStatement): Promise<string[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${statement.sql}`)
    .bind(...statement.params)
    .all<{ detail: string }>();
  return results.map((row) => row.detail);
}

describe("query plans (EXPLAIN QUERY PLAN of every statement the API runs)", () => {
  it("every statement reaches its rows through an index, and every non-unique index serves some statement", async () => {
    const { db, statements } = capturingD1();
    const captured = { ...(env as unknown as Env), DB: db };
    const send = async (method: string, path: string, { token, body }: { token?: string; body?: unknown } = {}) => {
      const headers: Record<string, string> = { "CF-Connecting-IP": randomIp() };
      if (token) headers.Authorization = `Bearer ${token}`;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const response = await app.request(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }, captured);
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    };

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

    const distinct = [...new Map(statements.map((statement) => [statement.sql, statement])).values()];
    expect(distinct.length).toBeGreaterThan(20);
    const scans: string[] = [];
    const used = new Set<string>();
    for (const statement of distinct) {
      for (const detail of await explain(statement)) {
        const index = /USING (?:COVERING )?INDEX (\w+)/.exec(detail)?.[1];
        if (index) used.add(index);
        const scanned = /^SCAN (\w+)(?: AS \w+)?$/.exec(detail)?.[1];
        if (scanned && TABLES.includes(scanned)) scans.push(`${detail}  ←  ${statement.sql.replace(/\s+/g, " ").slice(0, 160)}`);
      }
    }
    expect(scans, "full table scans").toEqual([]);

    const { results: indexes } = await env.DB.prepare(
      `SELECT name, tbl_name AS tableName, sql FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%' AND tbl_name IN (${TABLES.map(() => "?").join(",")})`,
    )
      .bind(...TABLES)
      .all<{ name: string; tableName: string; sql: string }>();
    const unused = indexes.filter((index) => !/^CREATE UNIQUE/i.test(index.sql) && !used.has(index.name)).map((index) => index.name);
    expect(unused, "indexes no statement uses (each costs a row written per insert)").toEqual([]);
  });
});
