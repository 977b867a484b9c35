import { env, evictAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../../src/app";
import { RateLimiter } from "../../src/rate-limit/rate-limiter";
import { expectError, PASSWORD, randomIp, uniqueEmail } from "../helpers";

const HOUR = 60 * 60 * 1000;
const stubFor = (key: string) => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key)) as DurableObjectStub<RateLimiter>;

afterEach(() => {
  vi.useRealTimers();
});

describe("RateLimiter Durable Object (sliding window log)", () => {
  it("admits exactly `limit` requests per window and refuses the next", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    const decisions = [];
    for (let i = 0; i < 11; i++) decisions.push(await stub.consume("register", 10, HOUR));
    expect(decisions.map((d) => d.allowed)).toEqual([...Array(10).fill(true), false]);
    expect(decisions.map((d) => d.remaining)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0]);
    expect(decisions[10]!.resetSeconds).toBeGreaterThan(3590);
  });

  it("slides: each slot frees exactly one hour after it was used (time controlled)", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    // In the future: the alarm this schedules must not be due (in real time) while the test runs.
    const start = Date.now() + 30 * 24 * HOUR;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(start);
    await runInDurableObject(stub, async (instance) => {
      const limiter = instance as unknown as RateLimiter;
      for (let i = 0; i < 10; i++) {
        vi.setSystemTime(start + i * 60_000); // one request a minute
        expect(limiter.consume("register", 10, HOUR).allowed).toBe(true);
      }
      vi.setSystemTime(start + 30 * 60_000);
      const refused = limiter.consume("register", 10, HOUR);
      expect(refused).toMatchObject({ allowed: false, remaining: 0, resetSeconds: 30 * 60 });
      vi.setSystemTime(start + HOUR - 1);
      expect(limiter.consume("register", 10, HOUR).allowed).toBe(false);
      vi.setSystemTime(start + HOUR); // the first request leaves the window
      expect(limiter.consume("register", 10, HOUR)).toMatchObject({ allowed: true, remaining: 0 });
      expect(limiter.consume("register", 10, HOUR).allowed).toBe(false);
      vi.setSystemTime(start + HOUR + 60_000); // the second one leaves too
      expect(limiter.consume("register", 10, HOUR).allowed).toBe(true);
    });
  });

  it("keeps at most `limit` entries per policy: refused requests are not logged, expired ones are pruned", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    for (let i = 0; i < 25; i++) await stub.consume("register", 10, HOUR);
    await stub.consume("other", 3, HOUR);
    const rows = await runInDurableObject(stub, (_limiter, state) =>
      state.storage.sql.exec<{ policy: string; n: number }>("SELECT policy, COUNT(*) AS n FROM hits GROUP BY policy ORDER BY policy").toArray(),
    );
    expect(rows).toEqual([{ policy: "other", n: 1 }, { policy: "register", n: 10 }]);
  });

  it("peek never counts", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    for (let i = 0; i < 5; i++) expect((await stub.peek("login", 2, HOUR)).allowed).toBe(true);
    await stub.consume("login", 2, HOUR);
    await stub.consume("login", 2, HOUR);
    expect(await stub.peek("login", 2, HOUR)).toMatchObject({ allowed: false, remaining: 0 });
  });

  it("state survives eviction of the object", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    for (let i = 0; i < 3; i++) await stub.consume("register", 3, HOUR);
    await evictAllDurableObjects();
    expect((await stub.consume("register", 3, HOUR)).allowed).toBe(false);
  });

  it("is exact under concurrency: 30 simultaneous requests, 10 admitted", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    const decisions = await Promise.all(Array.from({ length: 30 }, () => stub.consume("register", 10, HOUR)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
  });
});

