import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../../src/app";
import { SCALAR_BUNDLE } from "../../src/http/security-headers";
import { requestLogLine } from "../../src/http/request-log";
import type { Env } from "../../src/env";
import { envWith, headers, ORIGIN } from "../d1-spy";
// The deployed configuration itself, as text (a Vite raw import, bundled into the test).
import wranglerToml from "../../wrangler.toml?raw";
import { call, createInvite, newTenant, PASSWORD, uniqueEmail } from "../helpers";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const request = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}, bindings: Env = env) =>
  app.request(`${ORIGIN}${path}`, { ...init, headers: headers(init.headers) }, bindings);

/** The parsed request log lines written to `spy` so far. */
function requestLines(spy: { mock: { calls: unknown[][] } }) {
  return spy.mock.calls
    .map((args) => String(args[0]))
    .filter((line) => line.startsWith("{"))
    .map((line) => ({ raw: line, parsed: JSON.parse(line) as Record<string, unknown> }))
    .filter((line) => line.parsed.msg === "request");
}

afterEach(() => vi.restoreAllMocks());

describe("X-Request-Id", () => {
  it("is generated (a UUID) when the caller sends none", async () => {
    const response = await call("GET", "/healthz");
    expect(response.headers.get("X-Request-Id")).toMatch(UUID);
  });

  it("propagates a well-formed caller id", async () => {
    for (const id of ["spa-7f3a9c1e", "trace.2026-07-03_abc", "A".repeat(128)]) {
      const response = await call("GET", "/healthz", { headers: { "X-Request-Id": id } });
      expect(response.headers.get("X-Request-Id")).toBe(id);
    }
  });

  it("replaces a malformed one with a fresh UUID", async () => {
    for (const id of ["short", "A".repeat(129), "has space inside", "newline\\nforged", "quote\"injection", "a=b=c=d=e", "slash/inside/id"]) {
      const response = await request("/healthz", { headers: { "X-Request-Id": id } });
      const returned = response.headers.get("X-Request-Id");
      expect(returned, id).toMatch(UUID);
      expect(returned, id).not.toBe(id);
    }
  });

  it("is on error responses too: 400, 401, 404, 405, 413, 415", async () => {
    const id = "errors-are-traced-1";
    const responses = [
      await call("POST", "/api/v1/auth/login", { body: { email: "not-an-email" }, headers: { "X-Request-Id": id } }),
      await call("GET", "/api/v1/invites", { headers: { "X-Request-Id": id } }),
      await call("GET", "/api/v1/nothing-here", { headers: { "X-Request-Id": id } }),
      await call("PUT", "/api/v1/invites", { headers: { "X-Request-Id": id } }),
      await call("POST", "/api/v1/auth/login", { rawBody: "x".repeat(20_000), headers: { "Content-Type": "application/json", "X-Request-Id": id } }),
      await call("POST", "/api/v1/auth/login", { rawBody: "email=a", headers: { "Content-Type": "text/plain", "X-Request-Id": id } }),
    ];
    expect(responses.map((response) => response.status)).toEqual([400, 401, 404, 405, 413, 415]);
    for (const response of responses) expect(response.headers.get("X-Request-Id")).toBe(id);
  });
});

