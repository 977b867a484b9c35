/**
 * The API surface as the app itself declares it (app.routes + its OpenAPI document), so the
 * guarantee tests cover every route, including ones added after they were written.
 */
import { env } from "cloudflare:test";
import { TrieRouter } from "hono/router/trie-router";
import { getPath } from "hono/utils/url";
import { expect } from "vitest";
import { app } from "../../src/app";

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  example?: unknown;
  default?: unknown;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
}

export interface ApiRoute {
  method: string;
  /** Hono pattern, e.g. /api/v1/invites/:id */
  path: string;
  params: string[];
  /** from the OpenAPI `security`: bearer required, bearer optional (`{}` alternative), or none */
  auth: "bearer" | "optional" | "public";
  body?: JsonSchema;
  query: { name: string; schema: JsonSchema }[];
}

/**
 * Hosted HTML pages (src/pages) and the dev-only mail catcher: not the JSON API, so outside the
 * envelope and OpenAPI guarantees; test/pages covers them.
 */
export const NON_API_PATH = /^\/(?:invite|verify-email|reset-password|assets|__dev)\//;

const PARAM = /:(\w+)(?:\{[^}]*\})?\??/g;

interface OpenApiOperation {
  security?: Record<string, unknown>[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  parameters?: { name: string; in: string; schema?: JsonSchema }[];
}

function openApiDocument() {
  return app.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "guarantees", version: "0" } }) as unknown as {
    paths?: Record<string, Record<string, OpenApiOperation>>;
    components?: { schemas?: Record<string, JsonSchema> };
  };
}

function resolver(schemas: Record<string, JsonSchema>) {
  const resolve = (schema: JsonSchema | undefined, depth = 0): JsonSchema | undefined => {
    if (!schema || depth > 8) return schema;
    if (schema.$ref) return resolve(schemas[schema.$ref.replace("#/components/schemas/", "")], depth + 1);
    const out: JsonSchema = { ...schema };
    if (schema.properties) out.properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, resolve(v, depth + 1)!]));
    for (const key of ["anyOf", "oneOf", "allOf"] as const) if (schema[key]) out[key] = schema[key]!.map((s) => resolve(s, depth + 1)!);
    if (schema.items) out.items = resolve(schema.items, depth + 1);
    return out;
  };
  return resolve;
}

let cached: ApiRoute[] | undefined;

/** Every concrete method + path the app serves (middleware-only `ALL` entries and wildcards excluded). */
export function apiRoutes(): ApiRoute[] {
  if (cached) return cached;
  const doc = openApiDocument();
  const resolve = resolver(doc.components?.schemas ?? {});
  const seen = new Map<string, ApiRoute>();
  for (const { method, path } of app.routes) {
    if (method === "ALL" || path.includes("*") || NON_API_PATH.test(path)) continue;
    const key = `${method} ${path}`;
    if (seen.has(key)) continue;
    const operation = doc.paths?.[path.replace(PARAM, "{$1}")]?.[method.toLowerCase()];
    const security = operation?.security ?? [];
    const auth = security.length === 0 ? "public" : security.some((s) => Object.keys(s).length === 0) ? "optional" : "bearer";
    seen.set(key, {
      method,
      path,
      params: [...path.matchAll(PARAM)].map((m) => m[1]!),
      auth,
      body: resolve(operation?.requestBody?.content?.["application/json"]?.schema),
      query: (operation?.parameters ?? []).filter((p) => p.in === "query").map((p) => ({ name: p.name, schema: p.schema ?? {} })),
    });
  }
  cached = [...seen.values()];
  return cached;
}

export const routeKey = (route: Pick<ApiRoute, "method" | "path">) => `${route.method} ${route.path}`;

/** Fills `:param`s; values are percent-encoded unless `raw` (then they may reshape the path). */
export function fillPath(route: ApiRoute, values: Record<string, string>, raw = false): string {
  return route.path.replace(PARAM, (_, name: string) => {
    const value = values[name] ?? "";
    if (raw) return value;
    try {
      return encodeURIComponent(value);
    } catch {
      return value; // lone surrogates cannot be encoded: send them raw
    }
  });
}

/** Which route the app would dispatch `request` to, by Hono's own path extraction and router semantics. */
export function routeOf(request: Request): ApiRoute | undefined {
  const router = routerFor();
  const [matches] = router.match(request.method === "HEAD" ? "GET" : request.method, getPath(request));
  return matches[0]?.[0];
}

let router: TrieRouter<ApiRoute> | undefined;
function routerFor(): TrieRouter<ApiRoute> {
  if (!router) {
    router = new TrieRouter<ApiRoute>();
    for (const route of apiRoutes()) router.add(route.method, route.path, route);
  }
  return router;
}

/** A minimal valid body from the schema's examples/defaults/enums, for routes where the body is not the point. */
export function exampleBody(schema: JsonSchema | undefined): Record<string, unknown> | undefined {
  if (!schema?.properties) return undefined;
  const body: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(schema.properties)) {
    const value = property.example ?? property.default ?? property.enum?.[0];
    if (value !== undefined) body[name] = value;
  }
  return body;
}

export interface Sent {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export async function read(response: Response): Promise<Sent> {
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** Limits high enough that a flood of requests is judged on its content, not throttled into 429s. */
export const unthrottledEnv = {
  ...env,
  REGISTER_LIMIT_PER_HOUR: "1000000",
  TENANT_SIGNUP_LIMIT_PER_HOUR: "1000000",
  LOGIN_FAILURES_PER_5_MIN: "1000000",
  PREVIEW_LIMIT_PER_HOUR: "1000000",
};

const STACK_OR_SQL = /at \w+ \(|\.ts:\d+|SQLITE|D1_ERROR|drizzle|syntax error/i;

/** §2.1: every error is the JSON envelope, with statusCode equal to the HTTP status. */
export function expectEnvelope(response: Sent, context: string) {
  expect(response.headers.get("Content-Type") ?? "", context).toMatch(/^application\/json/i);
  const body = response.json as Record<string, unknown> | undefined;
  expect(body, `${context}: body is not JSON: ${response.text.slice(0, 200)}`).toBeTypeOf("object");
  expect(body, context).not.toBeNull();
  expect(body!.code, context).toMatch(/^[A-Z][A-Z0-9_]*$/);
  expect(body!.error, context).toBeTypeOf("string");
  expect(body!.message, context).toBeTypeOf("string");
  expect(body!.statusCode, context).toBe(response.status);
  expect(body!.details, context).toBeTypeOf("object");
  expect(body!.details, context).not.toBeNull();
  expect(Array.isArray(body!.details), context).toBe(false);
  expect(response.text, context).not.toMatch(STACK_OR_SQL);
}

/** The tables of the D1 database (the migrations bookkeeping table excluded). */
export async function tableNames(): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name <> 'd1_migrations' ORDER BY name",
  ).all<{ name: string }>();
  return results.map((r) => r.name);
}

export async function rowCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const name of await tableNames()) {
    counts[name] = (await env.DB.prepare(`SELECT COUNT(*) AS n FROM "${name}"`).first<{ n: number }>())!.n;
  }
  return counts;
}

/** Every row of every table (bookkeeping included), as text: what someone holding a D1 export would see. */
export async function dumpDatabase(): Promise<{ tables: string[]; text: string }> {
  const { results } = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name").all<{ name: string }>();
  const tables = results.map((r) => r.name);
  let text = "";
  for (const name of tables) {
    const { results } = await env.DB.prepare(`SELECT * FROM "${name}"`).all();
    text += `${name}\n${JSON.stringify(results)}\n`;
  }
  return { tables, text };
}
