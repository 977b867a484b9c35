/**
 * Guarantee: per-client limits are exact under concurrency and slide with time. Everything here
 * goes over HTTP through the Worker (SELF.fetch) with the limits from wrangler.toml; time is moved
 * with vi.setSystemTime, which the Worker and the limiter Durable Object share with the test.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { apiRoutes } from "./surface";
import { call, createInvite, expectError, newMember, newTenant, PASSWORD, randomIp, register, unique, uniqueEmail, type ApiResponse } from "../helpers";

const HOUR = 60 * 60 * 1000;
const MINUTE = 60 * 1000;
const BURST = 30;
const REGISTER_LIMIT = Number(env.REGISTER_LIMIT_PER_HOUR);
const SIGNUP_LIMIT = Number(env.TENANT_SIGNUP_LIMIT_PER_HOUR);
const LOGIN_FAILURE_LIMIT = Number(env.LOGIN_FAILURES_PER_5_MIN);
const PREVIEW_LIMIT = Number(env.PREVIEW_LIMIT_PER_HOUR);
const LOGIN_SUCCESS_PER_EMAIL = Number(env.LOGIN_SUCCESSES_PER_HOUR_PER_EMAIL);
const REFRESH_LIMIT = Number(env.REFRESH_LIMIT_PER_HOUR);
const INVITE_CREATE_LIMIT = Number(env.INVITE_CREATE_LIMIT_PER_HOUR);
const SESSION_CAP = Number(env.MAX_SESSIONS_PER_ACCOUNT);

const inviteCount = async (tenantId: string) =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM invites WHERE tenant_id = ?").bind(tenantId).first<{ n: number }>())!.n;

const login = (email: string, password: string, ip: string) => call("POST", "/api/v1/auth/login", { ip, body: { email, password } });

/** A member registered through an invite who has never signed in (so no success is counted yet). */
async function accountNeverSignedIn(ownerToken: string) {
  const invite = await createInvite(ownerToken);
  const email = uniqueEmail("member");
  const registered = await register(invite.token, email);
  expect(registered.status, registered.text).toBe(201);
  return { id: registered.body.id as string, email };
}

afterEach(() => {
  vi.useRealTimers();
});

/** A well-formed token no invite has: every register request with it is served as 404, or refused as 429. */
const unknownToken = () => `inv_${crypto.randomUUID().replaceAll("-", "").padEnd(43, "x")}`;

