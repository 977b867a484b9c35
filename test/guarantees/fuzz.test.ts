/**
 * Guarantee: no input breaks the API. Property-based (fast-check, fixed seeds) over every route the
 * app declares (app.routes + its OpenAPI document, so new routes are fuzzed without editing this
 * file): arbitrary path params, query strings, headers and bodies. For every response:
 *   - never a 5xx;
 *   - every non-2xx is the §2.1 JSON envelope with statusCode equal to the HTTP status;
 *   - a bearer-only route never answers 2xx without a valid access token;
 *   - a body over 16 KiB sent to an existing route is 413.
 * Afterwards: every table grew by exactly what the successful creating requests account for, the
 * bystander tenant's rows are byte-identical, stored rows are well-formed, Object.prototype is clean.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import fc from "fast-check";
import { generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { app, bodyLimitFor, MAX_BODY_BYTES } from "../../src/app";
import { INVITE_ROLES, ROLES, USER_STATUSES } from "../../src/db/schema";
import { apiRoutes, expectEnvelope, read, routeKey, routeOf, rowCounts, unthrottledEnv, type ApiRoute, type JsonSchema } from "./surface";
import { call, createInvite, newMember, newTenant, PASSWORD, uniqueEmail, type Session } from "../helpers";

/** Fixed seeds: a failure reproduces exactly (fast-check prints the seed and the shrunk input). */
const SEED = 20_261_122;
const RUNS = { anonymous: 1200, authenticated: 2000, anyPath: 500 };

/**
 * Which successful responses create which rows. After fuzzing, every table's growth must equal
 * the sum over the successes seen; a table growing otherwise is a row the inputs should not have
 * created (or a new writing route: add it here).
 */
const CREATES: Record<string, Record<string, number>> = {
  "POST /api/v1/tenants 201": { tenants: 1, accounts: 1, memberships: 1, events: 1 },
  "POST /api/v1/invites/:token/register 201": { accounts: 1, memberships: 1, events: 2 },
  "POST /api/v1/invites/:token/accept 201": { memberships: 1, events: 2 },
  "POST /api/v1/invites 201": { invites: 1, events: 1 },
  // a bulk create counts per item it created (sendAndCheck), each an invite and its invite.created event
  "POST /api/v1/invites/bulk 201 (per item)": { invites: 1, events: 1 },
  "POST /api/v1/invites/:id/renew 200": { events: 1 },
  "POST /api/v1/auth/login 200": { refresh_tokens: 1 },
  "POST /api/v1/auth/refresh 200": { refresh_tokens: 1 },
  "POST /api/v1/auth/switch-tenant 200": { refresh_tokens: 1 },
  // Removing or leaving deletes the membership (the account stays).
  "DELETE /api/v1/users/:id 204": { memberships: -1, events: 1 },
  "DELETE /api/v1/users/me 204": { memberships: -1, events: 1 },
  "POST /api/v1/webhooks 201": { webhook_endpoints: 1, events: 1 },
  "PATCH /api/v1/webhooks/:id 200": { events: 1 },
  "POST /api/v1/webhooks/:id/rotate-secret 200": { events: 1 },
  "DELETE /api/v1/webhooks/:id 204": { webhook_endpoints: -1, events: 1 },
};

/** Successes that write a row only sometimes: a repeated revoke is 204 again but records no second event. */
const AT_MOST: Record<string, Record<string, number>> = {
  "DELETE /api/v1/invites/:id 204": { events: 1 },
  // one event per field that changes: role, status, both or neither
  "PATCH /api/v1/users/:id 200": { events: 2 },
  // tenant.settings_changed only when a value changes
  "PATCH /api/v1/tenants/current 200": { events: 1 },
};

/**
 * Tables whose growth follows from others rather than from one request: webhook_deliveries holds one
 * row per event × subscribed endpoint (and per retry the Queue consumer makes), checked for integrity instead.
 */
const DERIVED_TABLES = new Set(["webhook_deliveries", "mail_outbox", "account_tokens", "dev_caught_mail"]);

interface Fixture {
  owner: Session;
  admin: Session;
  developer: Session;
  bystander: Session;
  emails: string[];
  ids: string[];
  foreignIds: string[];
  inviteTokens: string[];
  refreshTokens: string[];
  badTokens: string[];
}

let fixture: Fixture;
let countsBefore: Record<string, number>;
let bystanderBefore: string;
let prototypeBefore: string[];
const successes: Record<string, number> = {};
const statusTally: Record<string, Record<number, number>> = {};
let inputsTried = 0;

