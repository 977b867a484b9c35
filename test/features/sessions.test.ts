import { env } from "cloudflare:test";
import { decodeJwt } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../src/http/errors";
import { refreshSession } from "../../src/features/auth/service";
import { sha256Hex } from "../../src/security/tokens";
import { call, expectError, login, newMember, newTenant, PASSWORD } from "../helpers";

const GRACE_MS = Number(env.REFRESH_REUSE_GRACE_SECONDS) * 1000;

afterEach(() => {
  vi.useRealTimers();
});

/** Moves the clock (shared by the Worker and D1 writes' timestamps) past the benign-retry window. */
function afterGrace() {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + GRACE_MS);
}

const refresh = (refreshToken: unknown) => call("POST", "/api/v1/auth/refresh", { body: { refreshToken } });
const logout = (refreshToken: unknown) => call("POST", "/api/v1/auth/logout", { body: { refreshToken } });
const me = (token: string) => call("GET", "/api/v1/users/me", { token });

interface TokenRow {
  family_id: string;
  spent_at: number | null;
  revoked_at: number | null;
  expires_at: number;
  created_at: number;
}

async function tokenRow(refreshToken: string): Promise<TokenRow> {
  const row = await env.DB.prepare("SELECT family_id, spent_at, revoked_at, expires_at, created_at FROM refresh_tokens WHERE token_hash = ?")
    .bind(await sha256Hex(refreshToken))
    .first<TokenRow>();
  expect(row).not.toBeNull();
  return row!;
}

async function family(familyId: string): Promise<TokenRow[]> {
  const { results } = await env.DB.prepare("SELECT family_id, spent_at, revoked_at, expires_at, created_at FROM refresh_tokens WHERE family_id = ?")
    .bind(familyId)
    .all<TokenRow>();
  return results;
}

