import { beforeAll, describe, expect, it } from "vitest";
import { app } from "../src/app";
import { DOCS_PATH, OPENAPI_PATH } from "../src/http/api-docs";
import { buildOpenApiDocument } from "../src/openapi-document";
import { NON_API_PATH } from "./guarantees/surface";
import { BASE, call } from "./helpers";

type Json = Record<string, any>;

const ENVELOPE_REF = "#/components/schemas/Error";
const HTTP_METHODS = ["get", "head", "post", "put", "patch", "delete"];

/** Hono's `/invites/:id/renew` is OpenAPI's `/invites/{id}/renew`. */
const toOpenApiPath = (path: string) => path.replace(/:(\w+)/g, "{$1}");

/** Every route registered on the app, once per method and path; middleware and the doc routes left out. */
function registeredRoutes() {
  const routes = new Map<string, { method: string; path: string }>();
  for (const route of app.routes) {
    if (route.method === "ALL" || route.path === OPENAPI_PATH || route.path === DOCS_PATH || NON_API_PATH.test(route.path)) continue;
    const method = route.method.toLowerCase();
    const path = toOpenApiPath(route.path);
    routes.set(`${method} ${path}`, { method, path });
  }
  return [...routes.values()];
}

let document: Json;
const operations = () =>
  Object.entries<Json>(document.paths).flatMap(([path, item]) =>
    Object.entries<Json>(item)
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(([method, operation]) => ({ label: `${method.toUpperCase()} ${path}`, method, path, operation })),
  );

/** Resolves a local `$ref` ("#/components/...") against the document. */
function resolve(node: Json): Json {
  if (typeof node?.$ref !== "string") return node;
  const target = node.$ref
    .slice(2)
    .split("/")
    .reduce((current: Json | undefined, key: string) => current?.[key], document);
  if (target === undefined) throw new Error(`unresolved $ref ${node.$ref}`);
  return target;
}

beforeAll(async () => {
  const response = await call("GET", OPENAPI_PATH);
  expect(response.status).toBe(200);
  expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
  document = response.body;
});