async function bystanderSnapshot(tenantId: string): Promise<string> {
  const queries = [
    ["SELECT * FROM tenants WHERE id = ?1", tenantId],
    ["SELECT * FROM memberships WHERE tenant_id = ?1 ORDER BY account_id", tenantId],
    ["SELECT * FROM invites WHERE tenant_id = ?1 ORDER BY id", tenantId],
    ["SELECT * FROM refresh_tokens WHERE tenant_id = ?1 ORDER BY id", tenantId],
    ["SELECT * FROM events WHERE tenant_id = ?1 ORDER BY id", tenantId],
    ["SELECT id, url, event_types, enabled, secret_ciphertext, updated_at FROM webhook_endpoints WHERE tenant_id = ?1 ORDER BY id", tenantId],
  ] as const;
  const parts = [];
  for (const [sql, id] of queries) parts.push((await env.DB.prepare(sql).bind(id).all()).results);
  return JSON.stringify(parts);
}

/** Access tokens that look right and are not: tampered, unsigned, signed by a stranger's key. */
async function badAccessTokens(valid: string): Promise<string[]> {
  const [header, payload, signature] = valid.split(".") as [string, string, string];
  const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/")));
  const encode = (value: unknown) => btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  const protectedHeader = JSON.parse(atob(header.replace(/-/g, "+").replace(/_/g, "/")));
  const forged = await new SignJWT(claims).setProtectedHeader(protectedHeader).sign(privateKey);
  const flipped = signature.startsWith("A") ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
  return [
    `${header}.${payload}.${flipped}`,
    `${header}.${encode({ ...claims, role: "Owner", tenant_id: "x" })}.${signature}`,
    `${encode({ alg: "none", typ: "at+jwt" })}.${payload}.`,
    `${encode({ ...protectedHeader, alg: "HS256" })}.${payload}.${signature}`,
    forged,
    `${header}.${payload}`,
  ];
}

beforeAll(async () => {
  const owner = await newTenant("fuzz");
  const admin = await newMember(owner, "Admin");
  const developer = await newMember(owner, "Developer");
  const bystander = await newTenant("bystander");
  const bystanderMember = await newMember(bystander, "Viewer");
  const invites = [
    ...(await Promise.all(Array.from({ length: 6 }, () => createInvite(owner.token)))),
    await createInvite(owner.token, { role: "Admin", validityDays: 30 }),
    await createInvite(owner.token, { email: uniqueEmail("bound") }),
  ];
  const used = await createInvite(owner.token, { role: "Viewer" });
  expect((await call("POST", `/api/v1/invites/${used.token}/register`, { body: { email: uniqueEmail("used"), password: PASSWORD } })).status).toBe(201);
  const expired = await createInvite(owner.token);
  await env.DB.prepare("UPDATE invites SET expires_at = ? WHERE id = ?").bind(Date.now() - 1000, expired.id).run();
  const foreignInvite = await createInvite(bystander.token);
  fixture = {
    owner,
    admin,
    developer,
    bystander,
    emails: [owner.email, admin.email, developer.email],
    ids: [owner.userId, admin.userId, developer.userId, owner.tenantId, ...[...invites, used, expired].map((i) => i.id)],
    foreignIds: [bystander.userId, bystanderMember.userId, bystander.tenantId, foreignInvite.id],
    inviteTokens: [...invites, used, expired].map((i) => i.token),
    refreshTokens: [owner.refreshToken, developer.refreshToken],
    badTokens: await badAccessTokens(owner.token),
  };
  countsBefore = await rowCounts();
  bystanderBefore = await bystanderSnapshot(bystander.tenantId);
  prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
});

// ---------------------------------------------------------------- arbitraries

const LONE_SURROGATES = ["\ud800", "a\udc00b", "\udfff\ud800"];
const nastyStrings = fc.constantFrom(
  "", " ", "\u0000", "a\u0000b", "\u0000inv_", "null", "undefined", "true", "0", "-1", "1e309", "NaN", "Infinity", "0x1F",
  "__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "' OR 1=1 --", "\"; DROP TABLE users; --", "%00", "%", "%zz",
  "%E0%A4%A", "%2F..%2F..", "../../", "..", ".", "/", "\\", "me", "inv_", "inv_%00", "rt_", "𝕳𝖊𝖑𝖑𝖔", "👩‍👩‍👧‍👦", "\u202eevil", "ﬀ", "İ", "\u200b",
  "<script>alert(1)</script>", "${7*7}", "{{7*7}}", "\r\n", "\t", ...LONE_SURROGATES,
);
const longString = fc.constantFrom(255, 256, 257, 1024, 4096, 20_000).map((n) => "x".repeat(n));
const anyText = fc.oneof(
  { weight: 3, arbitrary: nastyStrings },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 60 }) },
  { weight: 1, arbitrary: longString },
);
const percentGarbage = fc
  .array(fc.oneof(fc.constantFrom("%", "%0", "%zz", "%00", "%2F", "%2e%2e", "%C0%AF", "%FF", "%E2%80%AE", "%25"), fc.string({ unit: "grapheme-ascii", maxLength: 3 })), { minLength: 1, maxLength: 6 })
  .map((parts) => parts.join(""));
