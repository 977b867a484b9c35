import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { BENCH_COST_HEADER, type RequestCost } from "../../src/bench-routes";
import type { Env } from "../../src/env";
import { BASE, call, createInvite, expectError, newTenant, randomIp } from "../helpers";

/** The worker as `npm run bench` runs it: the same app with the BENCH_MODE var set. */
async function callInBenchMode(method: string, path: string, headers: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const request = new Request(`${BASE}${path}`, { method, headers: { "CF-Connecting-IP": randomIp(), ...headers } });
  const response = await app.fetch(request, { ...(env as unknown as Env), BENCH_MODE: "1" }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe("bench-only routes", () => {
  it("are 404 NOT_FOUND for every method when BENCH_MODE is not set (as in production)", async () => {
    for (const [method, path] of [
      ["GET", "/__bench/floor"],
      ["POST", "/__bench/floor"],
      ["GET", "/__bench/pbkdf2"],
      ["POST", "/__bench/pbkdf2"],
      ["GET", "/__bench/limiter-rows"],
    ] as const) {
      const response = await call(method, path);
      expectError(response, 404, "NOT_FOUND");
      expect(response.headers.get("Allow")).toBeNull();
    }
  });

  it("ignore the cost probe header when BENCH_MODE is not set", async () => {
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

  it("answer when BENCH_MODE is 1: the floor route and the PBKDF2-only route", async () => {
    const floor = await callInBenchMode("GET", "/__bench/floor");
    expect(floor.status).toBe(200);
    expect(await floor.json()).toEqual({ ok: true });
    const pbkdf2 = await callInBenchMode("POST", "/__bench/pbkdf2");
    expect(pbkdf2.status).toBe(200);
    expect(await pbkdf2.json()).toMatchObject({ ok: true, length: expect.any(Number) });
  });

  it("replay the rate limiter's statements with their row counts in bench mode", async () => {
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

  it("report D1 meta and Durable Object calls of a probed request in bench mode", async () => {
    const owner = await newTenant("bench-cost");
    const invite = await createInvite(owner.token);

    const list = await callInBenchMode("GET", "/api/v1/invites?Qt=20", { Authorization: `Bearer ${owner.token}`, [BENCH_COST_HEADER]: "1" });
    expect(list.status).toBe(200);
    expect((await list.json()) as { total: number }).toMatchObject({ total: 1 });
    const listCost = JSON.parse(list.headers.get(BENCH_COST_HEADER) ?? "null") as RequestCost;
    expect(listCost.durableObjectRequests).toBe(0);
    expect(listCost.statements.length).toBeGreaterThanOrEqual(2);
    expect(listCost.statements.reduce((sum, s) => sum + s.rowsRead, 0)).toBeGreaterThan(0);

    const preview = await callInBenchMode("GET", `/api/v1/invites/${invite.token}`, { [BENCH_COST_HEADER]: "1" });
    expect(preview.status).toBe(200);
    const previewCost = JSON.parse(preview.headers.get(BENCH_COST_HEADER) ?? "null") as RequestCost;
    expect(previewCost.durableObjectRequests).toBe(1);

    const unprobed = await callInBenchMode("GET", "/api/v1/invites", { Authorization: `Bearer ${owner.token}` });
    expect(unprobed.status).toBe(200);
    expect(unprobed.headers.get(BENCH_COST_HEADER)).toBeNull();
  });
});