describe("RateLimiter.take: several policies of one key in one call", () => {
  const rule = (policy: string, limit: number, windowMs = HOUR, family?: string) => ({ policy, limit, windowMs, ...(family ? { family } : {}) });

  it("all or nothing: one full policy refuses the call and records nothing in the others", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    expect((await stub.take([rule("a", 1), rule("b", 3)])).allowed).toBe(true);
    const refused = await stub.take([rule("a", 1), rule("b", 3)]);
    expect(refused.allowed).toBe(false);
    expect(refused.decisions.map((d) => d.allowed)).toEqual([false, true]);
    expect(refused.decisions.map((d) => d.recordedAt)).toEqual([null, null]);
    // b still has 2 of 3 left: the refused call took none
    expect(await stub.peek("b", 3, HOUR)).toMatchObject({ allowed: true, remaining: 2 });
  });

  it("gives back earlier entries only when it is admitted (a login's failure slot, turned into a success)", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    const failure = await stub.take([rule("failures", 2)]);
    const entry = { policy: "failures", at: failure.decisions[0]!.recordedAt! };
    // a success limit already full: not admitted, so the failure slot stays counted
    await stub.take([rule("successes", 1)]);
    expect((await stub.take([rule("successes", 1)], [entry])).allowed).toBe(false);
    expect(await stub.peek("failures", 2, HOUR)).toMatchObject({ remaining: 1 });
    // admitted: the failure slot comes back in the same call
    expect((await stub.take([rule("other-successes", 1)], [entry])).allowed).toBe(true);
    expect(await stub.peek("failures", 2, HOUR)).toMatchObject({ remaining: 2 });
  });

  it("one row per hit (a WITHOUT ROWID log keyed by policy, time and seq); an object written under the old rowid table keeps its counts", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    const now = Date.now();
    // The previous schema, as an object created by the release before this one left it.
    await runInDurableObject(stub, async (_instance, state) => {
      state.storage.sql.exec(
        `CREATE TABLE hits (policy TEXT NOT NULL, at INTEGER NOT NULL); CREATE INDEX hits_policy_at ON hits (policy, at);
         CREATE TABLE windows (policy TEXT PRIMARY KEY, window_ms INTEGER NOT NULL) WITHOUT ROWID;`,
      );
      for (const at of [now - 2000, now - 1000, now - 1000]) state.storage.sql.exec("INSERT INTO hits (policy, at) VALUES ('old', ?)", at);
    });
    expect(await stub.peek("old", 5, HOUR)).toMatchObject({ remaining: 2 });
    // Several hits in one millisecond, one given back, more after it: none lost, none doubled.
    vi.useFakeTimers({ now, toFake: ["Date"] });
    const taken = [await stub.take([rule("same-ms", 10)]), await stub.take([rule("same-ms", 10)]), await stub.take([rule("same-ms", 10)])];
    expect(taken.map((t) => t.decisions[0]!.recordedAt)).toEqual([now, now, now]);
    await stub.take([], [{ policy: "same-ms", at: taken[0]!.decisions[0]!.recordedAt! }]);
    await stub.take([rule("same-ms", 10)]);
    await stub.take([rule("same-ms", 10)]);
    expect(await stub.peek("same-ms", 10, HOUR)).toMatchObject({ remaining: 6 });
    const schema = await runInDurableObject(stub, async (_instance, state) =>
      state.storage.sql.exec<{ name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name").toArray(),
    );
    expect(schema.map((entry) => entry.name).filter((name) => !name.startsWith("_cf_"))).toEqual(["hits", "windows"]);
    expect(schema.find((entry) => entry.name === "hits")!.sql).toMatch(/WITHOUT ROWID/);
  });

  it("a check-only rule needs room but records nothing (a right password checking the failure windows)", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    expect((await stub.take([rule("failures", 1)])).allowed).toBe(true);
    const checked = await stub.take([{ ...rule("failures", 2), record: false }, rule("successes", 5)]);
    expect(checked.allowed).toBe(true);
    expect(checked.decisions.map((d) => d.recordedAt === null)).toEqual([true, false]);
    expect(await stub.peek("failures", 2, HOUR)).toMatchObject({ remaining: 1 });
    // full: refused, and the success is not recorded either
    expect((await stub.take([{ ...rule("failures", 1), record: false }, rule("successes", 5)])).allowed).toBe(false);
    expect(await stub.peek("successes", 5, HOUR)).toMatchObject({ remaining: 4 });
  });

  it("takeAll: one call takes several keys' rules in order, object to object; a refusing key gives back the earlier keys' slots", async () => {
    const [first, second, last] = ["a", "b", "c"].map((k) => `unit-chain-${k}:${crypto.randomUUID()}`) as [string, string, string];
    const chain = (limitOfSecond: number) => [
      { key: first, rules: [rule("p", 10)] },
      { key: second, rules: [rule("p", limitOfSecond)] },
      { key: last, rules: [rule("p", 10)] },
    ];
    const admitted = await stubFor(last).takeAll(chain(10));
    expect(admitted.map((r) => r.allowed)).toEqual([true, true, true]);
    for (const key of [first, second, last]) expect(await stubFor(key).peek("p", 10, HOUR)).toMatchObject({ remaining: 9 });
    // the second key is full at a limit of 1: the first key's new slot is given back, the last is never asked
    const refused = await stubFor(last).takeAll(chain(1));
    expect(refused.map((r) => r.allowed)).toEqual([true, false]);
    for (const key of [first, second, last]) expect(await stubFor(key).peek("p", 10, HOUR)).toMatchObject({ remaining: 9 });
  });

  it("exact under concurrency across policies: 30 simultaneous calls over two policies, the tighter one admits 7", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    const results = await Promise.all(Array.from({ length: 30 }, () => stub.take([rule("wide", 10), rule("tight", 7)])));
    expect(results.filter((r) => r.allowed)).toHaveLength(7);
    const rows = await runInDurableObject(stub, (_limiter, state) =>
      state.storage.sql.exec<{ policy: string; n: number }>("SELECT policy, COUNT(*) AS n FROM hits GROUP BY policy ORDER BY policy").toArray(),
    );
    expect(rows).toEqual([{ policy: "tight", n: 7 }, { policy: "wide", n: 7 }]);
  });

  it("a family's windows (one per network) are pruned together: buckets nobody returns to do not pile up", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    const start = Date.parse("2026-02-01T00:00:00.000Z");
    vi.useFakeTimers({ toFake: ["Date"] });
    await runInDurableObject(stub, async (instance, state) => {
      const limiter = instance as unknown as RateLimiter;
      for (let i = 0; i < 20; i++) {
        vi.setSystemTime(start + i * 1000);
        expect(limiter.take([rule(`net@n${i}`, 10, 5 * 60_000, "net")]).allowed).toBe(true);
      }
      vi.setSystemTime(start + 5 * 60_000 + 10_500); // the first 11 buckets' entries have left the window
      limiter.take([rule("net@fresh", 10, 5 * 60_000, "net")]);
      const { n } = state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM hits WHERE policy LIKE 'net@%'").one();
      expect(n).toBe(20 - 11 + 1);
    });
  });
});