const unknownToken = fc.base64String({ minLength: 43, maxLength: 44 }).map((s) => `inv_${s.replace(/\+/g, "-").replace(/\//g, "_").replace(/=/g, "").slice(0, 43).padEnd(43, "A")}`);

function pathParam(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...fixture.ids, ...fixture.foreignIds) },
    { weight: 3, arbitrary: fc.constantFrom(...fixture.inviteTokens) },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: unknownToken },
    { weight: 3, arbitrary: anyText },
    { weight: 1, arbitrary: percentGarbage },
  );
}

const headerText = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 });

function authorization(mode: "anonymous" | "authenticated"): fc.Arbitrary<string | undefined> {
  const invalid = fc.oneof(
    fc.constant(undefined),
    fc.constantFrom("Bearer", "Bearer ", "bearer", "Basic Zm9vOmJhcg==", "Bearer a.b.c", "Bearer ...", "Token abc", "Bearer null", "Bearer undefined"),
    fc.constantFrom(...fixture.badTokens).map((t) => `Bearer ${t}`),
    headerText.map((t) => `Bearer ${t}`),
    headerText,
  );
  if (mode === "anonymous") return invalid;
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant(`Bearer ${fixture.owner.token}`) },
    { weight: 1, arbitrary: fc.constantFrom(fixture.admin.token, fixture.developer.token).map((t) => `Bearer ${t}`) },
    { weight: 1, arbitrary: fc.constant(`bearer   ${fixture.owner.token}  `) },
    { weight: 1, arbitrary: invalid },
  );
}

const clientIp = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.constantFrom(undefined, "", "not-an-ip", "1.2.3.4, 5.6.7.8", "::ffff:10.0.0.1", "999.1.1.1", "fe80::1%eth0", "[::1]"),
);
const contentType = fc.oneof(
  { weight: 10, arbitrary: fc.constant("application/json") },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      undefined, "application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.api+json", "application/merge-patch+json",
      "application/json; charset=utf-16", "application/jsonx", "text/json", "text/plain", "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x", "", "application/json;;;", "*/*",
    ),
  },
  { weight: 1, arbitrary: headerText },
);
const extraHeader = fc.tuple(
  fc.constantFrom("X-Forwarded-For", "X-Client-IP", "X-Proxy-Secret", "X-Proxy-Timestamp", "X-Proxy-Signature", "X-Real-IP", "Origin", "X-Request-Id", "X-D1-Bookmark", "Accept", "Cookie", "Forwarded", "X-HTTP-Method-Override"),
  fc.oneof(headerText, fc.constantFrom("http://localhost:5173", "null", "127.0.0.1", "00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683", "DELETE")),
);