describe("POST /api/v1/auth/refresh", () => {
  it("200 with a new pair shaped like login's; the presented token is spent, the new one joins its family", async () => {
    const owner = await newTenant();
    const response = await refresh(owner.refreshToken);
    expect(response.status, response.text).toBe(200);
    expect(Object.keys(response.body)).toEqual(["accessToken", "tokenType", "expiresIn", "expiresAt", "refreshToken"]);
    expect(response.body).toMatchObject({ tokenType: "Bearer", expiresIn: 900 });
    expect(response.body.refreshToken).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    expect(response.body.refreshToken).not.toBe(owner.refreshToken);
    expect(decodeJwt(response.body.accessToken)).toMatchObject({ sub: owner.userId, tenant_id: owner.tenantId, role: "Owner" });

    const old = await tokenRow(owner.refreshToken);
    const next = await tokenRow(response.body.refreshToken);
    expect(old.spent_at).not.toBeNull();
    expect(next).toMatchObject({ family_id: old.family_id, spent_at: null, revoked_at: null });
    // 7-day lifetime from the moment of rotation
    expect(next.expires_at - next.created_at).toBe(7 * 24 * 60 * 60 * 1000);

    expect((await me(response.body.accessToken)).status).toBe(200);
    // the new refresh token rotates in turn
    expect((await refresh(response.body.refreshToken)).status).toBe(200);
  });

  it("the new access token carries the role stored now, not the one at login", async () => {
    const owner = await newTenant();
    const member = await newMember(owner, "Developer");
    await env.DB.prepare("UPDATE memberships SET role = 'Viewer' WHERE account_id = ?").bind(member.userId).run();
    const response = await refresh(member.refreshToken);
    expect(response.status, response.text).toBe(200);
    expect(decodeJwt(response.body.accessToken).role).toBe("Viewer");
  });

  it("reuse of a spent token → 401 and the whole family is revoked, including its newest token", async () => {
    const owner = await newTenant();
    const first = await refresh(owner.refreshToken);
    expect(first.status).toBe(200);
    const second = await refresh(first.body.refreshToken);
    expect(second.status).toBe(200);
    const newest = second.body.refreshToken;

    // an attacker replays the original (spent) token, later than a retry would come
    afterGrace();
    expectError(await refresh(owner.refreshToken), 401, "INVALID_REFRESH_TOKEN");
    const rows = await family((await tokenRow(newest)).family_id);
    expect(rows).toHaveLength(3);
    expect(rows.every((row) => row.revoked_at !== null)).toBe(true);
    expectError(await refresh(newest), 401, "INVALID_REFRESH_TOKEN");
    expectError(await refresh(first.body.refreshToken), 401, "INVALID_REFRESH_TOKEN");
  });

  it("reuse revokes only that family: the user's other sessions keep working", async () => {
    const owner = await newTenant();
    const otherDevice = await login(owner.email);
    const rotated = await refresh(owner.refreshToken);
    expect(rotated.status).toBe(200);
    afterGrace();
    expectError(await refresh(owner.refreshToken), 401, "INVALID_REFRESH_TOKEN");
    expectError(await refresh(rotated.body.refreshToken), 401, "INVALID_REFRESH_TOKEN");
    expect((await refresh(otherDevice.refreshToken)).status).toBe(200);
  });

  it("under concurrent use of one token exactly one request mints a pair", async () => {
    const owner = await newTenant();
    const responses = await Promise.all(Array.from({ length: 6 }, () => refresh(owner.refreshToken)));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 401, 401, 401, 401, 401]);
    for (const response of responses.filter((r) => r.status === 401)) expectError(response, 401, "INVALID_REFRESH_TOKEN");
    const rows = await family((await tokenRow(owner.refreshToken)).family_id);
    // the original and exactly one successor
    expect(rows).toHaveLength(2);
    expect(rows.filter((row) => row.spent_at !== null)).toHaveLength(1);
    // the losers presented a token spent moments ago (tabs racing): a benign retry, so the session lives on
    const winner = responses.find((r) => r.status === 200)!;
    expect(rows.every((row) => row.revoked_at === null)).toBe(true);
    expect((await refresh(winner.body.refreshToken)).status).toBe(200);
  });

  it(`two tabs refreshing at once do not sign the user out: both sides of the ${GRACE_MS / 1000}-second grace window`, async () => {
    expect(GRACE_MS).toBe(10_000);
    const owner = await newTenant();
    const start = Date.now();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(start);
    const [tabA, tabB] = await Promise.all([refresh(owner.refreshToken), refresh(owner.refreshToken)]);
    expect([tabA.status, tabB.status].sort()).toEqual([200, 401]);
    const winner = tabA.status === 200 ? tabA : tabB;
    expectError(tabA.status === 200 ? tabB : tabA, 401, "INVALID_REFRESH_TOKEN");

    // a retry of the spent token just inside the window: 401, and the winner's token still works
    vi.setSystemTime(start + GRACE_MS - 1);
    expectError(await refresh(owner.refreshToken), 401, "INVALID_REFRESH_TOKEN");
    expect((await family((await tokenRow(owner.refreshToken)).family_id)).every((row) => row.revoked_at === null)).toBe(true);
    const next = await refresh(winner.body.refreshToken);
    expect(next.status, next.text).toBe(200);

    // the window counts from when the token was spent: at its end, the same replay is reuse
    vi.setSystemTime(start + GRACE_MS);
    expectError(await refresh(owner.refreshToken), 401, "INVALID_REFRESH_TOKEN");
    const rows = await family((await tokenRow(owner.refreshToken)).family_id);
    expect(rows).toHaveLength(3);
    expect(rows.every((row) => row.revoked_at !== null)).toBe(true);
    expectError(await refresh(next.body.refreshToken), 401, "INVALID_REFRESH_TOKEN");
  });

  it("a retry inside the window never mints: the spent token stays spent and only one successor exists", async () => {
    const owner = await newTenant();
    const rotated = await refresh(owner.refreshToken);
    expect(rotated.status).toBe(200);
    for (let i = 0; i < 3; i++) expectError(await refresh(owner.refreshToken), 401, "INVALID_REFRESH_TOKEN");
    const rows = await family((await tokenRow(owner.refreshToken)).family_id);
    expect(rows).toHaveLength(2);
    expect(rows.every((row) => row.revoked_at === null)).toBe(true);
  });

  it("REFRESH_REUSE_GRACE_SECONDS = 0 restores strict reuse detection", async () => {
    const owner = await newTenant();
    const strict = (refreshToken: string) => call("POST", "/api/v1/auth/refresh", { body: { refreshToken }, vars: { REFRESH_REUSE_GRACE_SECONDS: "0" } });
    const rotated = await strict(owner.refreshToken);
    expect(rotated.status).toBe(200);
    expectError(await strict(owner.refreshToken), 401, "INVALID_REFRESH_TOKEN");
    expectError(await strict(rotated.body.refreshToken), 401, "INVALID_REFRESH_TOKEN");
  });

  it("exactly one winner even when every racer reads before anyone writes (service called in lockstep)", async () => {
    // Started synchronously in one isolate, all calls reach D1 together: a read-then-write
    // implementation would let every one of them mint a pair.
    const owner = await newTenant();
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => refreshSession(env, owner.refreshToken)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const result of results) {
      if (result.status === "rejected") expect(result.reason).toMatchObject({ status: 401, code: "INVALID_REFRESH_TOKEN" } satisfies Partial<ApiError>);
    }
    expect(await family((await tokenRow(owner.refreshToken)).family_id)).toHaveLength(2);
  });

  it("401 for an expired refresh token", async () => {
    const owner = await newTenant();
    await env.DB.prepare("UPDATE refresh_tokens SET expires_at = ? WHERE token_hash = ?")
      .bind(Date.now() - 1, await sha256Hex(owner.refreshToken))
      .run();
    expectError(await refresh(owner.refreshToken), 401, "INVALID_REFRESH_TOKEN");
  });

  it("401 when the user has been deactivated (even with the token left unrevoked)", async () => {
    const owner = await newTenant();
    const member = await newMember(owner, "Viewer");
    await env.DB.prepare("UPDATE memberships SET status = 'Inactive' WHERE account_id = ?").bind(member.userId).run();
    expectError(await refresh(member.refreshToken), 401, "INVALID_REFRESH_TOKEN");
    // refused, not spent: nothing was minted
    expect((await family((await tokenRow(member.refreshToken)).family_id))).toHaveLength(1);
  });

  it("401 when the user has been deleted", async () => {
    const owner = await newTenant();
    const member = await newMember(owner, "Developer");
    await env.DB.prepare("DELETE FROM memberships WHERE account_id = ?").bind(member.userId).run();
    expectError(await refresh(member.refreshToken), 401, "INVALID_REFRESH_TOKEN");
  });

  it.each([
    ["an unknown well-formed token", `rt_${"A".repeat(43)}`],
    ["a malformed token", "not-a-refresh-token"],
    ["an empty string", ""],
    ["an access token", "eyJhbGciOiJFZERTQSJ9.e30.c2ln"],
  ])("401 INVALID_REFRESH_TOKEN for %s", async (_label, token) => {
    expectError(await refresh(token), 401, "INVALID_REFRESH_TOKEN");
  });

  it("400 when refreshToken is missing or not a string; 415 for a non-JSON body", async () => {
    expectError(await call("POST", "/api/v1/auth/refresh", { body: {} }), 400, "VALIDATION_ERROR");
    expectError(await refresh(12345), 400, "VALIDATION_ERROR");
    expectError(
      await call("POST", "/api/v1/auth/refresh", { rawBody: "refreshToken=rt_x", headers: { "Content-Type": "application/x-www-form-urlencoded" } }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
  });

  it("every refusal has the same body (no oracle for which check failed)", async () => {
    const owner = await newTenant();
    expect((await refresh(owner.refreshToken)).status).toBe(200);
    const spent = await refresh(owner.refreshToken);
    const unknown = await refresh(`rt_${"B".repeat(43)}`);
    const malformed = await refresh("x");
    expect(spent.text).toBe(unknown.text);
    expect(unknown.text).toBe(malformed.text);
  });
});

