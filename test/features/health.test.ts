import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { envWith, headers, observedD1, ORIGIN } from "../d1-spy";
import { call, expectError } from "../helpers";

describe("GET /healthz", () => {
  it("is 200 {status: ok} without auth, and not cacheable", async () => {
    const response = await call("GET", "/healthz");
    expect(response.status, response.text).toBe(200);
    expect(response.body).toEqual({ status: "ok" });
    expect(response.headers.get("Cache-Control")).toBe("no-store");
  });

  it("answers HEAD as well", async () => {
    const response = await call("HEAD", "/healthz");
    expect(response.status).toBe(200);
    expect(response.text).toBe("");
  });

  it("makes one table-less read through a replica-eligible session and writes nothing", async () => {
    const { db, log } = observedD1();
    const response = await app.request(`${ORIGIN}/healthz`, { headers: headers() }, envWith({ DB: db }));
    expect(response.status).toBe(200);
    expect(log.plain).toEqual([]);
    expect(log.sessions).toEqual([{ constraint: "first-unconstrained", sql: ["SELECT 1 AS ok"] }]);
  });

  it("is 503 SERVICE_UNAVAILABLE when D1 does not answer", async () => {
    // Fault injection: the binding is there but every query fails, as in a D1 outage.
    const unreachable = new Proxy(env.DB, {
      get(target, property) {
        if (property === "withSession") {
          return () => ({
            prepare: () => {
              throw new Error("D1_ERROR: Network connection lost");
            },
            batch: () => Promise.reject(new Error("D1_ERROR: Network connection lost")),
            getBookmark: () => null,
          });
        }
        const value = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const response = await app.request(`${ORIGIN}/healthz`, { headers: headers() }, envWith({ DB: unreachable }));
    const text = await response.text();
    expectError({ status: response.status, headers: response.headers, body: JSON.parse(text), text }, 503, "SERVICE_UNAVAILABLE");
    expect(response.headers.get("Retry-After")).toBe("5");
  });

  it("other methods are 405 with Allow", async () => {
    const response = await call("POST", "/healthz", { body: {} });
    expectError(response, 405, "METHOD_NOT_ALLOWED");
    expect(response.headers.get("Allow")).toBe("GET, HEAD");
  });
});