function tally(responses: ApiResponse[]) {
  const counts: Record<string, number> = {};
  for (const r of responses) {
    const key = r.status === 201 || r.status === 200 ? String(r.status) : `${r.status} ${r.body?.code}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

function expectRefused(responses: ApiResponse[], policy: string, limit: number) {
  for (const refused of responses.filter((r) => r.status === 429)) {
    const body = expectError(refused, 429, "RATE_LIMITED");
    expect(body.details).toMatchObject({ policy, limit });
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
  }
}

const served = (responses: ApiResponse[]) => responses.filter((r) => r.status !== 429);

const registerFrom = (ip: string, token = unknownToken(), email = uniqueEmail("burst")) =>
  call("POST", `/api/v1/invites/${token}/register`, { ip, body: { email, password: PASSWORD } });

describe(`guarantee: a burst of ${BURST} concurrent requests is cut at exactly the limit`, () => {
  it(`register: ${BURST} concurrent requests from one IP → exactly ${REGISTER_LIMIT} served (1 × 201, ${REGISTER_LIMIT - 1} × 409), ${BURST - REGISTER_LIMIT} × 429`, async () => {
    const owner = await newTenant("limiter");
    const invite = await createInvite(owner.token);
    const ip = randomIp();

    const responses = await Promise.all(Array.from({ length: BURST }, () => registerFrom(ip, invite.token)));

    expect(served(responses), JSON.stringify(tally(responses))).toHaveLength(REGISTER_LIMIT);
    expect(tally(responses)).toEqual({ "201": 1, "409 INVITE_USED": REGISTER_LIMIT - 1, "429 RATE_LIMITED": BURST - REGISTER_LIMIT });
    expectRefused(responses, "register", REGISTER_LIMIT);
    for (const response of served(responses)) expect(response.headers.get("RateLimit-Policy")).toBe(`"register";q=${REGISTER_LIMIT};w=3600`);
    expect((await registerFrom(ip)).status).toBe(429);
  });

  it(`register from two IPs at once, ${BURST} each → exactly ${REGISTER_LIMIT} served per IP; a third IP is untouched`, async () => {
    const [first, second] = [randomIp(), randomIp()];
    const responses = await Promise.all([...Array.from({ length: BURST }, () => registerFrom(first)), ...Array.from({ length: BURST }, () => registerFrom(second))]);
    expect(served(responses.slice(0, BURST))).toHaveLength(REGISTER_LIMIT);
    expect(served(responses.slice(BURST))).toHaveLength(REGISTER_LIMIT);
    expectError(await registerFrom(randomIp()), 404, "INVITE_NOT_FOUND");
  });

  it(`register from ${BURST} IPv6 addresses of one /64, in every notation → exactly ${REGISTER_LIMIT} served; the neighbouring /64 is untouched`, async () => {
    const hextet = () => Math.floor(Math.random() * 0xffff).toString(16);
    const [a, b, c] = [hextet(), hextet(), hextet()];
    const inPrefix = (i: number) => {
      const host = [hextet(), hextet(), hextet(), (i + 1).toString(16)];
      const notations = [
        `2001:db8:${a}:${b}:${host.join(":")}`,
        `2001:DB8:${a.toUpperCase()}:${b.toUpperCase()}:${host.join(":").toUpperCase()}`,
        `2001:0db8:${a.padStart(4, "0")}:${b.padStart(4, "0")}:${host.map((h) => h.padStart(4, "0")).join(":")}`,
        `2001:db8:${a}:${b}::${host[3]}`,
      ];
      return notations[i % notations.length]!;
    };
    const responses = await Promise.all(Array.from({ length: BURST }, (_, i) => registerFrom(inPrefix(i))));
    expect(served(responses), JSON.stringify(tally(responses))).toHaveLength(REGISTER_LIMIT);
    expectRefused(responses, "register", REGISTER_LIMIT);
    expectError(await registerFrom(`2001:db8:${a}:${c === b ? "ffff" : c}::1`), 404, "INVITE_NOT_FOUND");
  });

  it(`an IPv4 client and its IPv4-mapped IPv6 form share one window`, async () => {
    const ip = randomIp();
    const mapped = `::ffff:${ip}`;
    const responses = await Promise.all(Array.from({ length: BURST }, (_, i) => registerFrom(i % 2 ? ip : mapped)));
    expect(served(responses)).toHaveLength(REGISTER_LIMIT);
  });

  it(`tenant sign-up: ${BURST} concurrent sign-ups from one IP → exactly ${SIGNUP_LIMIT} tenants created`, async () => {
    const ip = randomIp();
    const names = Array.from({ length: BURST }, () => unique("burst-signup"));
    const responses = await Promise.all(
      names.map((name) => call("POST", "/api/v1/tenants", { ip, body: { name, adminEmail: uniqueEmail("burst-owner"), adminPassword: PASSWORD } })),
    );
    expect(tally(responses)).toEqual({ "201": SIGNUP_LIMIT, "429 RATE_LIMITED": BURST - SIGNUP_LIMIT });
    expectRefused(responses, "tenant-signup", SIGNUP_LIMIT);
    const placeholders = names.map(() => "?").join(",");
    const created = await env.DB.prepare(`SELECT COUNT(*) AS n FROM tenants WHERE name IN (${placeholders})`).bind(...names).first<{ n: number }>();
    expect(created!.n).toBe(SIGNUP_LIMIT);
  });

  it(`login: ${BURST} concurrent wrong passwords from one IP → exactly ${LOGIN_FAILURE_LIMIT} answered (401), the rest 429`, async () => {
    const owner = await newTenant("limiter");
    const ip = randomIp();
    const responses = await Promise.all(
      Array.from({ length: BURST }, (_, i) => call("POST", "/api/v1/auth/login", { ip, body: { email: i % 2 ? owner.email : uniqueEmail("nobody"), password: `guess ${i}` } })),
    );
    expect(tally(responses)).toEqual({ "401 INVALID_CREDENTIALS": LOGIN_FAILURE_LIMIT, "429 RATE_LIMITED": BURST - LOGIN_FAILURE_LIMIT });
    expectRefused(responses, "login-failures", LOGIN_FAILURE_LIMIT);
  });

  it(`login: ${BURST} concurrent wrong passwords for one email from ${BURST} addresses of one /24 → exactly ${LOGIN_FAILURE_LIMIT} answered`, async () => {
    const owner = await newTenant("limiter");
    const net = randomIp().split(".").slice(0, 3).join(".");
    const responses = await Promise.all(
      Array.from({ length: BURST }, (_, i) => login(owner.email, `guess ${i}`, `${net}.${i + 1}`)),
    );
    expect(tally(responses)).toEqual({ "401 INVALID_CREDENTIALS": LOGIN_FAILURE_LIMIT, "429 RATE_LIMITED": BURST - LOGIN_FAILURE_LIMIT });
    expectRefused(responses, "login-failures-email", LOGIN_FAILURE_LIMIT);
  });

  it(`login lockout cannot be aimed: ${BURST} concurrent wrong passwords for one email from ${BURST} networks are each that network's own; the owner signs in from another`, async () => {
    const owner = await newTenant("limiter");
    const attackers = Array.from({ length: BURST }, () => randomIp());
    const guesses = await Promise.all(attackers.map((ip, i) => login(owner.email, `guess ${i}`, ip)));
    // below the per-email ceiling every guess is answered once, and each network has 9 left
    expect(tally(guesses)).toEqual({ "401 INVALID_CREDENTIALS": BURST });
    const ownerLogin = await login(owner.email, PASSWORD, randomIp());
    expect(ownerLogin.status, ownerLogin.text).toBe(200);
  });

  it(`login: the per-email ceiling is exact too — ${BURST} concurrent guesses from ${BURST} networks at a ceiling of 12 → exactly 12 answered`, async () => {
    const owner = await newTenant("limiter");
    const vars = { LOGIN_FAILURES_PER_HOUR_PER_EMAIL: "12" };
    const responses = await Promise.all(
      Array.from({ length: BURST }, (_, i) => call("POST", "/api/v1/auth/login", { vars, body: { email: owner.email, password: `guess ${i}` } })),
    );
    expect(tally(responses)).toEqual({ "401 INVALID_CREDENTIALS": 12, "429 RATE_LIMITED": BURST - 12 });
    expectRefused(responses, "login-failures-email-total", 12);
  });

  it(`login: ${BURST} concurrent right-password logins for one account from ${BURST} networks → exactly ${LOGIN_SUCCESS_PER_EMAIL} served, one session each`, async () => {
    const owner = await newTenant("limiter");
    const account = await accountNeverSignedIn(owner.token);
    const responses = await Promise.all(Array.from({ length: BURST }, () => login(account.email, PASSWORD, randomIp())));
    expect(tally(responses)).toEqual({ "200": LOGIN_SUCCESS_PER_EMAIL, "429 RATE_LIMITED": BURST - LOGIN_SUCCESS_PER_EMAIL });
    expectRefused(responses, "login-successes-email", LOGIN_SUCCESS_PER_EMAIL);
    const families = await env.DB.prepare("SELECT COUNT(DISTINCT family_id) AS n FROM refresh_tokens WHERE account_id = ?").bind(account.id).first<{ n: number }>();
    expect(families!.n).toBe(LOGIN_SUCCESS_PER_EMAIL);
  });

  it(`login: ${BURST} concurrent right-password logins from one IP (10 accounts × 3) at a per-IP limit of 5 → exactly 5 served`, async () => {
    const owner = await newTenant("limiter");
    const accounts = await Promise.all(Array.from({ length: 10 }, () => accountNeverSignedIn(owner.token)));
    const ip = randomIp();
    const vars = { LOGIN_SUCCESSES_PER_HOUR_PER_IP: "5" };
    const responses = await Promise.all(
      Array.from({ length: BURST }, (_, i) => call("POST", "/api/v1/auth/login", { ip, vars, body: { email: accounts[i % 10]!.email, password: PASSWORD } })),
    );
    // at most LOGIN_FAILURES_PER_5_MIN attempts from one IP are answered at once; of those, 5 may succeed
    expect(served(responses), JSON.stringify(tally(responses))).toHaveLength(5);
    expect(tally(responses)).toEqual({ "200": 5, "429 RATE_LIMITED": BURST - 5 });
  });

  it(`sessions: ${LOGIN_SUCCESS_PER_EMAIL} concurrent logins of one account → exactly ${SESSION_CAP} live sessions afterwards (the oldest ended)`, async () => {
    const owner = await newTenant("limiter");
    const account = await accountNeverSignedIn(owner.token);
    const responses = await Promise.all(Array.from({ length: LOGIN_SUCCESS_PER_EMAIL }, () => login(account.email, PASSWORD, randomIp())));
    expect(tally(responses)).toEqual({ "200": LOGIN_SUCCESS_PER_EMAIL });
    const live = await env.DB.prepare("SELECT COUNT(DISTINCT family_id) AS n FROM refresh_tokens WHERE account_id = ? AND spent_at IS NULL AND revoked_at IS NULL")
      .bind(account.id)
      .first<{ n: number }>();
    expect(live!.n).toBe(SESSION_CAP);
    const refreshed = await Promise.all(responses.map((r) => call("POST", "/api/v1/auth/refresh", { body: { refreshToken: r.body.refreshToken } })));
    expect(tally(refreshed)).toEqual({ "200": SESSION_CAP, "401 INVALID_REFRESH_TOKEN": LOGIN_SUCCESS_PER_EMAIL - SESSION_CAP });
  });

  it(`refresh: ${BURST} concurrent refreshes of one session → exactly ${REFRESH_LIMIT} pass the per-family limit (one of them rotates)`, async () => {
    const owner = await newTenant("limiter");
    const responses = await Promise.all(Array.from({ length: BURST }, () => call("POST", "/api/v1/auth/refresh", { body: { refreshToken: owner.refreshToken } })));
    expect(tally(responses)).toEqual({ "200": 1, "401 INVALID_REFRESH_TOKEN": REFRESH_LIMIT - 1, "429 RATE_LIMITED": BURST - REFRESH_LIMIT });
    expectRefused(responses, "refresh", REFRESH_LIMIT);
  });

  it(`invite creation: ${BURST} concurrent creates in one tenant (Owner and Admin) at a per-tenant limit of 10 → exactly 10 invites`, async () => {
    expect(INVITE_CREATE_LIMIT).toBe(200);
    const owner = await newTenant("limiter");
    const admin = await newMember(owner, "Admin"); // created before the tight limit applies
    const vars = { INVITE_CREATE_LIMIT_PER_HOUR: "10" };
    const before = await inviteCount(owner.tenantId);
    const responses = await Promise.all(
      Array.from({ length: BURST }, (_, i) => call("POST", "/api/v1/invites", { vars, token: i % 2 ? owner.token : admin.token, body: {} })),
    );
    // newMember's invite was the tenant's first: 9 left
    expect(tally(responses)).toEqual({ "201": 9, "429 RATE_LIMITED": BURST - 9 });
    expectRefused(responses, "invite-create", 10);
    expect(await inviteCount(owner.tenantId)).toBe(before + 9);
    for (const created of responses.filter((r) => r.status === 201)) expect(created.headers.get("RateLimit-Policy")).toBe(`"invite-create";q=10;w=3600`);
    // another tenant is untouched
    expect((await call("POST", "/api/v1/invites", { vars, token: (await newTenant("limiter")).token, body: {} })).status).toBe(201);
  });

  it("login: a successful login is not counted as a failure — only failures count", async () => {
    const owner = await newTenant("limiter");
    const ip = randomIp();
    for (let i = 0; i < LOGIN_FAILURE_LIMIT - 1; i++) {
      expectError(await call("POST", "/api/v1/auth/login", { ip, body: { email: owner.email, password: "wrong" } }), 401, "INVALID_CREDENTIALS");
    }
    for (let i = 0; i < 3; i++) expect((await call("POST", "/api/v1/auth/login", { ip, body: { email: owner.email, password: PASSWORD } })).status).toBe(200);
    expectError(await call("POST", "/api/v1/auth/login", { ip, body: { email: owner.email, password: "wrong" } }), 401, "INVALID_CREDENTIALS");
    expectError(await call("POST", "/api/v1/auth/login", { ip, body: { email: owner.email, password: PASSWORD } }), 429, "RATE_LIMITED");
  });

  const previewPresent = apiRoutes().some((r) => r.method === "GET" && r.path === "/api/v1/invites/:id");
  it.skipIf(!previewPresent)(`invite preview: ${PREVIEW_LIMIT + 10} concurrent previews from one IP → exactly ${PREVIEW_LIMIT} served`, async () => {
    const owner = await newTenant("limiter");
    const invite = await createInvite(owner.token);
    const ip = randomIp();
    const responses = await Promise.all(Array.from({ length: PREVIEW_LIMIT + 10 }, () => call("GET", `/api/v1/invites/${invite.token}`, { ip })));
    expect(tally(responses)).toEqual({ "200": PREVIEW_LIMIT, "429 RATE_LIMITED": 10 });
    expectRefused(responses, "preview", PREVIEW_LIMIT);
  });
});