/** Values near and past what the schema accepts, of the right type and of every wrong one. */
function fieldValue(schema: JsonSchema): fc.Arbitrary<unknown> {
  const plausible: fc.Arbitrary<unknown>[] = [];
  if (schema.enum?.length) {
    const values = schema.enum as string[];
    plausible.push(fc.constantFrom(...values), fc.constantFrom(...values, "Owner", "owner", "SuperAdmin").chain((v) => fc.mixedCase(fc.constant(String(v)))));
  }
  if (schema.format === "email") {
    plausible.push(
      fc.constantFrom(...fixture.emails),
      fc.emailAddress(),
      fc.constantFrom(...fixture.emails).map((e) => `  ${e.toUpperCase()} `),
      fc.constantFrom(`${"a".repeat(245)}@example.test`, `${"a".repeat(250)}@example.test`, "a@b", "@example.test", "a@@b.test", "a\u0000@b.test", "ünïcödé@exämple.test"),
    );
  }
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === "integer" || type === "number") {
    const min = schema.minimum ?? 0;
    const max = schema.maximum ?? 100;
    plausible.push(fc.integer({ min: min - 2, max: max + 2 }), fc.constantFrom(min - 1, min, max, max + 1, 1.5, -0, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2));
  }
  if (type === "string" && !schema.enum && schema.format !== "email") {
    const lengths = [schema.minLength, schema.maxLength].filter((n): n is number => n !== undefined).flatMap((n) => [n - 1, n, n + 1]).filter((n) => n >= 0);
    plausible.push(
      fc.constantFrom(PASSWORD, ...fixture.refreshTokens, "rt_", `rt_${"A".repeat(43)}`),
      fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 }),
      ...(lengths.length ? [fc.constantFrom(...lengths).map((n) => "p".repeat(n))] : []),
    );
  }
  const wrongType = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    anyText,
    fc.boolean(),
    fc.constant(null),
    fc.double(),
    fc.array(fc.string(), { maxLength: 3 }),
    fc.constant({ __proto__: null, $gt: "" }),
  );
  return plausible.length ? fc.oneof({ weight: 3, arbitrary: fc.oneof(...plausible) }, { weight: 1, arbitrary: wrongType }) : wrongType;
}

const POLLUTION_KEYS = ["__proto__", "constructor", "prototype", "__defineGetter__", "hasOwnProperty", "toString", "valueOf"];
const pollutionValue = fc.constantFrom<unknown>(
  { role: "Owner", polluted: true, isAdmin: true },
  { prototype: { role: "Owner", polluted: true } },
  "Owner",
  null,
  [],
);
const extraKey = fc.oneof(fc.constantFrom(...POLLUTION_KEYS, "role", "tenantId", "id", "status", "usedAt", "passwordHash", "email\u0000"), fc.string({ maxLength: 12 }));

/** JSON text built entry by entry: own "__proto__" keys and duplicate keys survive, as on the wire. */
const objectText = (entries: Array<[string, unknown]>) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? "null"}`).join(",")}}`;

function shapedBody(schema: JsonSchema): fc.Arbitrary<string> {
  const properties = Object.entries(schema.properties ?? {});
  const fields = fc.tuple(...properties.map(([name, property]) => fc.option(fieldValue(property).map((v) => [name, v] as [string, unknown]), { freq: 6 })));
  const extras = fc.array(
    fc.oneof(fc.tuple(fc.constantFrom(...POLLUTION_KEYS), pollutionValue), fc.tuple(extraKey, fc.jsonValue({ maxDepth: 2 }))),
    { maxLength: 3 },
  );
  return fc
    .tuple(fields, extras, fc.boolean())
    .map(([chosen, extra, pollutionFirst]) => {
      const entries = chosen.filter((e): e is [string, unknown] => e !== null);
      return objectText(pollutionFirst ? [...extra, ...entries] : [...entries, ...extra]);
    });
}

/** A value the schema accepts (so requests get past validation into the services). */
function validValue(schema: JsonSchema): fc.Arbitrary<unknown> {
  if (schema.enum?.length) return fc.constantFrom(...schema.enum);
  if (schema.format === "email") return fc.oneof(fc.constantFrom(...fixture.emails), fc.uuid().map((u) => `fuzz-${u.slice(0, 13)}@example.test`));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === "integer") return fc.integer({ min: schema.minimum ?? 0, max: schema.maximum ?? 100 });
  if (type === "number") return fc.double({ min: schema.minimum ?? 0, max: schema.maximum ?? 100, noNaN: true });
  if (type === "boolean") return fc.boolean();
  const min = Math.max(schema.minLength ?? 1, 1);
  const max = Math.min(schema.maxLength ?? 64, 64);
  return fc.oneof(
    fc.constantFrom(PASSWORD, ...fixture.refreshTokens),
    fc.string({ unit: "grapheme", minLength: min, maxLength: Math.max(min, max) }).filter((v) => v.trim().length >= 1),
  );
}