describe("secure headers", () => {
  const expectSecureHeaders = (response: { headers: Headers; status: number }) => {
    const label = String(response.status);
    expect(response.headers.get("X-Content-Type-Options"), label).toBe("nosniff");
    expect(response.headers.get("X-Frame-Options"), label).toBe("DENY");
    expect(response.headers.get("Strict-Transport-Security"), label).toMatch(/max-age=\d+/);
    expect(response.headers.get("Referrer-Policy"), label).toBe("no-referrer");
    expect(response.headers.get("Cross-Origin-Opener-Policy"), label).toBe("same-origin");
    expect(response.headers.get("Content-Security-Policy"), label).toContain("default-src 'none'");
    expect(response.headers.get("Content-Security-Policy"), label).toContain("frame-ancestors 'none'");
  };

  it("are on successful responses", async () => {
    const owner = await newTenant("headers");
    expectSecureHeaders(await call("GET", "/healthz"));
    expectSecureHeaders(await call("GET", "/api/v1/invites", { token: owner.token }));
    expectSecureHeaders(await call("GET", "/openapi.json"));
  });

  it("are on error responses", async () => {
    expectSecureHeaders(await call("GET", "/api/v1/invites"));
    expectSecureHeaders(await call("GET", "/nothing-here"));
    expectSecureHeaders(await call("DELETE", "/healthz"));
    expectSecureHeaders(await call("POST", "/api/v1/tenants", { body: {} }));
  });

  it("/docs runs only Scalar's pinned, integrity-checked bundle and a nonced start-up script", async () => {
    const first = await call("GET", "/docs");
    expect(first.status).toBe(200);
    expect(first.headers.get("Content-Type")).toMatch(/^text\/html/);
    const csp = first.headers.get("Content-Security-Policy") ?? "";
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    // script-src names the nonce and exactly one file: no host-wide source, no "latest".
    const scriptSrc = /script-src ([^;]+)/.exec(csp)?.[1]?.trim().split(/\s+/);
    expect(scriptSrc).toEqual([`'nonce-${nonce}'`, SCALAR_BUNDLE.url]);
    expect(SCALAR_BUNDLE.url).toMatch(/^https:\/\/cdn\.jsdelivr\.net\/npm\/@scalar\/api-reference@\d+\.\d+\.\d+\/dist\/browser\/standalone\.js$/);
    expect(SCALAR_BUNDLE.integrity).toMatch(/^sha384-[A-Za-z0-9+/]{64}$/);
    expect(csp).not.toMatch(/https:\/\/cdn\.jsdelivr\.net(?!\/npm\/@scalar\/api-reference@)/);
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");

    const scripts = [...first.text.matchAll(/<script\b[^>]*>/g)].map((match) => match[0]);
    expect(scripts).toHaveLength(2);
    for (const tag of scripts) expect(tag).toContain(`nonce="${nonce}"`);
    const external = scripts.filter((tag) => / src=/.test(tag));
    expect(external).toHaveLength(1);
    expect(external[0]).toContain(`src="${SCALAR_BUNDLE.url}"`);
    expect(external[0]).toContain(`integrity="${SCALAR_BUNDLE.integrity}"`);
    expect(external[0]).toContain('crossorigin="anonymous"');
    expect(first.text).toContain('Scalar.createApiReference("#app", {"url":"/openapi.json"})');
    const second = await call("GET", "/docs");
    expect(second.headers.get("Content-Security-Policy")).not.toBe(csp);
  });
});

