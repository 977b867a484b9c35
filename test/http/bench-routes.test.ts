import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { BENCH_COST_HEADER, type RequestCost } from "../../bench/routes";
import benchWorker from "../../bench/worker";
import type { Env } from "../../src/env";
import { BASE, call, createInvite, expectError, newTenant, randomIp } from "../helpers";
import { createWebhook } from "../webhook-helpers";

/** The worker as `npm run bench` runs it (bench/worker.ts: the production app plus the bench routes). */
async function callInBenchMode(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const ctx = createExecutionContext();
  const request = new Request<unknown, IncomingRequestCfProperties>(`${BASE}${path}`, { method, headers: { "CF-Connecting-IP": randomIp(), ...headers }, body });
  const response = await benchWorker.fetch(request, env as unknown as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe("bench-only routes", () => {
  it("are 404 NOT_FOUND for every method in the production Worker", async () => {
    for (const [method, path] of [
      ["GET", "/__bench/floor"],
      ["POST", "/__bench/floor"],
      ["GET", "/__bench/pbkdf2"],
      ["POST", "/__bench/pbkdf2"],
      ["GET", "/__bench/limiter-rows"],
      ["GET", "/__bench/levers"],
      ["GET", "/__bench/limiter-call"],
      ["POST", "/__bench/console"],
    ] as const) {
      const response = await call(method, path);
      expectError(response, 404, "NOT_FOUND");
      expect(response.headers.get("Allow")).toBeNull();
    }
  });

  it("ignore the cost probe header in the production Worker", async () => {
    const owner = await newTenant("bench-off");
    const response = await call("GET", "/api/v1/invites", { token: owner.token, headers: { [BENCH_COST_HEADER]: "1" } });
    expect(response.status, response.text).toBe(200);
    expect(response.headers.get(BENCH_COST_HEADER)).toBeNull();
  });

  it("are not in the OpenAPI document", async () => {
    const response = await call("GET", "/openapi.json");
    expect(response.status).toBe(200);
    expect(response.text).not.toContain("__bench");
  });

  it("answer in the bench Worker: the floor route and the PBKDF2-only route", async () => {
    const floor = await callInBenchMode("GET", "/__bench/floor");
    expect(floor.status).toBe(200);
    expect(await floor.json()).toEqual({ ok: true });
    const limiterCall = await callInBenchMode("GET", "/__bench/limiter-call");
    expect(limiterCall.status).toBe(200);
    const pbkdf2 = await callInBenchMode("POST", "/__bench/pbkdf2");
    expect(pbkdf2.status).toBe(200);
    expect(await pbkdf2.json()).toMatchObject({ ok: true, length: expect.any(Number) });
  });

  it("time each CPU lever before and after, and silence console.log on request (for the profile) and back", async () => {
    const levers = await callInBenchMode("GET", "/__bench/levers?n=20");
    expect(levers.status).toBe(200);
    const body = (await levers.json()) as Record<string, { beforeUs: number; afterUs: number; ratio: number }>;
    expect(Object.keys(body).sort()).toEqual(["aesKey", "drizzleInstance", "jwtKeyRing", "listQueryBuilding", "requestLogLine"]);
    for (const lever of Object.values(body)) {
      expect(lever.beforeUs).toBeGreaterThanOrEqual(0);
      expect(lever.afterUs).toBeGreaterThanOrEqual(0);
    }

    const log = vi.spyOn(console, "log");
    const requestLines = () => log.mock.calls.filter(([line]) => String(line).startsWith('{"msg":"request"')).length;
    try {
      expect(await (await callInBenchMode("POST", "/__bench/console?quiet=1")).json()).toEqual({ quiet: true });
      const before = requestLines();
      await callInBenchMode("GET", "/__bench/floor");
      expect(requestLines()).toBe(before);
    } finally {
      expect(await (await callInBenchMode("POST", "/__bench/console?quiet=0")).json()).toEqual({ quiet: false });
    }
    const before = requestLines();
    await callInBenchMode("GET", "/__bench/floor");
    expect(requestLines()).toBe(before + 1);
  });

  it("replay the rate limiter's statements with their row counts in the bench Worker", async () => {
    const response = await callInBenchMode("GET", "/__bench/limiter-rows?inWindow=3");
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<"newClient" | "returningClient", Array<{ sql: string; rowsRead: number; rowsWritten: number }>>;
    expect(body.newClient.map((s) => s.sql)).toEqual(["prune", "count", "record"]);
    // The returning client's expired hit is deleted and the new one inserted; the count reads its 3 live hits.
    const [prune, count, record] = body.returningClient;
    expect(prune?.rowsWritten).toBeGreaterThan(0);
    expect(count?.rowsRead).toBeGreaterThanOrEqual(3);
    expect(record?.rowsWritten).toBeGreaterThan(0);
  });

  it("report D1 meta, D1 round trips and Durable Object calls of a probed request in the bench Worker", async () => {
    const owner = await newTenant("bench-cost");
    const invite = await createInvite(owner.token);

    const list = await callInBenchMode("GET", "/api/v1/invites?Qt=20", { Authorization: `Bearer ${owner.token}`, [BENCH_COST_HEADER]: "1" });
    expect(list.status).toBe(200);
    expect((await list.json()) as { total: number }).toMatchObject({ total: 1 });
    const listCost = JSON.parse(list.headers.get(BENCH_COST_HEADER) ?? "null") as RequestCost;
    expect(listCost.durableObjectRequests).toBe(0);
    expect(listCost.statements.length).toBeGreaterThanOrEqual(2);
    expect(listCost.d1Calls).toBeGreaterThanOrEqual(1);
    expect(listCost.d1Calls).toBeLessThanOrEqual(listCost.statements.length);
    expect(listCost.statements.reduce((sum, s) => sum + s.rowsRead, 0)).toBeGreaterThan(0);

    const preview = await callInBenchMode("GET", `/api/v1/invites/${invite.token}`, { [BENCH_COST_HEADER]: "1" });
    expect(preview.status).toBe(200);
    const previewCost = JSON.parse(preview.headers.get(BENCH_COST_HEADER) ?? "null") as RequestCost;
    expect(previewCost.durableObjectRequests).toBe(1);

    const unprobed = await callInBenchMode("GET", "/api/v1/invites", { Authorization: `Bearer ${owner.token}` });
    expect(unprobed.status).toBe(200);
    expect(unprobed.headers.get(BENCH_COST_HEADER)).toBeNull();
  });

  it("one round trip: each hot route makes exactly one D1 call and at most one Durable Object call", async () => {
    const owner = await newTenant("bench-one-trip");
    const invite = await createInvite(owner.token);
    const bearer = { Authorization: `Bearer ${owner.token}`, [BENCH_COST_HEADER]: "1" };
    const routes: Array<[string, string, Record<string, string>, string?]> = [
      ["GET", "/api/v1/invites?Qt=20", bearer],
      ["GET", "/api/v1/invites?Qt=5&Status=Pending&CpOrd=expiresAt", bearer],
      ["POST", "/api/v1/invites", { ...bearer, "Content-Type": "application/json" }, "{}"],
      ["GET", `/api/v1/invites/${invite.id}`, bearer],
      ["GET", `/api/v1/invites/${invite.token}`, { [BENCH_COST_HEADER]: "1" }],
      ["GET", "/api/v1/users?Qt=20", bearer],
    ];
    for (const [method, path, headers, body] of routes) {
      const response = await callInBenchMode(method, path, headers, body);
      expect(response.status, `${method} ${path}`).toBeLessThan(300);
      const cost = JSON.parse(response.headers.get(BENCH_COST_HEADER) ?? "null") as RequestCost;
      // No webhook endpoint in this tenant: no outbox rows, so no hand-off after the response either.
      expect(cost.d1Calls, `${method} ${path}: ${JSON.stringify(cost.statements.map((s) => [s.call, s.sql]))}`).toBe(1);
      expect(cost.d1CallsAfterResponse, `${method} ${path}`).toBe(0);
      expect(cost.durableObjectRequests, `${method} ${path}`).toBeLessThanOrEqual(1);
    }
  });

  it("a write hands the webhook outbox to the Queue after the response only when an endpoint is subscribed to its event", async () => {
    const owner = await newTenant("bench-outbox");
    const create = async () => {
      const response = await callInBenchMode("POST", "/api/v1/invites", { Authorization: `Bearer ${owner.token}`, [BENCH_COST_HEADER]: "1", "Content-Type": "application/json" }, "{}");
      expect(response.status).toBe(201);
      return JSON.parse(response.headers.get(BENCH_COST_HEADER) ?? "null") as RequestCost;
    };
    expect(await create()).toMatchObject({ d1Calls: 1, d1CallsAfterResponse: 0 });
    await createWebhook(owner, { events: ["member.added"] });
    expect(await create()).toMatchObject({ d1Calls: 1, d1CallsAfterResponse: 0 });
    await createWebhook(owner, { events: ["invite.created"] });
    expect(await create()).toMatchObject({ d1Calls: 2, d1CallsAfterResponse: 1 });
  });
});