describe("RateLimiter storage clean-up (alarm)", () => {
  const MINUTE = 60_000;
  const storedState = (stub: DurableObjectStub<RateLimiter>) =>
    runInDurableObject(stub, async (_limiter, state) => ({
      alarm: await state.storage.getAlarm(),
      tables: state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' ORDER BY name")
        .toArray()
        .map((row) => row.name),
      hits: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM hits").one().n,
    }));

  it("deletes all of an object's storage once every window is empty, and the object works on afterwards", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    const start = Date.now() + 60 * 24 * HOUR;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(start);
    await stub.consume("register", 10, HOUR);
    await stub.consume("login-failures", 10, 5 * MINUTE);
    let state = await storedState(stub);
    expect(state.hits).toBe(2);
    // Due when the longest window empties (rounded up to the next whole minute).
    expect(state.alarm).toBeGreaterThanOrEqual(start + HOUR);
    expect(state.alarm).toBeLessThan(start + HOUR + MINUTE);

    // A new hit moves it: 30 minutes later, the register window now ends at start + 90 min.
    vi.setSystemTime(start + 30 * MINUTE);
    await stub.consume("register", 10, HOUR);
    state = await storedState(stub);
    expect(state.alarm).toBeGreaterThanOrEqual(start + 90 * MINUTE);

    // Run early (at start + 60 min, as after an eviction lost the instance's view): the first hits are
    // pruned, the newest is still in its window, so nothing is wiped and the alarm is set again.
    vi.setSystemTime(start + HOUR);
    await runInDurableObject(stub, (_limiter, state) => state.storage.setAlarm(start + HOUR));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    state = await storedState(stub);
    expect(state.hits).toBe(1);
    expect(state.alarm).toBeGreaterThanOrEqual(start + 90 * MINUTE);
    expect((await stub.peek("register", 10, HOUR)).remaining).toBe(9);

    vi.setSystemTime(start + 90 * MINUTE + MINUTE);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const wiped = await runInDurableObject(stub, async (_limiter, state) => ({
      alarm: await state.storage.getAlarm(),
      tables: state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").toArray(),
    }));
    expect(wiped).toEqual({ alarm: null, tables: [] });

    // The same instance recreates its tables on the next call, and schedules a new clean-up.
    expect(await stub.consume("register", 2, HOUR)).toMatchObject({ allowed: true, remaining: 1 });
    expect(await stub.consume("register", 2, HOUR)).toMatchObject({ allowed: true, remaining: 0 });
    expect((await stub.consume("register", 2, HOUR)).allowed).toBe(false);
    state = await storedState(stub);
    expect(state).toMatchObject({ hits: 2, tables: ["hits", "windows"] });
    expect(state.alarm).toBeGreaterThanOrEqual(start + 90 * MINUTE + MINUTE + HOUR);
    await runInDurableObject(stub, (_limiter, state) => state.storage.deleteAlarm());
  });

  it("never wipes a window that is still open: a refused key stays refused until its window ends", async () => {
    const stub = stubFor(`unit:${crypto.randomUUID()}`);
    const start = Date.now() + 90 * 24 * HOUR;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(start);
    for (let i = 0; i < 3; i++) await stub.consume("register", 3, HOUR);
    vi.setSystemTime(start + HOUR - 1);
    expect(await runDurableObjectAlarm(stub)).toBe(true); // early, as after an eviction
    expect((await storedState(stub)).hits).toBe(3);
    expect((await stub.consume("register", 3, HOUR)).allowed).toBe(false);
    vi.setSystemTime(start + HOUR);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const tables = await runInDurableObject(stub, (_limiter, state) => state.storage.sql.exec("SELECT name FROM sqlite_master").toArray());
    expect(tables).toEqual([]);
    expect((await stub.consume("register", 3, HOUR)).allowed).toBe(true);
    await runInDurableObject(stub, (_limiter, state) => state.storage.deleteAlarm());
  });
});

