import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "./app-env";
import { BOOKMARK_HEADER } from "./d1-sessions";
import { errorExample } from "./openapi";
import { REQUEST_ID_HEADER } from "./request-id";
import { DOCS_PATH, SCALAR_BUNDLE } from "./security-headers";

export const OPENAPI_PATH = "/openapi.json";
export { DOCS_PATH };

const DESCRIPTION = `Invite-based onboarding for multi-tenant SaaS, served from Cloudflare Workers.

- **Auth**: \`POST /api/v1/auth/login\` returns an access token; send it as \`Authorization: Bearer <accessToken>\`.
- **Errors**: every error is one JSON envelope \`{code, error, message, statusCode, details}\`; branch on \`code\`, never on \`message\`.
- **Lists**: \`Qt\` (page size 1–100), \`Pg\` (page), \`CpOrd\` (sort field), \`TpOrd\` (\`Asc\`/\`Desc\`); responses are \`{total, items}\`.
- **Rate limits**: \`RateLimit\` / \`RateLimit-Policy\` headers; a 429 carries \`Retry-After\` (seconds).
- **Read your writes**: send back the last \`${BOOKMARK_HEADER}\` response header you received; reads may be served by a nearby read replica.
- **Tracing**: every response carries \`${REQUEST_ID_HEADER}\`; send your own (8–128 of \`A-Z a-z 0-9 . _ -\`) to correlate logs.`;

const TAGS: Record<string, string> = {
  Tenants: "Sign up: a tenant and its Owner",
  Auth: "Access and refresh tokens, and the keys that verify them",
  Users: "The members of the caller's tenant",
  Invites: "Create, list, renew and revoke invites; preview and redeem them by token",
  Events: "The tenant's audit trail of invite, membership and webhook changes",
  Webhooks: "Signed (Standard Webhooks) deliveries of events to the tenant's endpoints; Owner only",
  Health: "Uptime checks",
};

const ref = (kind: string, name: string) => ({ $ref: `#/components/${kind}/${name}` });

const COMMON_HEADERS = {
  [REQUEST_ID_HEADER]: { description: "The caller's well-formed X-Request-Id, or a generated UUID", schema: { type: "string" } },
  [BOOKMARK_HEADER]: {
    description: "D1 session bookmark (when the request read or wrote D1, or sent one): send it back on your next request to read your own writes",
    schema: { type: "string", example: "00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683" },
  },
  RateLimit: { description: 'Remaining quota, e.g. `"register";r=9;t=3600`', schema: { type: "string" } },
  "RateLimit-Policy": { description: 'The limit, e.g. `"register";q=10;w=3600`', schema: { type: "string" } },
  "Retry-After": { description: "Seconds to wait before retrying", schema: { type: "integer" } },
};

const COMMON_PARAMETERS = {
  RequestId: {
    name: REQUEST_ID_HEADER,
    in: "header",
    required: false,
    description: "Your own request id (8–128 of A-Z a-z 0-9 . _ -), echoed in the response and our logs",
    schema: { type: "string", pattern: "^[A-Za-z0-9._-]{8,128}$" },
  },
  D1Bookmark: {
    name: BOOKMARK_HEADER,
    in: "header",
    required: false,
    description: "The last X-D1-Bookmark you received: the read is served by a replica at least that fresh",
    schema: { type: "string" },
  },
};

type Json = Record<string, any>;

/**
 * What the route definitions cannot say one by one: the headers every response carries, the
 * rate-limit headers of limited routes, the 500 envelope, the tag descriptions. Runs over whatever
 * routes are registered, so new routes are covered without being listed here.
 */
