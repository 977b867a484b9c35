/**
 * Guarantee: per-client limits are exact under concurrency and slide with time. Everything here
 * goes over HTTP through the Worker (SELF.fetch) with the limits from wrangler.toml; time is moved
 * with vi.setSystemTime, which the Worker and the limiter Durable Object share with the test.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { apiRoutes } from "./surface";
import { call, createInvite, expectError, newTenant, PASSWORD, randomIp, unique, uniqueEmail, type ApiResponse } from "../helpers";

const HOUR = 60 * 60 * 1000;
const MINUTE = 60 * 1000;
const BURST = 30;
const REGISTER_LIMIT = Number(env.REGISTER_LIMIT_PER_HOUR);
const SIGNUP_LIMIT = Number(env.TENANT_SIGNUP_LIMIT_PER_HOUR);
const LOGIN_FAILURE_LIMIT = Number(env.LOGIN_FAILURES_PER_5_MIN);
const PREVIEW_LIMIT = Number(env.PREVIEW_LIMIT_PER_HOUR);

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

  it(`login: ${BURST} concurrent wrong passwords from one IP → exactly ${LOGIN_FAILURE_LIMIT} passwords checked (401), the rest 429`, async () => {
    const owner = await newTenant("limiter");
    const ip = randomIp();
    const responses = await Promise.all(
      Array.from({ length: BURST }, (_, i) => call("POST", "/api/v1/auth/login", { ip, body: { email: i % 2 ? owner.email : uniqueEmail("nobody"), password: `guess ${i}` } })),
    );
    expect(tally(responses)).toEqual({ "401 INVALID_CREDENTIALS": LOGIN_FAILURE_LIMIT, "429 RATE_LIMITED": BURST - LOGIN_FAILURE_LIMIT });
    expectRefused(responses, "login-failures", LOGIN_FAILURE_LIMIT);
  });

  it(`login: ${BURST} concurrent wrong passwords for one email from ${BURST} IPs → exactly ${LOGIN_FAILURE_LIMIT} checked`, async () => {
    const owner = await newTenant("limiter");
    const responses = await Promise.all(
      Array.from({ length: BURST }, (_, i) => call("POST", "/api/v1/auth/login", { body: { email: owner.email, password: `guess ${i}` } })),
    );
    expect(tally(responses)).toEqual({ "401 INVALID_CREDENTIALS": LOGIN_FAILURE_LIMIT, "429 RATE_LIMITED": BURST - LOGIN_FAILURE_LIMIT });
  });

  it("login: a successful login takes back the slot it reserved — only failures count", async () => {
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
});