describe("rate limiting over HTTP", () => {
  const registerOnce = (ip: string) =>
    app.request(
      `/api/v1/invites/inv_${"C".repeat(43)}/register`,
      { method: "POST", body: JSON.stringify({ email: uniqueEmail(), password: PASSWORD }), headers: { "Content-Type": "application/json", "CF-Connecting-IP": ip } },
      env,
    );

  it("IPv6 addresses in one /64 share a window; another /64 does not", async () => {
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:1`;
    for (let i = 0; i < 10; i++) expect((await registerOnce(`${prefix}::${(i + 1).toString(16)}`)).status).toBe(404);
    expect((await registerOnce(`${prefix}:ffff:ffff:ffff:ffff`)).status).toBe(429);
    expect((await registerOnce(`${prefix.replace(/:1$/, ":2")}::1`)).status).toBe(404);
  });

  it("reads the limit from REGISTER_LIMIT_PER_HOUR", async () => {
    const ip = randomIp();
    const tight = { ...env, REGISTER_LIMIT_PER_HOUR: "2" };
    const send = () =>
      app.request(`/api/v1/invites/inv_${"D".repeat(43)}/register`, { method: "POST", body: "{}", headers: { "Content-Type": "application/json", "CF-Connecting-IP": ip } }, tight);
    expect((await send()).status).toBe(400);
    expect((await send()).status).toBe(400);
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(refused.headers.get("RateLimit-Policy")).toBe(`"register";q=2;w=3600`);
  });

  it("fails closed with 503 SERVICE_UNAVAILABLE when the limiter cannot be reached", async () => {
    const unreachable = {
      idFromName: () => {
        throw new Error("Durable Object namespace unavailable");
      },
    };
    const response = await app.request(
      `/api/v1/invites/inv_${"E".repeat(43)}/register`,
      { method: "POST", body: JSON.stringify({ email: uniqueEmail(), password: PASSWORD }), headers: { "Content-Type": "application/json" } },
      { ...env, RATE_LIMITER: unreachable },
    );
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: "SERVICE_UNAVAILABLE", statusCode: 503 });
    const login = await app.request(
      "/api/v1/auth/login",
      { method: "POST", body: JSON.stringify({ email: uniqueEmail(), password: PASSWORD }), headers: { "Content-Type": "application/json" } },
      { ...env, RATE_LIMITER: unreachable },
    );
    expectError({ status: login.status, headers: login.headers, text: "", body: await login.json() }, 503, "SERVICE_UNAVAILABLE");
  });
});