/** A valid body, then up to two mutations: a field dropped, a field given any value, an extra or polluting key. */
function nearValidBody(schema: JsonSchema): fc.Arbitrary<string> {
  const properties = Object.entries(schema.properties ?? {});
  const valid = fc.tuple(...properties.map(([name, property]) => validValue(property).map((v) => [name, v] as [string, unknown])));
  const mutation = fc.oneof(
    fc.nat().map((i) => ({ kind: "drop" as const, i })),
    fc.tuple(fc.nat(), fc.constantFrom(...properties.map(([, p]) => p), {})).chain(([i, p]) => fieldValue(p).map((value) => ({ kind: "replace" as const, i, value }))),
    fc.oneof(fc.tuple(fc.constantFrom(...POLLUTION_KEYS), pollutionValue), fc.tuple(extraKey, fc.jsonValue({ maxDepth: 2 }))).map((entry) => ({ kind: "add" as const, entry })),
  );
  return fc.tuple(valid, fc.array(mutation, { maxLength: 2 })).map(([entries, mutations]) => {
    let result: Array<[string, unknown]> = [...entries];
    for (const m of mutations) {
      if (m.kind === "add") result = [m.entry as [string, unknown], ...result];
      else if (result.length) {
        const at = m.i % result.length;
        result = m.kind === "drop" ? result.filter((_, j) => j !== at) : result.map((e, j) => (j === at ? [e[0], m.value] : e));
      }
    }
    return objectText(result);
  });
}

const malformedJson = fc.constantFrom(
  "{", "}", "{\"email\":", "[]", "[{}]", "null", "\"str\"", "1", "true", "{}}", "\uFEFF{}", "{\"a\":1,}", "{'a':1}", "{\"\u0000\":\"\u0000\"}",
  "NaN", "{\"email\": \"x\u0000@y.z\", \"password\": \"\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\"}", "{\"__proto__\": {\"__proto__\": {}}}", "{\"a\":" + "[".repeat(5000) + "]".repeat(5000) + "}",
);

function body(route: ApiRoute): fc.Arbitrary<string | Uint8Array | undefined> {
  const huge = fc
    .constantFrom(MAX_BODY_BYTES - 300, MAX_BODY_BYTES - 40, MAX_BODY_BYTES - 1, MAX_BODY_BYTES, MAX_BODY_BYTES + 1, MAX_BODY_BYTES + 200, 64 * 1024, 1024 * 1024)
    .map((size) => {
      const frame = objectText([["email", ""], ["password", PASSWORD]]);
      return objectText([["email", `${"x".repeat(Math.max(0, size - frame.length - 13))}@example.test`], ["password", PASSWORD]]);
    });
  return fc.oneof(
    ...(route.body ? [{ weight: 6, arbitrary: nearValidBody(route.body) }] : []),
    { weight: route.body ? 4 : 1, arbitrary: shapedBody(route.body ?? { properties: {} }) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 2, withNullPrototype: true }).map((v) => { try { return JSON.stringify(v); } catch { return undefined; } }) },
    { weight: 2, arbitrary: fc.oneof(malformedJson, fc.string({ unit: "binary", maxLength: 200 })) },
    { weight: 1, arbitrary: huge },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

const QUERY_VALUES = fc.oneof(
  fc.constantFrom("0", "1", "2", "3", "4", "10", "100", "101", "-1", "1.5", "1e2", " 5", "0x10", "99999999999999999999", "NaN", "",
    "Asc", "desc", "DESC", "up", "id", "createdAt", "EXPIRESAT", "usedAt", "status", "targetRole", "email", "role", "updatedAt", "token", "tenantId",
    "password_hash", "id;DROP TABLE users", "Pending", "used", "EXPIRED", "Revoked", "Active", "inactive", "Owner", "admin", "1,2", "[1]", "__proto__"),
  anyText,
  percentGarbage,
);

function queryString(route: ApiRoute): fc.Arbitrary<string> {
  const names = [...route.query.map((q) => q.name), "Qt", "Pg", "CpOrd", "TpOrd", "Status", "Role"];
  const pair = fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...names) }, { weight: 1, arbitrary: fc.oneof(fc.constantFrom("qt", "QT", "__proto__", "constructor"), anyText) }), QUERY_VALUES, fc.boolean());
  const encode = (value: string) => {
    try {
      return encodeURIComponent(value);
    } catch {
      return value;
    }
  };
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant("") },
    { weight: 4, arbitrary: fc.array(pair, { minLength: 1, maxLength: 5 }).map((pairs) => `?${pairs.map(([k, v, raw]) => (raw ? `${k}=${v}` : `${encode(k)}=${encode(v)}`)).join("&")}`) },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom("?", "?&&&", "?==", "?Qt", "?Qt=1&Qt=2", "?Pg=1#frag", "?%", "?Qt=%ZZ"), percentGarbage.map((g) => `?${g}`)) },
  );
}

interface FuzzInput {
  method: string;
  path: string;
  headers: Array<[string, string]>;
  body?: string | Uint8Array;
}

