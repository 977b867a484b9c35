import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { OPENAPI_PATH, DOCS_PATH } from "../../src/http/api-docs";
import { envWith, headers, ORIGIN } from "../d1-spy";
import { newTenant } from "../helpers";

const SPA = "https://app.example.test";
const LOCAL = "http://localhost:5173";
const corsEnv = envWith({ CORS_ORIGINS: `${SPA}, ${LOCAL}` });

const request = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}, env = corsEnv) =>
  app.request(`${ORIGIN}${path}`, { ...init, headers: headers(init.headers) }, env);

const accessControlHeaders = (response: Response) => [...response.headers.keys()].filter((name) => name.startsWith("access-control-"));

const splitList = (value: string | null) => (value ?? "").split(",").map((item) => item.trim().toLowerCase());

/** Every registered route with its params filled in: where a browser would send its preflight. */
function concreteRoutes() {
  const seen = new Set<string>();
  const routes: { method: string; path: string }[] = [];
  for (const route of app.routes) {
    if (route.method === "ALL" || seen.has(`${route.method} ${route.path}`)) continue;
    seen.add(`${route.method} ${route.path}`);
    routes.push({ method: route.method, path: route.path.replace(/:(\w+)/g, (_, name: string) => (name === "token" ? "inv_x" : crypto.randomUUID())) });
  }
  return routes;
}

describe("CORS", () => {
  it("an allowed origin gets its origin back, no credentials, and the exposed headers", async () => {
    const response = await request("/healthz", { headers: { Origin: SPA } });
    expect(response.status).toBe(200);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe(SPA);
    expect(response.headers.get("Access-Control-Allow-Credentials")).toBeNull();
    expect(splitList(response.headers.get("Vary"))).toContain("origin");
    expect(splitList(response.headers.get("Access-Control-Expose-Headers"))).toEqual(
      expect.arrayContaining(["ratelimit", "ratelimit-policy", "retry-after", "location", "x-request-id", "x-d1-bookmark"]),
    );
  });

  it("the local dev origins are matched exactly, from a comma-separated list with spaces", async () => {
    const response = await request("/healthz", { headers: { Origin: LOCAL } });
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe(LOCAL);
    const otherPort = await request("/healthz", { headers: { Origin: "http://localhost:5174" } });
    expect(otherPort.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });

  it("error responses carry CORS headers too, so the SPA can read the envelope", async () => {
    const unauthorized = await request("/api/v1/invites", { headers: { Origin: SPA } });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("Access-Control-Allow-Origin")).toBe(SPA);
    const missing = await request("/api/v1/nothing-here", { headers: { Origin: SPA } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("Access-Control-Allow-Origin")).toBe(SPA);
    const wrongMethod = await request("/healthz", { method: "POST", headers: { Origin: SPA } });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("Access-Control-Allow-Origin")).toBe(SPA);
  });

  it("a disallowed origin gets no CORS header at all, on success and on error", async () => {
    for (const path of ["/healthz", "/api/v1/invites", "/nothing-here"]) {
      const response = await request(path, { headers: { Origin: "https://evil.example.test" } });
      expect(accessControlHeaders(response), path).toEqual([]);
      expect(splitList(response.headers.get("Vary")), path).toContain("origin");
    }
  });

  it("no CORS headers when CORS_ORIGINS is empty (the wrangler.toml default)", async () => {
    const response = await request("/healthz", { headers: { Origin: LOCAL } }, envWith({ CORS_ORIGINS: "" }));
    expect(response.status).toBe(200);
    expect(accessControlHeaders(response)).toEqual([]);
  });

  it("a preflight for every registered route is 204 with the method and headers allowed", async () => {
    const routes = concreteRoutes();
    expect(routes.length).toBeGreaterThan(5);
    for (const { method, path } of routes) {
      const response = await request(path, {
        method: "OPTIONS",
        headers: { Origin: SPA, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "authorization, content-type" },
      });
      const label = `${method} ${path}`;
      expect(response.status, label).toBe(204);
      expect(response.headers.get("Access-Control-Allow-Origin"), label).toBe(SPA);
      expect(splitList(response.headers.get("Access-Control-Allow-Methods")), label).toContain(method.toLowerCase());
      expect(splitList(response.headers.get("Access-Control-Allow-Headers")), label).toEqual(
        expect.arrayContaining(["authorization", "content-type", "x-d1-bookmark", "x-request-id"]),
      );
      expect(response.headers.get("Access-Control-Allow-Credentials"), label).toBeNull();
      expect(Number(response.headers.get("Access-Control-Max-Age")), label).toBeGreaterThan(0);
      expect(response.headers.get("X-Request-Id"), label).toBeTruthy();
    }
  });

  it("the doc routes answer preflights as well", async () => {
    for (const path of [OPENAPI_PATH, DOCS_PATH]) {
      const response = await request(path, { method: "OPTIONS", headers: { Origin: SPA, "Access-Control-Request-Method": "GET" } });
      expect(response.status, path).toBe(204);
      expect(response.headers.get("Access-Control-Allow-Origin"), path).toBe(SPA);
    }
  });

  it("a preflight from a disallowed origin is 204 without any Access-Control-* header", async () => {
    const response = await request("/api/v1/invites", {
      method: "OPTIONS",
      headers: { Origin: "https://evil.example.test", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization" },
    });
    expect(response.status).toBe(204);
    expect(accessControlHeaders(response)).toEqual([]);
  });

  it("an OPTIONS request that is not a preflight is still 405 in the envelope", async () => {
    const response = await request("/api/v1/invites", { method: "OPTIONS" });
    expect(response.status).toBe(405);
    expect(await response.json()).toMatchObject({ code: "METHOD_NOT_ALLOWED", statusCode: 405 });
  });

  it('"*" allows any origin (still without credentials)', async () => {
    const response = await request("/healthz", { headers: { Origin: "https://anyone.example.test" } }, envWith({ CORS_ORIGINS: "*" }));
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe("https://anyone.example.test");
    expect(response.headers.get("Access-Control-Allow-Credentials")).toBeNull();
  });

  it("an entry that is not an origin is a 500 naming CORS_ORIGINS, not a silently dead allow-list", async () => {
    for (const bad of ["https://app.example.test/path", "app.example.test", "ftp://files.example.test"]) {
      const response = await request("/healthz", { headers: { Origin: SPA } }, envWith({ CORS_ORIGINS: bad }));
      expect(response.status, bad).toBe(500);
      const body = (await response.json()) as { code: string; message: string };
      expect(body.code).toBe("INTERNAL_ERROR");
      expect(body.message).toContain("CORS_ORIGINS");
    }
  });

  it("an authenticated cross-origin call works end to end", async () => {
    const owner = await newTenant("cors");
    const response = await request("/api/v1/invites", {
      method: "POST",
      headers: { Origin: SPA, Authorization: `Bearer ${owner.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ role: "Viewer" }),
    });
    expect(response.status).toBe(201);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe(SPA);
    expect(splitList(response.headers.get("Access-Control-Expose-Headers"))).toContain("location");
    expect(response.headers.get("Location")).toMatch(/^\/api\/v1\/invites\//);
  });
});