describe("POST /api/v1/auth/logout", () => {
  it("204 with no body; the family is revoked; other sessions are untouched", async () => {
    const owner = await newTenant();
    const otherDevice = await login(owner.email);
    const rotated = await refresh(owner.refreshToken);
    expect(rotated.status).toBe(200);

    const response = await logout(rotated.body.refreshToken);
    expect(response.status).toBe(204);
    expect(response.text).toBe("");
    const rows = await family((await tokenRow(owner.refreshToken)).family_id);
    expect(rows).toHaveLength(2);
    expect(rows.every((row) => row.revoked_at !== null)).toBe(true);
    expectError(await refresh(rotated.body.refreshToken), 401, "INVALID_REFRESH_TOKEN");

    expect((await refresh(otherDevice.refreshToken)).status).toBe(200);
  });

  it("logout with an older (spent) token of the family revokes its newest token too", async () => {
    const owner = await newTenant();
    const rotated = await refresh(owner.refreshToken);
    expect((await logout(owner.refreshToken)).status).toBe(204);
    expectError(await refresh(rotated.body.refreshToken), 401, "INVALID_REFRESH_TOKEN");
  });

  it("204 for unknown and malformed tokens too (no oracle), and twice in a row", async () => {
    const owner = await newTenant();
    expect((await logout(`rt_${"C".repeat(43)}`)).status).toBe(204);
    expect((await logout("garbage")).status).toBe(204);
    expect((await logout(owner.refreshToken)).status).toBe(204);
    expect((await logout(owner.refreshToken)).status).toBe(204);
  });

  it("400 for a missing refreshToken", async () => {
    expectError(await call("POST", "/api/v1/auth/logout", { body: { token: "rt_x" } }), 400, "VALIDATION_ERROR");
  });

  it("the access token stays valid until it expires (stateless), but no new one can be minted", async () => {
    const owner = await newTenant();
    expect((await logout(owner.refreshToken)).status).toBe(204);
    expect((await me(owner.token)).status).toBe(200);
    expectError(await refresh(owner.refreshToken), 401, "INVALID_REFRESH_TOKEN");
    // signing in again starts a fresh family
    const again = await call("POST", "/api/v1/auth/login", { body: { email: owner.email, password: PASSWORD } });
    expect((await refresh(again.body.refreshToken)).status).toBe(200);
  });
});