function routeRequest(mode: "anonymous" | "authenticated"): fc.Arbitrary<FuzzInput> {
  const routes = apiRoutes();
  return fc.constantFrom(...routes).chain((route) =>
    fc
      .record({
        method: fc.oneof({ weight: 9, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD") }),
        params: fc.array(pathParam(), { minLength: route.params.length, maxLength: route.params.length }),
        rawParams: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
        query: route.query.length ? queryString(route) : fc.oneof({ weight: 5, arbitrary: fc.constant("") }, { weight: 1, arbitrary: queryString(route) }),
        body: body(route),
        contentType,
        authorization: authorization(mode),
        ip: clientIp,
        extra: fc.array(extraHeader, { maxLength: 2 }),
      })
      .map(({ method, params, rawParams, query, body, contentType, authorization, ip, extra }) => {
        let index = 0;
        const path = route.path.replace(/:(\w+)(?:\{[^}]*\})?\??/g, () => {
          const value = params[index++] ?? "";
          if (rawParams) return value;
          try {
            return encodeURIComponent(value);
          } catch {
            return value;
          }
        });
        const headers: Array<[string, string]> = [...extra];
        if (contentType !== undefined) headers.push(["Content-Type", contentType]);
        if (authorization !== undefined) headers.push(["Authorization", authorization]);
        if (ip !== undefined) headers.push(["CF-Connecting-IP", ip]);
        return { method, path: path + query, headers, body: method === "GET" || method === "HEAD" ? undefined : body };
      }),
  );
}

const anyPathRequest: fc.Arbitrary<FuzzInput> = fc
  .record({
    method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PROPFIND"),
    path: fc.oneof(
      fc.constantFrom("/", "//", "/api", "/api/", "/api/v1", "/api/v2/tenants", "/API/V1/TENANTS", "/api/v1/tenants/", "/api/v1/invites//register", "/.well-known/",
        "/openapi.json/..", "/api/v1/%2e%2e/tenants", "/api/v1/users/me/", "/api/v1/invites/%00", "/api/v1/invites/inv_/register/extra", "/api/v1/users/me/..%2f..%2ftenants"),
      fc.webPath(),
      fc.array(fc.oneof(anyText, percentGarbage), { minLength: 1, maxLength: 4 }).map((segments) => `/api/v1/${segments.join("/")}`),
    ),
    body: fc.option(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), fc.string({ maxLength: 100 })), { freq: 2 }),
    authorization: fc.option(fc.constant(`Bearer ${"x"}`), { freq: 2 }),
  })
  .map(({ method, path, body, authorization }) => ({
    method,
    path: path.startsWith("/") ? path : `/${path}`,
    headers: [["Content-Type", "application/json"], ...(authorization ? [["Authorization", authorization] as [string, string]] : [])] as Array<[string, string]>,
    body: method === "GET" || method === "HEAD" || body === null ? undefined : body,
  }));

// ---------------------------------------------------------------- the property

const VALID_BEARERS = () => new Set([fixture.owner.token, fixture.admin.token, fixture.developer.token]);

async function sendAndCheck(input: FuzzInput): Promise<void> {
  let request: Request;
  try {
    request = new Request(`https://fuzz.test${input.path}`, { method: input.method, headers: input.headers, body: input.body });
  } catch (error) {
    // Only inputs no HTTP client could send (an unparseable URL) are dropped, and they are counted.
    fc.pre(false);
    throw error;
  }
  inputsTried++;
  const route = routeOf(request);
  const context = `${input.method} ${input.path.slice(0, 200)} (route ${route ? routeKey(route) : "none"}; headers ${JSON.stringify(input.headers).slice(0, 300)}; body ${String(input.body instanceof Uint8Array ? "<bytes>" : input.body).slice(0, 200)})`;
  const executionContext = createExecutionContext();
  const response = await read(await app.fetch(request, unthrottledEnv, executionContext));
  await waitOnExecutionContext(executionContext);

  const label = route ? routeKey(route) : "no route";
  (statusTally[label] ??= {})[response.status] = (statusTally[label]![response.status] ?? 0) + 1;
  const success = `${label} ${response.status}`;
  if (response.status >= 200 && response.status < 300) successes[success] = (successes[success] ?? 0) + 1;
  if (success === "POST /api/v1/invites/bulk 201") {
    const items = (response.json as { items?: unknown[] } | undefined)?.items?.length ?? 0;
    successes[`${success} (per item)`] = (successes[`${success} (per item)`] ?? 0) + items;
  }

  expect(response.status, `${context}\n→ ${response.text.slice(0, 300)}`).toBeLessThan(500);
  if (input.method === "HEAD") return;
  if (response.status < 200 || response.status >= 300) {
    expectEnvelope(response, context);
    return;
  }
  if (input.method === "OPTIONS") return; // a CORS preflight answer carries no body
  if (route?.auth === "bearer") {
    const bearer = /^bearer\s+(\S+)\s*$/i.exec(request.headers.get("Authorization") ?? "")?.[1];
    expect(bearer !== undefined && VALID_BEARERS().has(bearer), `2xx on a bearer-only route without a valid token: ${context}`).toBe(true);
  }
  const bytes = typeof input.body === "string" ? new TextEncoder().encode(input.body).length : (input.body?.length ?? 0);
  const allowed = bodyLimitFor(new URL(input.path, "https://x.test").pathname);
  expect(bytes, `a body over ${allowed} bytes was accepted: ${context}`).toBeLessThanOrEqual(allowed);
  if (response.status !== 204 && response.text) expect(response.headers.get("Content-Type") ?? "", context).toMatch(/json|html|text/);
}