describe("guarantee: the window slides (time controlled, never slept)", () => {
  it(`register: each of ${REGISTER_LIMIT} slots frees exactly one hour after it was used, and Retry-After says when`, async () => {
    const ip = randomIp();
    const start = Date.now() + 30 * 24 * HOUR;
    vi.useFakeTimers({ toFake: ["Date"] });
    for (let i = 0; i < REGISTER_LIMIT; i++) {
      vi.setSystemTime(start + i * MINUTE); // one request a minute
      expectError(await registerFrom(ip), 404, "INVITE_NOT_FOUND");
    }
    vi.setSystemTime(start + 30 * MINUTE);
    const refused = await registerFrom(ip);
    expectError(refused, 429, "RATE_LIMITED");
    expect(refused.headers.get("Retry-After")).toBe(String(30 * 60));

    vi.setSystemTime(start + HOUR - 1);
    expectError(await registerFrom(ip), 429, "RATE_LIMITED");
    vi.setSystemTime(start + HOUR); // the first request leaves the window: exactly one slot
    expectError(await registerFrom(ip), 404, "INVITE_NOT_FOUND");
    const full = await registerFrom(ip);
    expectError(full, 429, "RATE_LIMITED");
    expect(full.headers.get("Retry-After")).toBe("60");
    vi.setSystemTime(start + HOUR + MINUTE); // and the second
    expectError(await registerFrom(ip), 404, "INVITE_NOT_FOUND");
    vi.setSystemTime(start + 3 * HOUR); // all of them
    const later = await Promise.all(Array.from({ length: BURST }, () => registerFrom(ip)));
    expect(served(later)).toHaveLength(REGISTER_LIMIT);
  });

  it("login failures: the 5-minute window slides the same way", async () => {
    const owner = await newTenant("limiter");
    const ip = randomIp();
    const start = Date.now() + 30 * 24 * HOUR;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(start);
    const failures = await Promise.all(Array.from({ length: LOGIN_FAILURE_LIMIT }, () => call("POST", "/api/v1/auth/login", { ip, body: { email: owner.email, password: "wrong" } })));
    expect(tally(failures)).toEqual({ "401 INVALID_CREDENTIALS": LOGIN_FAILURE_LIMIT });
    vi.setSystemTime(start + 5 * MINUTE - 1);
    expectError(await call("POST", "/api/v1/auth/login", { ip, body: { email: owner.email, password: PASSWORD } }), 429, "RATE_LIMITED");
    vi.setSystemTime(start + 5 * MINUTE);
    expect((await call("POST", "/api/v1/auth/login", { ip, body: { email: owner.email, password: PASSWORD } })).status).toBe(200);
  });

  it("login successes, refreshes and invite creation slide by the hour", async () => {
    const vars = { LOGIN_SUCCESSES_PER_HOUR_PER_EMAIL: "2", REFRESH_LIMIT_PER_HOUR: "2", INVITE_CREATE_LIMIT_PER_HOUR: "2" };
    const start = Date.now();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(start); // the clock stands still until moved: everything below happens at `start`
    const owner = await newTenant("limiter"); // the email's first success
    const send = (path: string, body: unknown, token?: string) => call("POST", path, { vars, body, ...(token ? { token } : {}) });
    const signIn = () => send("/api/v1/auth/login", { email: owner.email, password: PASSWORD });

    const session = await signIn(); // the email's second success
    expect(session.status).toBe(200);
    let refreshToken: string = session.body.refreshToken;
    for (let i = 0; i < 2; i++) {
      const rotated = await send("/api/v1/auth/refresh", { refreshToken });
      expect(rotated.status, rotated.text).toBe(200);
      refreshToken = rotated.body.refreshToken;
    }
    for (let i = 0; i < 2; i++) expect((await send("/api/v1/invites", {}, session.body.accessToken)).status).toBe(201);

    vi.setSystemTime(start + 10 * MINUTE);
    for (const refused of [await signIn(), await send("/api/v1/auth/refresh", { refreshToken }), await send("/api/v1/invites", {}, session.body.accessToken)]) {
      expectError(refused, 429, "RATE_LIMITED");
      expect(Number(refused.headers.get("Retry-After"))).toBe(50 * 60);
    }
    vi.setSystemTime(start + HOUR - 1);
    expectError(await send("/api/v1/auth/refresh", { refreshToken }), 429, "RATE_LIMITED");
    vi.setSystemTime(start + HOUR);
    const later = await signIn();
    expect(later.status, later.text).toBe(200);
    expect((await send("/api/v1/auth/refresh", { refreshToken })).status).toBe(200);
    expect((await send("/api/v1/invites", {}, later.body.accessToken)).status).toBe(201);
  });
});