describe("live sessions per account are capped (MAX_SESSIONS_PER_ACCOUNT)", () => {
  const CAP = Number(env.MAX_SESSIONS_PER_ACCOUNT);
  const liveFamilies = async (accountId: string) =>
    (await env.DB.prepare("SELECT COUNT(DISTINCT family_id) AS n FROM refresh_tokens WHERE account_id = ? AND spent_at IS NULL AND revoked_at IS NULL")
      .bind(accountId)
      .first<{ n: number }>())!.n;

  it(`a login past ${CAP} live sessions ends the oldest ones; the newest ${CAP} keep refreshing`, async () => {
    expect(CAP).toBe(10);
    const owner = await newTenant(); // session 1
    const sessions = [owner.refreshToken];
    for (let i = 0; i < CAP + 2; i++) sessions.push((await login(owner.email)).refreshToken);
    expect(await liveFamilies(owner.userId)).toBe(CAP);
    for (const ended of sessions.slice(0, 3)) expectError(await refresh(ended), 401, "INVALID_REFRESH_TOKEN");
    for (const kept of sessions.slice(3)) expect((await refresh(kept)).status).toBe(200);
    expect(await liveFamilies(owner.userId)).toBe(CAP);
  });

  it("oldest means least recently used: a session refreshed since survives over one left idle", async () => {
    const owner = await newTenant(); // the first session, about to be the busiest
    const idle: string[] = [];
    for (let i = 0; i < CAP - 1; i++) idle.push((await login(owner.email)).refreshToken);
    const busy = await refresh(owner.refreshToken);
    expect(busy.status).toBe(200);
    await login(owner.email); // one past the cap
    expectError(await refresh(idle[0]!), 401, "INVALID_REFRESH_TOKEN");
    expect((await refresh(busy.body.refreshToken)).status).toBe(200);
    for (const kept of idle.slice(1)) expect((await refresh(kept)).status).toBe(200);
  });
});