describe("request log", () => {
  it("writes one JSON line per request with method, route pattern, status, duration, request id and tenant", async () => {
    const owner = await newTenant("log");
    const log = vi.spyOn(console, "log");
    const response = await request("/api/v1/invites?Status=Pending&Qt=5", {
      headers: { Authorization: `Bearer ${owner.token}`, "X-Request-Id": "log-line-test-1" },
    });
    expect(response.status).toBe(200);
    const lines = requestLines(log);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.parsed).toEqual({
      msg: "request",
      method: "GET",
      route: "/api/v1/invites",
      status: 200,
      durationMs: expect.any(Number),
      requestId: "log-line-test-1",
      tenantId: owner.tenantId,
    });
    expect(lines[0]!.raw).not.toContain(owner.token);
    expect(lines[0]!.raw).not.toContain("Status=Pending");
  });

  it("writes exactly the text JSON.stringify would, escaping any value outside the plain alphabet", () => {
    const lines = [
      { method: "GET", route: "/api/v1/invites/:id", status: 200, durationMs: 1.5, requestId: "abc-123_x.y", tenantId: null },
      { method: "PATCH", route: null, status: 404, durationMs: 0, requestId: null, tenantId: "0197a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" },
      // Never produced by the app today; the one-pass writer must still emit valid JSON for it.
      { method: 'G"ET\\', route: "/a b\n", status: 500, durationMs: 12.3, requestId: "é", tenantId: "</script>" },
    ];
    for (const line of lines) {
      expect(requestLogLine(line)).toBe(JSON.stringify({ msg: "request", ...line }));
      expect(JSON.parse(requestLogLine(line))).toEqual({ msg: "request", ...line });
    }
  });

  it("never writes the invite token, email or password of a registration", async () => {
    const owner = await newTenant("log-register");
    const invite = await createInvite(owner.token);
    const email = uniqueEmail("logged");
    const log = vi.spyOn(console, "log");
    const response = await request(`/api/v1/invites/${invite.token}/register?token=${invite.token}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    expect(response.status).toBe(201);
    const lines = requestLines(log);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.parsed).toMatchObject({ method: "POST", route: "/api/v1/invites/:token/register", status: 201 });
    const everything = log.mock.calls.map((args) => args.map(String).join(" ")).join("\n");
    for (const secret of [invite.token, invite.token.slice(4), email, PASSWORD]) expect(everything).not.toContain(secret);
  });

  it("logs failed requests too (404, 405, 415), by route pattern, never by raw path", async () => {
    const log = vi.spyOn(console, "log");
    const token = "inv_secretsecretsecretsecretsecretsecretsecr";
    await request(`/api/v1/invites/${token}/nothing`);
    await request("/api/v1/invites", { method: "PUT" });
    await request(`/api/v1/invites/${token}/register`, { method: "POST", headers: { "Content-Type": "text/plain" }, body: "x" });
    const lines = requestLines(log);
    expect(lines.map((line) => [line.parsed.status, line.parsed.route])).toEqual([
      [404, null],
      [405, null],
      [415, "/api/v1/invites/:token/register"],
    ]);
    for (const line of lines) expect(line.raw).not.toContain("secretsecret");
  });

  it("no log line of a token route (preview, register, accept, their 404/409/429) contains an invite token", async () => {
    const owner = await newTenant("log-tokens");
    const invite = await createInvite(owner.token, { email: uniqueEmail("bound") });
    const ip = "10.77.0.1";
    const log = vi.spyOn(console, "log");
    const errors = vi.spyOn(console, "error");
    const warnings = vi.spyOn(console, "warn");
    const statuses: number[] = [];
    const send = async (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
      statuses.push((await request(path, { ...init, headers: { "CF-Connecting-IP": ip, ...init.headers } })).status);
    const registerBody = (email: string) => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email, password: PASSWORD }) });
    await send(`/api/v1/invites/${invite.token}`);
    await send(`/api/v1/invites/inv_${"Z".repeat(43)}`);
    await send(`/api/v1/invites/${invite.token}/register`, registerBody(uniqueEmail("wrong")));
    const accept = { method: "POST", headers: { Authorization: `Bearer ${owner.token}`, "Content-Type": "application/json" }, body: "{}" };
    await send(`/api/v1/invites/${invite.token}/accept`, accept);
    await send(`/api/v1/invites/inv_${"X".repeat(43)}/accept`, accept);
    for (let i = 0; i < 10; i++) await send(`/api/v1/invites/inv_${"Y".repeat(43)}/register`, registerBody(uniqueEmail()));
    expect(new Set(statuses)).toEqual(new Set([200, 404, 409, 429]));
    const everything = [log, errors, warnings].flatMap((spy) => spy.mock.calls.map((args) => args.map(String).join(" "))).join("\n");
    expect(requestLines(log).length).toBe(statuses.length);
    expect(everything).not.toContain("inv_");
    expect(everything).not.toContain(invite.token.slice(4));
    expect(new Set(requestLines(log).map((line) => line.parsed.route))).toEqual(
      new Set(["/api/v1/invites/:id", "/api/v1/invites/:token/register", "/api/v1/invites/:token/accept"]),
    );
  });

  it("Workers invocation logs (which record request URLs) are off in wrangler.toml", () => {
    const section = /^\[observability\.logs\]\s*\n((?:(?!\[)[^\n]*\n?)*)/m.exec(wranglerToml)?.[1] ?? "";
    expect(section).toMatch(/^invocation_logs\s*=\s*false\s*$/m);
  });

  it("a server error is logged on console.error, with the request id and without the raw path", async () => {
    const log = vi.spyOn(console, "log");
    const errors = vi.spyOn(console, "error");
    const response = await request("/healthz", { headers: { "X-Request-Id": "server-error-1", Origin: "https://app.example.test" } }, envWith({ CORS_ORIGINS: "not an origin" }));
    expect(response.status).toBe(500);
    expect(requestLines(log)).toHaveLength(0);
    const lines = requestLines(errors);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.parsed).toMatchObject({ method: "GET", route: "/healthz", status: 500, requestId: "server-error-1" });
  });
});
