import { env, SELF } from "cloudflare:test";
import { expect } from "vitest";
import { app } from "../src/app";

export const BASE = "https://edge-invites.test";
export const PASSWORD = "correct horse battery staple";

let counter = 0;
export const unique = (label: string) => `${label}-${Date.now().toString(36)}-${(++counter).toString(36)}-${crypto.randomUUID().slice(0, 6)}`;
export const uniqueEmail = (label = "user") => `${unique(label)}@example.test`;

/** A fresh client IP per call by default, so per-IP limits only bite where a test means them to. */
export function randomIp(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(3));
  return `10.${bytes[0]}.${bytes[1]}.${bytes[2]}`;
}

export interface CallOptions {
  body?: unknown;
  rawBody?: BodyInit;
  token?: string;
  ip?: string;
  headers?: Record<string, string>;
  /**
   * Config vars that override wrangler.toml's for this request (e.g. a tight limit). The request then
   * goes to the app in the test's own worker with that env, against the same D1 and Durable Objects.
   */
  vars?: Record<string, string>;
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export async function call<T = any>(method: string, path: string, options: CallOptions = {}): Promise<ApiResponse<T>> {
  const headers = new Headers(options.headers);
  if (!headers.has("CF-Connecting-IP")) headers.set("CF-Connecting-IP", options.ip ?? randomIp());
  if (options.token) headers.set("Authorization", `Bearer ${options.token}`);
  let body: BodyInit | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    if (!headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  }
  const response = options.vars
    ? await app.request(`${BASE}${path}`, { method, headers, body }, { ...env, ...options.vars })
    : await SELF.fetch(`${BASE}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

/** Asserts the §2.1 error envelope and returns it. */
export function expectError(response: ApiResponse, status: number, code: string) {
  expect(response.status, response.text).toBe(status);
  expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
  expect(response.body).toMatchObject({ code, statusCode: status, error: expect.any(String), message: expect.any(String), details: expect.any(Object) });
  expect(response.text).not.toMatch(/at \w+ \(|SQLITE|D1_ERROR/);
  return response.body;
}

export interface Session {
  tenantId: string;
  tenantName: string;
  userId: string;
  email: string;
  password: string;
  token: string;
  refreshToken: string;
}

export async function login(email: string, password = PASSWORD) {
  const response = await call("POST", "/api/v1/auth/login", { body: { email, password } });
  expect(response.status, response.text).toBe(200);
  return response.body as { accessToken: string; refreshToken: string; expiresAt: string; expiresIn: number; tokenType: string };
}

/** Signs up a new tenant and logs its Owner in. */
export async function newTenant(label = "tenant"): Promise<Session> {
  const email = uniqueEmail("owner");
  const signup = await call("POST", "/api/v1/tenants", { body: { name: unique(label), adminEmail: email, adminPassword: PASSWORD } });
  expect(signup.status, signup.text).toBe(201);
  const tokens = await login(email);
  return {
    tenantId: signup.body.tenantId,
    tenantName: signup.body.tenantName,
    userId: signup.body.adminUserId,
    email,
    password: PASSWORD,
    token: tokens.accessToken,
    refreshToken: tokens.refreshToken,
  };
}

export async function createInvite(token: string, body: Record<string, unknown> = {}) {
  const response = await call("POST", "/api/v1/invites", { token, body });
  expect(response.status, response.text).toBe(201);
  return response.body as { id: string; token: string; status: string; targetRole: string; tenantId: string; expiresAt: string };
}

export async function register(inviteToken: string, email = uniqueEmail("member"), password = PASSWORD, ip?: string) {
  return call("POST", `/api/v1/invites/${inviteToken}/register`, { body: { email, password }, ip });
}

/** Creates a member of `owner`'s tenant with `role` through an invite, and logs them in. */
export async function newMember(owner: Session, role: "Admin" | "Developer" | "Viewer"): Promise<Session> {
  const invite = await createInvite(owner.token, { role });
  const email = uniqueEmail(role.toLowerCase());
  const registered = await register(invite.token, email);
  expect(registered.status, registered.text).toBe(201);
  const tokens = await login(email);
  return { ...owner, userId: registered.body.id, email, token: tokens.accessToken, refreshToken: tokens.refreshToken };
}