async function sendOnce(input: FuzzInput) {
  const request = new Request(`https://fuzz.test${input.path}`, { method: input.method, headers: input.headers, body: input.body });
  const route = routeOf(request);
  const response = await read(await app.fetch(request, unthrottledEnv, createExecutionContext()));
  return { route, response };
}

describe("guarantee: no input breaks the API (property-based, fast-check)", () => {
  it("covers every declared route", () => {
    const routes = apiRoutes().map(routeKey);
    expect(routes).toEqual(expect.arrayContaining(["POST /api/v1/tenants", "POST /api/v1/auth/login", "POST /api/v1/invites", "GET /api/v1/invites", "POST /api/v1/invites/:token/register"]));
    console.log(`fuzzing ${routes.length} routes: ${routes.join(", ")}`);
  });

  it(`anonymous and forged credentials: ${RUNS.anonymous} requests over every route`, async () => {
    await fc.assert(fc.asyncProperty(routeRequest("anonymous"), sendAndCheck), { seed: SEED, numRuns: RUNS.anonymous });
  }, 120_000);

  it(`an Owner's (and an Admin's, a Developer's) valid token: ${RUNS.authenticated} requests over every route`, async () => {
    await fc.assert(fc.asyncProperty(routeRequest("authenticated"), sendAndCheck), { seed: SEED + 1, numRuns: RUNS.authenticated });
  }, 120_000);

  it(`malformed and unknown paths with any method: ${RUNS.anyPath} requests`, async () => {
    await fc.assert(fc.asyncProperty(anyPathRequest, sendAndCheck), { seed: SEED + 2, numRuns: RUNS.anyPath });
  }, 60_000);

  it(`every route with a body answers 413 PAYLOAD_TOO_LARGE one byte over its limit (${MAX_BODY_BYTES}; bulk create 256 KiB), before anything else`, async () => {
    for (const route of apiRoutes().filter((r) => r.body)) {
      const path = route.path.replace(/:(\w+)/g, () => fixture.inviteTokens[0]!);
      const input = { method: route.method, path, headers: [["Content-Type", "application/json"], ["Authorization", `Bearer ${fixture.owner.token}`]] as Array<[string, string]>, body: `"${"x".repeat(bodyLimitFor(path) - 1)}"` };
      const { response } = await sendOnce(input);
      expect(response.status, routeKey(route)).toBe(413);
      expectEnvelope(response, routeKey(route));
      expect((response.json as { code: string }).code).toBe("PAYLOAD_TOO_LARGE");
    }
  });

  it("every route with a body answers a malformed JSON media type with 415 UNSUPPORTED_MEDIA_TYPE, never 500 (found by this fuzzer)", async () => {
    for (const route of apiRoutes().filter((r) => r.body)) {
      const path = route.path.replace(/:(\w+)/g, () => fixture.inviteTokens[0]!);
      for (const type of ["application/json;;;", "application/json; charset"]) {
        const input = { method: route.method, path, headers: [["Content-Type", type], ["Authorization", `Bearer ${fixture.owner.token}`]] as Array<[string, string]>, body: "{}" };
        const { response } = await sendOnce(input);
        expect(response.status, `${routeKey(route)} with ${type}: ${response.text}`).toBe(415);
        expectEnvelope(response, routeKey(route));
      }
    }
  });

  it("afterwards: each table grew by exactly what the successful requests account for; the bystander tenant is untouched; rows are well-formed", async () => {
    const expected: Record<string, number> = {};
    for (const [success, times] of Object.entries(successes)) {
      for (const [table, rows] of Object.entries(CREATES[success] ?? {})) expected[table] = (expected[table] ?? 0) + rows * times;
    }
    const after = await rowCounts();
    const optional: Record<string, number> = {};
    for (const [success, times] of Object.entries(successes)) {
      for (const [table, rows] of Object.entries(AT_MOST[success] ?? {})) optional[table] = (optional[table] ?? 0) + rows * times;
    }
    const tables = Object.keys(after).filter((table) => !DERIVED_TABLES.has(table));
    const grown = Object.fromEntries(tables.map((table) => [table, after[table]! - (countsBefore[table] ?? 0)]));
    // a table with optional rows grew by the certain ones plus at most the optional ones: credit what it took
    for (const [table, extra] of Object.entries(optional)) {
      const surplus = (grown[table] ?? 0) - (expected[table] ?? 0);
      expect(surplus, `${table}: ${surplus} rows beyond the certain ones, at most ${extra} allowed`).toBeGreaterThanOrEqual(0);
      expect(surplus).toBeLessThanOrEqual(extra);
      expected[table] = (expected[table] ?? 0) + surplus;
    }
    const accounted = Object.fromEntries(tables.map((table) => [table, expected[table] ?? 0]));
    // Mail jobs and link tokens follow writes the success keys do not tell apart (a bound invite, an unbound
    // registration, a reset for a known email; DERIVED_TABLES): no job lacks its invite or link token, and
    // every invite's latest mail job exists.
    const orphanJobs = await env.DB.prepare("SELECT COUNT(*) AS n FROM mail_outbox j WHERE NOT EXISTS (SELECT 1 FROM invites i WHERE i.id = j.subject_id) AND NOT EXISTS (SELECT 1 FROM account_tokens t WHERE t.account_id = j.subject_id AND t.token_hash = j.version)").first<{ n: number }>();
    const missing = await env.DB.prepare("SELECT COUNT(*) AS n FROM invites i WHERE i.last_mail_job_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM mail_outbox j WHERE j.id = i.last_mail_job_id)").first<{ n: number }>();
    expect({ orphanJobs: orphanJobs?.n, missingJobs: missing?.n }).toEqual({ orphanJobs: 0, missingJobs: 0 });
    expect(grown, `row growth vs successes ${JSON.stringify(successes)}`).toEqual(accounted);

    expect(await bystanderSnapshot(fixture.bystander.tenantId)).toBe(bystanderBefore);

    const { results: users } = await env.DB.prepare("SELECT email, role, status, tenant_id FROM memberships").all<{ email: string; role: string; status: string; tenant_id: string }>();
    for (const user of users) {
      expect(ROLES as readonly string[]).toContain(user.role);
      expect(USER_STATUSES as readonly string[]).toContain(user.status);
      expect(user.email).toBe(user.email.trim().toLowerCase());
      expect(user.email).not.toMatch(/[\u0000-\u001f]/);
    }
    const { results: invites } = await env.DB.prepare("SELECT target_role FROM invites").all<{ target_role: string }>();
    for (const invite of invites) expect(INVITE_ROLES as readonly string[]).toContain(invite.target_role);
    const orphans = await env.DB.prepare("SELECT COUNT(*) AS n FROM memberships WHERE tenant_id NOT IN (SELECT id FROM tenants)").first<{ n: number }>();
    expect(orphans!.n).toBe(0);
    // every delivery attempt belongs to an event and an endpoint of one and the same tenant
    const strayDeliveries = await env.DB.prepare(
      `SELECT COUNT(*) AS n FROM webhook_deliveries d
       WHERE NOT EXISTS (SELECT 1 FROM events ev JOIN webhook_endpoints e ON e.tenant_id = ev.tenant_id
                         WHERE ev.id = d.event_id AND e.id = d.endpoint_id AND ev.tenant_id = d.tenant_id)`,
    ).first<{ n: number }>();
    expect(strayDeliveries!.n).toBe(0);

    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).role).toBeUndefined();
  });
});

afterAll(() => {
  const created = Object.entries(successes).filter(([key]) => CREATES[key]);
  console.log(
    `fuzz: ${inputsTried} inputs tried (seeds ${SEED}..${SEED + 2}); successful creations ${JSON.stringify(Object.fromEntries(created))}\n` +
      Object.entries(statusTally)
        .map(([route, statuses]) => `  ${route}: ${JSON.stringify(statuses)}`)
        .join("\n"),
  );
});