describe("OpenAPI document", () => {
  // The Worker serves public/openapi.json (a static asset) instead of generating the document at run time.
  it("public/openapi.json is exactly the document the route definitions generate (`npm run openapi` rewrites it)", async () => {
    await expect(`${JSON.stringify(buildOpenApiDocument(app), null, 2)}\n`).toMatchFileSnapshot("../public/openapi.json");
  });

  it("is served as the route definitions generate it, with this deployment's origin as its only server", () => {
    const { servers, ...served } = document;
    expect(served).toEqual(buildOpenApiDocument(app));
    expect(servers).toEqual([{ url: BASE, description: "This deployment" }]);
  });

  it("is structurally an OpenAPI 3.1.0 document", () => {
    expect(document.openapi).toBe("3.1.0");
    expect(document.info).toMatchObject({ title: expect.any(String), version: expect.any(String), description: expect.any(String) });
    expect(typeof document.paths).toBe("object");
    expect(Object.keys(document.paths).length).toBeGreaterThan(0);
    for (const path of Object.keys(document.paths)) expect(path).toMatch(/^\//);
    expect(document.servers).toEqual([{ url: BASE, description: expect.any(String) }]);
    expect(document.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer", bearerFormat: "JWT" });
    expect(document.components.schemas.Error.required).toEqual(expect.arrayContaining(["code", "error", "message", "statusCode", "details"]));
  });

  it("every $ref resolves and every operation has a summary, tags listed at the top, and 2xx + error responses", () => {
    const refs: Json[] = [];
    const collect = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(collect);
      else if (node && typeof node === "object") {
        if (typeof (node as Json).$ref === "string") refs.push(node as Json);
        Object.values(node).forEach(collect);
      }
    };
    collect(document);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(() => resolve(ref), ref.$ref).not.toThrow();

    const topLevelTags = new Set(document.tags.map((tag: Json) => tag.name));
    for (const { label, operation } of operations()) {
      expect(operation.summary, label).toEqual(expect.any(String));
      expect(operation.tags?.length, label).toBeGreaterThan(0);
      for (const tag of operation.tags) expect(topLevelTags.has(tag), `${label} tag ${tag}`).toBe(true);
      expect(Object.keys(operation.responses).some((status) => status.startsWith("2")), label).toBe(true);
    }
    for (const tag of document.tags) expect(tag.description, tag.name).toEqual(expect.any(String));
  });

  it("lists every route registered on the app, with its method (:param ↔ {param})", () => {
    const routes = registeredRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(8);
    for (const { method, path } of routes) {
      expect(document.paths[path]?.[method], `${method.toUpperCase()} ${path} is missing from ${OPENAPI_PATH}`).toBeDefined();
    }
  });

  it("documents nothing that is not routed", () => {
    const routed = new Set(registeredRoutes().map(({ method, path }) => `${method} ${path}`));
    for (const { label, method, path } of operations()) expect(routed.has(`${method} ${path}`), label).toBe(true);
  });

  it("documents every path parameter of every operation", () => {
    for (const { label, path, operation } of operations()) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
      const documented = (operation.parameters ?? []).map(resolve).filter((parameter: Json) => parameter.in === "path");
      expect(documented.map((parameter: Json) => parameter.name).sort(), label).toEqual(names.sort());
      for (const parameter of documented) expect(parameter.required, label).toBe(true);
    }
  });

  it("every operation that takes input or a token documents at least one 4xx with the error envelope", () => {
    for (const { label, operation } of operations()) {
      const ownParameters = (operation.parameters ?? []).filter((parameter: Json) => !parameter.$ref);
      const takesInput = ownParameters.length > 0 || operation.requestBody !== undefined || (operation.security?.length ?? 0) > 0;
      const clientErrors = Object.entries<Json>(operation.responses).filter(([status]) => /^4\d\d$/.test(status));
      // The only exception is a route nothing can get wrong (GET /healthz, the JWKS): it still documents the envelope for 5xx.
      if (!takesInput) continue;
      expect(clientErrors.length, label).toBeGreaterThan(0);
      for (const [status, response] of clientErrors) {
        expect(resolve(response).content["application/json"].schema.$ref, `${label} ${status}`).toBe(ENVELOPE_REF);
      }
    }
  });

  it("every error response (4xx/5xx) of every operation is the envelope, with an example of it", () => {
    for (const { label, operation } of operations()) {
      expect(operation.responses["500"], label).toBeDefined();
      for (const [status, response] of Object.entries<Json>(operation.responses)) {
        if (!/^[45]\d\d$/.test(status)) continue;
        const content = resolve(response).content["application/json"];
        expect(content.schema.$ref, `${label} ${status}`).toBe(ENVELOPE_REF);
        expect(content.example, `${label} ${status}`).toMatchObject({ code: expect.stringMatching(/^[A-Z_]+$/), statusCode: Number(status), details: {} });
      }
    }
  });

  it("authenticated operations name the bearer scheme, and public ones do not", () => {
    const byLabel = new Map(operations().map((entry) => [entry.label, entry.operation]));
    expect(byLabel.get("POST /api/v1/invites")?.security).toEqual([{ bearerAuth: [] }]);
    expect(byLabel.get("GET /api/v1/invites")?.security).toEqual([{ bearerAuth: [] }]);
    expect(byLabel.get("POST /api/v1/invites/{token}/register")?.security).toBeUndefined();
    expect(byLabel.get("POST /api/v1/tenants")?.security).toBeUndefined();
    for (const { label, operation } of operations()) {
      if (operation.security?.length) expect(operation.responses["401"], label).toBeDefined();
    }
  });

  it("documents the list query parameters (Qt, Pg, CpOrd, TpOrd and filters) wherever a page is returned", () => {
    let lists = 0;
    for (const { label, operation } of operations()) {
      const ok = operation.responses["200"];
      const schema = ok && resolve(resolve(ok).content?.["application/json"]?.schema ?? {});
      if (!schema?.properties?.total || !schema?.properties?.items) continue;
      lists += 1;
      const query = (operation.parameters ?? []).map(resolve).filter((parameter: Json) => parameter.in === "query");
      const names = query.map((parameter: Json) => parameter.name);
      expect(names, label).toEqual(expect.arrayContaining(["Qt", "Pg", "CpOrd", "TpOrd"]));
      for (const parameter of query) expect(parameter.description, `${label} ${parameter.name}`).toEqual(expect.any(String));
    }
    expect(lists).toBeGreaterThan(0);
    const inviteList = document.paths["/api/v1/invites"].get.parameters.map(resolve);
    expect(inviteList.find((parameter: Json) => parameter.name === "Status")?.description).toMatch(/0 = Pending.*1 = Used/);
    expect(inviteList.find((parameter: Json) => parameter.name === "Qt")?.schema).toMatchObject({ minimum: 1, maximum: 100, default: 10 });
  });

  it("request bodies are JSON schemas with examples", () => {
    const createInvite = document.paths["/api/v1/invites"].post.requestBody;
    expect(createInvite.required).toBe(true);
    const schema = resolve(createInvite.content["application/json"].schema);
    expect(schema.properties.validityDays).toMatchObject({ minimum: 1, maximum: 30, example: 7 });
    expect([...schema.properties.role.enum].sort()).toEqual(["Admin", "Developer", "Viewer"]);
  });

  it("documents the headers every response carries, and the rate-limit headers where limits apply", () => {
    for (const { label, operation } of operations()) {
      for (const [status, response] of Object.entries<Json>(operation.responses)) {
        expect(response.headers?.["X-Request-Id"], `${label} ${status}`).toBeDefined();
        expect(response.headers?.["X-D1-Bookmark"], `${label} ${status}`).toBeDefined();
      }
      if (operation.responses["429"]) {
        expect(operation.responses["429"].headers["Retry-After"], label).toBeDefined();
        expect(operation.responses["429"].headers.RateLimit, label).toBeDefined();
      }
    }
    const register = document.paths["/api/v1/invites/{token}/register"].post;
    expect(register.responses["201"].headers["RateLimit-Policy"]).toBeDefined();
    const created = document.paths["/api/v1/invites"].post.responses["201"];
    expect(created.headers.Location).toBeDefined();
  });

  it("is served with the request's origin as its server", async () => {
    const response = await call("GET", OPENAPI_PATH, { headers: {} });
    expect(response.body.servers[0].url).toBe(BASE);
  });
});

describe("GET /docs", () => {
  it("serves the interactive reference for /openapi.json", async () => {
    const response = await call("GET", DOCS_PATH);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(response.text).toContain(`{"url":"${OPENAPI_PATH}"}`);
    expect(response.text).toContain("<title>edge-invites API reference</title>");
  });
});
