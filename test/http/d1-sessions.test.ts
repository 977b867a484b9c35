import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { WELL_FORMED_BOOKMARK } from "../../src/http/d1-sessions";
import { envWith, headers, observedD1, ORIGIN } from "../d1-spy";
import { call, createInvite, newMember, newTenant, PASSWORD, uniqueEmail } from "../helpers";

const WRITE_SQL = /^\s*(insert|update|delete|replace)\b/i;

function observedRequest(path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  const { db, log } = observedD1();
  const response = app.request(`${ORIGIN}${path}`, { ...init, headers: headers(init.headers) }, envWith({ DB: db }));
  return { response, log };
}

describe("D1 Sessions API: bookmarks and read replicas", () => {
  it("a write returns a bookmark, and a read that sends it back sees the write", async () => {
    const owner = await newTenant("bookmark");
    const created = await call("POST", "/api/v1/invites", { token: owner.token, body: { role: "Viewer" } });
    expect(created.status).toBe(201);
    const bookmark = created.headers.get("X-D1-Bookmark");
    expect(bookmark).toMatch(WELL_FORMED_BOOKMARK);

    const list = await call("GET", "/api/v1/invites", { token: owner.token, headers: { "X-D1-Bookmark": bookmark! } });
    expect(list.status).toBe(200);
    expect(list.body.items.map((invite: { id: string }) => invite.id)).toContain(created.body.id);
    const next = list.headers.get("X-D1-Bookmark");
    expect(next).toMatch(WELL_FORMED_BOOKMARK);
    // Bookmarks sort oldest to newest: the read's session is at least as fresh as the write.
    expect(next! >= bookmark!).toBe(true);
  });

  it("a read starts its session at the bookmark it was sent", async () => {
    const owner = await newTenant("bookmark-read");
    const created = await call("POST", "/api/v1/invites", { token: owner.token, body: {} });
    const bookmark = created.headers.get("X-D1-Bookmark")!;
    const { response, log } = observedRequest("/api/v1/invites", { headers: { Authorization: `Bearer ${owner.token}`, "X-D1-Bookmark": bookmark } });
    expect((await response).status).toBe(200);
    expect(log.sessions.map((session) => session.constraint)).toEqual([bookmark]);
    // Everything, the caller's authority included, is read in the session (one batch, any replica that fresh).
    expect(log.plain).toEqual([]);
    expect(log.sessions[0]!.sql.some((sql) => /from "invites"/i.test(sql))).toBe(true);
    expect(log.sessions[0]!.sql.some((sql) => /from "memberships"/i.test(sql))).toBe(true);
  });

  it("freshness: a deactivated caller's next read, in the session it starts at the deactivation's bookmark, is refused", async () => {
    const owner = await newTenant("bookmark-authority");
    const admin = await newMember(owner, "Admin");
    const deactivated = await call("PATCH", `/api/v1/users/${admin.userId}`, { token: owner.token, body: { status: "Inactive" } });
    expect(deactivated.status, deactivated.text).toBe(200);
    const bookmark = deactivated.headers.get("X-D1-Bookmark")!;
    expect(bookmark).toMatch(WELL_FORMED_BOOKMARK);
    const { response, log } = observedRequest("/api/v1/invites", { headers: { Authorization: `Bearer ${admin.token}`, "X-D1-Bookmark": bookmark } });
    expect((await response).status).toBe(401);
    expect(log.plain).toEqual([]);
    expect(log.sessions.map((session) => session.constraint)).toEqual([bookmark]);
    expect(log.sessions[0]!.sql.filter((sql) => /from "memberships"/i.test(sql))).toHaveLength(1);
  });

  it("freshness: without a bookmark the authority read may be served by a replica (first-unconstrained), with the data", async () => {
    const owner = await newTenant("bookmark-authority-lag");
    const { response, log } = observedRequest("/api/v1/invites", { headers: { Authorization: `Bearer ${owner.token}` } });
    expect((await response).status).toBe(200);
    expect(log.plain).toEqual([]);
    expect(log.sessions.map((session) => session.constraint)).toEqual(["first-unconstrained"]);
    expect(log.sessions[0]!.sql.filter((sql) => /from "memberships"/i.test(sql))).toHaveLength(1);
  });

  it("a read without a bookmark may go to any replica (first-unconstrained)", async () => {
    const owner = await newTenant("bookmark-none");
    const { response, log } = observedRequest("/api/v1/invites", { headers: { Authorization: `Bearer ${owner.token}` } });
    const result = await response;
    expect(result.status).toBe(200);
    expect(log.sessions.map((session) => session.constraint)).toEqual(["first-unconstrained"]);
    expect(result.headers.get("X-D1-Bookmark")).toMatch(WELL_FORMED_BOOKMARK);
  });

  it("a malformed bookmark is not an error: the read starts at the primary instead, and gets a good bookmark back", async () => {
    const owner = await newTenant("bookmark-bad");
    for (const malformed of ["not-a-bookmark", "00000000-0000", "'; DROP TABLE invites; --", "x".repeat(300)]) {
      const { response, log } = observedRequest("/api/v1/invites", { headers: { Authorization: `Bearer ${owner.token}`, "X-D1-Bookmark": malformed } });
      const result = await response;
      expect(result.status, malformed).toBe(200);
      expect(log.sessions.map((session) => session.constraint), malformed).toEqual(["first-primary"]);
      expect(result.headers.get("X-D1-Bookmark"), malformed).toMatch(WELL_FORMED_BOOKMARK);
    }
  });

  it("writes run in a first-primary session whose bookmark is returned, with no extra query to fetch it", async () => {
    const owner = await newTenant("bookmark-write");
    const sent = "00000000-00000001-00000000-00000000000000000000000000000000";
    const { response, log } = observedRequest("/api/v1/invites", {
      method: "POST",
      headers: { Authorization: `Bearer ${owner.token}`, "Content-Type": "application/json", "X-D1-Bookmark": sent },
      body: JSON.stringify({ role: "Developer" }),
    });
    const result = await response;
    expect(result.status).toBe(201);
    expect(log.sessions.map((session) => session.constraint)).toEqual(["first-primary"]);
    expect(log.sessions[0]!.sql.some((sql) => WRITE_SQL.test(sql))).toBe(true);
    expect(log.sessions[0]!.sql).not.toContain("SELECT 1");
    // Nothing outside the session: the insert itself checks the caller's authority, on the primary.
    expect(log.plain).toEqual([]);
    const inserts = log.sessions[0]!.sql.filter((sql) => /^\s*INSERT INTO invites\b/i.test(sql));
    expect(inserts).toHaveLength(1);
    expect(inserts[0]).toMatch(/FROM memberships/i);
    expect(result.headers.get("X-D1-Bookmark")).toMatch(WELL_FORMED_BOOKMARK);
    expect(result.headers.get("X-D1-Bookmark")! > sent).toBe(true);
  });

  it("invite redemption runs in a first-primary session: its first read and all writes hit the primary", async () => {
    const owner = await newTenant("bookmark-redeem");
    const invite = await createInvite(owner.token);
    const { response, log } = observedRequest(`/api/v1/invites/${invite.token}/register`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: uniqueEmail("redeem"), password: PASSWORD }),
    });
    const result = await response;
    expect(result.status).toBe(201);
    expect(log.plain).toEqual([]);
    expect(log.sessions.map((session) => session.constraint)).toEqual(["first-primary"]);
    expect(log.sessions[0]!.sql[0]).toMatch(/from "invites"/i);
    expect(log.sessions[0]!.sql.some((sql) => WRITE_SQL.test(sql))).toBe(true);
    expect(result.headers.get("X-D1-Bookmark")).toMatch(WELL_FORMED_BOOKMARK);
  });

  it("a failed write runs no statement and only echoes a well-formed bookmark it was sent", async () => {
    const sent = "00000000-00000001-00000000-00000000000000000000000000000000";
    const { response, log } = observedRequest("/api/v1/tenants", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-D1-Bookmark": sent },
      body: JSON.stringify({ name: "" }),
    });
    const result = await response;
    expect(result.status).toBe(400);
    expect(log.sessions.flatMap((session) => session.sql)).toEqual([]);
    expect(log.plain).toEqual([]);
    expect(result.headers.get("X-D1-Bookmark")).toBe(sent);

    const unsent = observedRequest("/api/v1/tenants", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    expect((await unsent.response).headers.get("X-D1-Bookmark")).toBeNull();
  });
});