function decorate(document: Json): Json {
  document.components ??= {};
  document.components.headers = { ...document.components.headers, ...COMMON_HEADERS };
  document.components.parameters = { ...document.components.parameters, ...COMMON_PARAMETERS };
  const usedTags = new Set<string>();
  for (const pathItem of Object.values<Json>(document.paths ?? {})) {
    for (const [method, operation] of Object.entries<Json>(pathItem)) {
      if (!["get", "head", "post", "put", "patch", "delete"].includes(method)) continue;
      for (const tag of operation.tags ?? []) usedTags.add(tag);
      operation.parameters = [
        ...(operation.parameters ?? []),
        ref("parameters", "RequestId"),
        ...(method === "get" || method === "head" ? [ref("parameters", "D1Bookmark")] : []),
      ];
      operation.responses ??= {};
      operation.responses["500"] ??= {
        description: "Unexpected failure (INTERNAL_ERROR); no stack or SQL is ever returned",
        content: { "application/json": { schema: ref("schemas", "Error"), example: errorExample(500) } },
      };
      const rateLimited = "429" in operation.responses;
      for (const [status, response] of Object.entries<Json>(operation.responses)) {
        const headers: Json = { [REQUEST_ID_HEADER]: ref("headers", REQUEST_ID_HEADER), [BOOKMARK_HEADER]: ref("headers", BOOKMARK_HEADER) };
        if (rateLimited && (status.startsWith("2") || status === "429")) {
          headers.RateLimit = ref("headers", "RateLimit");
          headers["RateLimit-Policy"] = ref("headers", "RateLimit-Policy");
        }
        if (status === "429" || status === "503") headers["Retry-After"] = ref("headers", "Retry-After");
        response.headers = { ...headers, ...response.headers };
      }
    }
  }
  const listed = new Set<string>((document.tags ?? []).map((tag: Json) => tag.name));
  document.tags = [
    ...(document.tags ?? []),
    ...[...usedTags].filter((name) => !listed.has(name)).map((name) => (TAGS[name] ? { name, description: TAGS[name] } : { name })),
  ];
  return document;
}

const documents = new WeakMap<object, Json>();

/** The OpenAPI 3.1 document of `app`, built once, with this deployment's origin as its server. */
export function openApiDocument(app: OpenAPIHono<AppEnv, any, any>, c: Context): Json {
  let document = documents.get(app);
  if (!document) {
    document = decorate(
      app.getOpenAPI31Document({
        openapi: "3.1.0",
        info: { title: "edge-invites", version: "1.0.0", description: DESCRIPTION },
      }) as Json,
    );
    documents.set(app, document);
  }
  return { ...document, servers: [{ url: new URL(c.req.url).origin, description: "This deployment" }] };
}

const escapeHtml = (value: string) =>
  value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

/**
 * The page Scalar renders into. Written here rather than by @scalar/hono-api-reference, whose script tag
 * cannot carry an `integrity` attribute. Both scripts carry the response's CSP nonce.
 */
export function docsPage(nonce: string): string {
  const n = escapeHtml(nonce);
  // JSON inside a <script>: "<" escaped so the configuration can never close the tag.
  const configuration = JSON.stringify({ url: OPENAPI_PATH }).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
  <head>
    <title>edge-invites API reference</title>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta property="csp-nonce" content="${n}" />
  </head>
  <body>
    <div id="app"></div>
    <script src="${SCALAR_BUNDLE.url}" integrity="${SCALAR_BUNDLE.integrity}" crossorigin="anonymous" referrerpolicy="no-referrer" nonce="${n}"></script>
    <script nonce="${n}">Scalar.createApiReference("#app", ${configuration});</script>
  </body>
</html>
`;
}

/** GET /openapi.json and the interactive reference at GET /docs (Scalar, pinned and integrity-checked). */
export function registerApiDocs(app: OpenAPIHono<AppEnv, any, any>): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "The accessToken from POST /api/v1/auth/login (EdDSA JWT, 15 minutes)",
  });
  app.get(OPENAPI_PATH, (c) => c.json(openApiDocument(app, c)));
  // The page's scripts run under the CSP nonce of src/http/security-headers.ts.
  app.get(DOCS_PATH, (c) => c.html(docsPage(c.get("secureHeadersNonce") ?? "")));
}
