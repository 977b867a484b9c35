import { env } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { app } from "../../src/app";
import { signProxyRequest, proxySignedMessage } from "../../src/rate-limit/client-key";
import { BASE, createInvite, expectError, newTenant, PASSWORD, randomIp, uniqueEmail, type ApiResponse } from "../helpers";

const secret = () => `proxy-${crypto.randomUUID()}-${crypto.randomUUID()}`;
const SECRET = secret();

type ProxyEnv = typeof env;
const proxyEnv = (vars: Partial<Record<"TRUSTED_PROXY_SECRETS" | "TRUSTED_PROXY_CIDRS" | "TRUSTED_PROXY_LIMIT_PER_HOUR", string>>): ProxyEnv => ({ ...env, ...vars });
const trusting = proxyEnv({ TRUSTED_PROXY_SECRETS: SECRET });

const UNKNOWN_INVITE = `inv_${"P".repeat(43)}`;

interface Send {
  env: ProxyEnv;
  /** CF-Connecting-IP: the proxy's own address */
  from: string;
  clientIp?: string;
  /** sign the request as a BFF does, with this secret */
  proxySecret?: string;
  /** what the signature covers, when it is not this request (replays, forgeries) */
  signed?: { timestamp?: number; clientIp?: string; method?: string; path?: string };
  /** extra headers, e.g. the old static X-Proxy-Secret */
  headers?: Record<string, string>;
}

async function send(method: string, path: string, body: unknown, { env: bindings, from, clientIp, proxySecret, signed = {}, headers: extra }: Send): Promise<ApiResponse> {
  const headers = new Headers({ "Content-Type": "application/json", "CF-Connecting-IP": from, ...extra });
  if (clientIp !== undefined) headers.set("X-Client-IP", clientIp);
  if (proxySecret !== undefined) {
    const timestamp = String(signed.timestamp ?? Math.floor(Date.now() / 1000));
    headers.set("X-Proxy-Timestamp", timestamp);
    const message = proxySignedMessage(timestamp, signed.clientIp ?? clientIp ?? "", signed.method ?? method, signed.path ?? path);
    headers.set("X-Proxy-Signature", proxySecret === "" ? "" : await signProxyRequest(proxySecret, message));
  }
  const response = await app.request(`${BASE}${path}`, { method, headers, body: JSON.stringify(body) }, bindings);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined, text };
}

/** Every register request counts, so an unknown token makes limit tests cheap: 404 until the limit, then 429. */
const registerVia = (options: Send, token = UNKNOWN_INVITE) =>
  send("POST", `/api/v1/invites/${token}/register`, { email: uniqueEmail(), password: PASSWORD }, options);

function expectRefusedBy(response: ApiResponse, policy: string) {
  expectError(response, 429, "RATE_LIMITED");
  expect(response.body.details.policy).toBe(policy);
  expect(Number(response.headers.get("Retry-After"))).toBeGreaterThan(0);
}

async function exhaustOwnRegisterBudget(options: Send) {
  for (let i = 0; i < 10; i++) expect((await registerVia(options)).status).toBe(404);
  expectRefusedBy(await registerVia(options), "register");
}

const randomIpv6Prefix = () => {
  const hextets = Array.from(crypto.getRandomValues(new Uint16Array(2)), (n) => n.toString(16));
  return `2001:db8:${hextets.join(":")}`;
};

describe("trusted client-IP forwarding", () => {
  it.each([
    ["no proxy secret", undefined],
    ["a wrong proxy secret", secret()],
    ["a prefix of the proxy secret", SECRET.slice(0, -1)],
    ["the proxy secret with a suffix", `${SECRET}x`],
    ["an empty proxy secret", ""],
  ])("with %s, a forged X-Client-IP changes nothing and is silently ignored", async (_label, proxySecret) => {
    const from = randomIp();
    for (let i = 0; i < 10; i++) {
      const response = await registerVia({ env: trusting, from, clientIp: randomIp(), proxySecret });
      expectError(response, 404, "INVITE_NOT_FOUND");
      expect(response.headers.get("RateLimit-Policy")).toBe(`"register";q=10;w=3600`);
    }
    expectRefusedBy(await registerVia({ env: trusting, from, clientIp: randomIp(), proxySecret }), "register");
  });

  it("without TRUSTED_PROXY_SECRETS configured, even a secret header is ignored", async () => {
    const from = randomIp();
    for (let i = 0; i < 10; i++) expect((await registerVia({ env, from, clientIp: randomIp(), proxySecret: SECRET })).status).toBe(404);
    expectRefusedBy(await registerVia({ env, from, clientIp: randomIp(), proxySecret: SECRET }), "register");
  });

  it("with a valid secret, eleven forwarded IPs each get their own budget; the 11th request for one of them is 429", async () => {
    const from = randomIp();
    const proxy = { env: trusting, from, proxySecret: SECRET };
    const owner = await newTenant();
    const invite = await createInvite(owner.token);

    const registered = await registerVia({ ...proxy, clientIp: randomIp() }, invite.token);
    expect(registered.status, registered.text).toBe(201);
    for (let i = 1; i < 11; i++) expectError(await registerVia({ ...proxy, clientIp: randomIp() }), 404, "INVITE_NOT_FOUND");

    const user = randomIp();
    for (let i = 0; i < 10; i++) {
      const response = await registerVia({ ...proxy, clientIp: user });
      expect(response.status).toBe(404);
      expect(response.headers.get("RateLimit-Policy")).toBe(`"trusted-proxy";q=1000;w=3600, "register";q=10;w=3600`);
      expect(response.headers.get("RateLimit")).toMatch(new RegExp(`^"trusted-proxy";r=${1000 - 12 - i};t=\\d+, "register";r=${9 - i};t=\\d+$`));
    }
    expectRefusedBy(await registerVia({ ...proxy, clientIp: user }), "register");

    // The proxy's own per-IP budget was never spent: 22 forwarded requests, yet its own requests still pass.
    expectError(await registerVia({ env: trusting, from }), 404, "INVITE_NOT_FOUND");
  });

  it("IPv6 forwarded addresses are keyed by /64, whatever their spelling", async () => {
    const proxy = { env: trusting, from: randomIp(), proxySecret: SECRET };
    const prefix = randomIpv6Prefix();
    for (let i = 1; i <= 10; i++) {
      const spelling = i % 2 ? `${prefix}::${i.toString(16)}` : `${prefix.toUpperCase()}:0:0:0:${i.toString(16).toUpperCase()}`;
      expect((await registerVia({ ...proxy, clientIp: spelling })).status).toBe(404);
    }
    expectRefusedBy(await registerVia({ ...proxy, clientIp: `${prefix}:ffff:ffff:ffff:ffff` }), "register");
    expect((await registerVia({ ...proxy, clientIp: `${randomIpv6Prefix()}::1` })).status).toBe(404);
  });

  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["not an address", "not-an-ip"],
    ["an out-of-range IPv4", "10.0.0.256"],
    ["a list", "10.1.2.3, 10.4.5.6"],
    ["with a port", "10.1.2.3:8080"],
    ["a CIDR range", "2001:db8::/32"],
  ])("with a valid secret but X-Client-IP %s, the connecting IP is the client, as without a proxy", async (_label, clientIp) => {
    const from = randomIp();
    for (let i = 0; i < 10; i++) {
      const response = await registerVia({ env: trusting, from, clientIp, proxySecret: SECRET });
      expectError(response, 404, "INVITE_NOT_FOUND");
      // behaves as today: only the connection's own budget, no proxy ceiling spent
      expect(response.headers.get("RateLimit-Policy")).toBe(`"register";q=10;w=3600`);
    }
    expectRefusedBy(await registerVia({ env: trusting, from, clientIp, proxySecret: SECRET }), "register");
    // a valid forwarded IP from the same proxy still gets its own budget
    expect((await registerVia({ env: trusting, from, clientIp: randomIp(), proxySecret: SECRET })).status).toBe(404);
  });

  it("the proxy connection's ceiling holds across forwarded IPs, and refuses before spending the end user's budget", async () => {
    const capped = proxyEnv({ TRUSTED_PROXY_SECRETS: SECRET, TRUSTED_PROXY_LIMIT_PER_HOUR: "3" });
    const proxy = { env: capped, from: randomIp(), proxySecret: SECRET };
    for (let i = 0; i < 3; i++) expect((await registerVia({ ...proxy, clientIp: randomIp() })).status).toBe(404);
    const user = randomIp();
    const refused = await registerVia({ ...proxy, clientIp: user });
    expectRefusedBy(refused, "trusted-proxy");
    expect(refused.headers.get("RateLimit-Policy")).toBe(`"trusted-proxy";q=3;w=3600`);
    expect(refused.body.details).toMatchObject({ limit: 3, windowSeconds: 3600 });

    // the ceiling is per proxy connection and spans every per-client policy
    expectRefusedBy(await send("POST", "/api/v1/tenants", {}, { ...proxy, clientIp: randomIp() }), "trusted-proxy");
    expect((await registerVia({ ...proxy, from: randomIp(), clientIp: randomIp() })).status).toBe(404);

    // the refused request did not spend the end user's own budget: ten requests still fit
    for (let i = 0; i < 10; i++) expect((await registerVia({ env: capped, from: user })).status).toBe(404);
    expectRefusedBy(await registerVia({ env: capped, from: user }), "register");
  });

  it("rotation: old and new secrets are both honoured; a removed secret is ignored", async () => {
    const [oldSecret, newSecret] = [secret(), secret()];
    const rotating = proxyEnv({ TRUSTED_PROXY_SECRETS: ` ${newSecret} , ${oldSecret},` });
    const rotated = proxyEnv({ TRUSTED_PROXY_SECRETS: newSecret });

    /** A proxy whose own register budget is spent can still forward its users — only when trusted. */
    async function honoured(bindings: ProxyEnv, proxySecret: string) {
      const from = randomIp();
      await exhaustOwnRegisterBudget({ env: bindings, from });
      const response = await registerVia({ env: bindings, from, clientIp: randomIp(), proxySecret });
      expect([404, 429]).toContain(response.status);
      return response.status === 404;
    }

    expect(await honoured(rotating, oldSecret)).toBe(true);
    expect(await honoured(rotating, newSecret)).toBe(true);
    expect(await honoured(rotated, newSecret)).toBe(true);
    expect(await honoured(rotated, oldSecret)).toBe(false);
  });

  /** True when the forwarded IP was honoured: the proxy's own register budget is spent, yet the request passes. */
  async function forwardedHonoured(options: Omit<Send, "from">, path = `/api/v1/invites/${UNKNOWN_INVITE}/register`, method = "POST") {
    const from = randomIp();
    await exhaustOwnRegisterBudget({ env: options.env, from });
    const response = await send(method, path, { email: uniqueEmail(), password: PASSWORD }, { ...options, from });
    expect([404, 429]).toContain(response.status);
    if (response.status === 429) expect(response.body.details.policy).toBe("register");
    return response.status === 404;
  }

  it("a signature is accepted within ±60 s of the Worker's clock; a replayed (older) or future one is ignored", async () => {
    const now = Math.floor(Date.now() / 1000);
    const base = { env: trusting, clientIp: randomIp(), proxySecret: SECRET };
    expect(await forwardedHonoured({ ...base, signed: { timestamp: now - 55 } })).toBe(true);
    expect(await forwardedHonoured({ ...base, signed: { timestamp: now + 55 } })).toBe(true);
    expect(await forwardedHonoured({ ...base, clientIp: randomIp(), signed: { timestamp: now - 120 } })).toBe(false);
    expect(await forwardedHonoured({ ...base, clientIp: randomIp(), signed: { timestamp: now + 120 } })).toBe(false);
  });

  it("a signature covers the method, path and client IP: replayed onto another request it is ignored", async () => {
    const clientIp = randomIp();
    const base = { env: trusting, clientIp, proxySecret: SECRET };
    expect(await forwardedHonoured({ ...base, signed: { path: "/api/v1/tenants" } })).toBe(false);
    expect(await forwardedHonoured({ ...base, signed: { path: `/api/v1/invites/inv_${"Q".repeat(43)}/register` } })).toBe(false);
    expect(await forwardedHonoured({ ...base, signed: { method: "GET" } })).toBe(false);
    expect(await forwardedHonoured({ ...base, signed: { clientIp: randomIp() } })).toBe(false);
    expect(await forwardedHonoured(base)).toBe(true);
  });

  it("a header captured from one request, replayed after 60 s, is ignored (time moved with vi.setSystemTime)", async () => {
    const clientIp = randomIp();
    const timestamp = Math.floor(Date.now() / 1000);
    const path = `/api/v1/invites/${UNKNOWN_INVITE}/register`;
    const captured = {
      "X-Client-IP": clientIp,
      "X-Proxy-Timestamp": String(timestamp),
      "X-Proxy-Signature": await signProxyRequest(SECRET, proxySignedMessage(String(timestamp), clientIp, "POST", path)),
    };
    expect(await forwardedHonoured({ env: trusting, headers: captured })).toBe(true);
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime((timestamp + 61) * 1000);
      expect(await forwardedHonoured({ env: trusting, headers: captured })).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it("the old static X-Proxy-Secret header is no longer proof of anything", async () => {
    expect(await forwardedHonoured({ env: trusting, clientIp: randomIp(), headers: { "X-Proxy-Secret": SECRET } })).toBe(false);
  });

  it("TRUSTED_PROXY_CIDRS: a proxy connecting from a listed IPv4 or IPv6 range is trusted without a signature, others are not", async () => {
    const cidrs = proxyEnv({ TRUSTED_PROXY_CIDRS: "198.51.100.0/24, 2001:db8:bff::/48" });
    const viaCidr = async (from: string) => {
      const own = await registerVia({ env: cidrs, from });
      expect(own.headers.get("RateLimit-Policy")).toBe(`"register";q=10;w=3600`);
      for (let i = 0; i < 9; i++) await registerVia({ env: cidrs, from });
      expectRefusedBy(await registerVia({ env: cidrs, from }), "register");
      const forwarded = await registerVia({ env: cidrs, from, clientIp: randomIp() });
      return forwarded.status === 404 && forwarded.headers.get("RateLimit-Policy")?.startsWith('"trusted-proxy"');
    };
    const suffix = () => crypto.getRandomValues(new Uint8Array(1))[0]!;
    expect(await viaCidr(`198.51.100.${suffix()}`)).toBe(true);
    expect(await viaCidr(`2001:db8:bff:${suffix().toString(16)}::7`)).toBe(true);
    expect(await viaCidr(`::ffff:198.51.100.${suffix()}`)).toBe(true);
    expect(await viaCidr(`198.51.101.${suffix()}`)).toBe(false);
    expect(await viaCidr(`2001:db8:bfe:${suffix().toString(16)}::7`)).toBe(false);
  });

  it.each([["10.0.0.0/33"], ["10.0.0.1/8"], ["2001:db8::/129"], ["not-a-range"], ["10.0.0.0/8/8"]])(
    "a malformed TRUSTED_PROXY_CIDRS entry (%s) is a 500 naming the setting",
    async (entry) => {
      const response = await registerVia({ env: proxyEnv({ TRUSTED_PROXY_CIDRS: `192.0.2.0/24,${entry}` }), from: randomIp() });
      expectError(response, 500, "INTERNAL_ERROR");
      expect(response.body.message).toContain("TRUSTED_PROXY_CIDRS");
    },
  );

  it("tenant signups through a trusted proxy are limited per forwarded IP", async () => {
    const proxy = { env: trusting, from: randomIp(), proxySecret: SECRET };
    const user = randomIp();
    // an invalid body still counts (every request does), and costs no password hashing
    for (let i = 0; i < 5; i++) expectError(await send("POST", "/api/v1/tenants", {}, { ...proxy, clientIp: user }), 400, "VALIDATION_ERROR");
    expectRefusedBy(await send("POST", "/api/v1/tenants", {}, { ...proxy, clientIp: user }), "tenant-signup");
    expectError(await send("POST", "/api/v1/tenants", {}, { ...proxy, clientIp: randomIp() }), 400, "VALIDATION_ERROR");
  });

  it("login failures through a trusted proxy count per forwarded IP, and against the proxy's ceiling", async () => {
    const login = (options: Send) => send("POST", "/api/v1/auth/login", { email: uniqueEmail("nobody"), password: "wrong password" }, options);
    const proxy = { env: trusting, from: randomIp(), proxySecret: SECRET };
    const user = randomIp();
    for (let i = 0; i < 10; i++) expectError(await login({ ...proxy, clientIp: user }), 401, "INVALID_CREDENTIALS");
    expectRefusedBy(await login({ ...proxy, clientIp: user }), "login-failures");
    expectError(await login({ ...proxy, clientIp: randomIp() }), 401, "INVALID_CREDENTIALS");

    const capped = proxyEnv({ TRUSTED_PROXY_SECRETS: SECRET, TRUSTED_PROXY_LIMIT_PER_HOUR: "2" });
    const cappedProxy = { env: capped, from: randomIp(), proxySecret: SECRET };
    for (let i = 0; i < 2; i++) expectError(await login({ ...cappedProxy, clientIp: randomIp() }), 401, "INVALID_CREDENTIALS");
    expectRefusedBy(await login({ ...cappedProxy, clientIp: randomIp() }), "trusted-proxy");
  });

  it.each([
    ["a secret shorter than 32 characters", { TRUSTED_PROXY_SECRETS: `${SECRET},too-short` }, "TRUSTED_PROXY_SECRETS"],
    ["a non-positive proxy ceiling", { TRUSTED_PROXY_SECRETS: SECRET, TRUSTED_PROXY_LIMIT_PER_HOUR: "0" }, "TRUSTED_PROXY_LIMIT_PER_HOUR"],
  ])("misconfiguration (%s) is a 500 naming the setting, never a silent default", async (_label, vars, name) => {
    const response = await registerVia({ env: proxyEnv(vars), from: randomIp() });
    expectError(response, 500, "INTERNAL_ERROR");
    expect(response.body.message).toContain(name);
    expect(response.text).not.toContain(SECRET);
  });
});
