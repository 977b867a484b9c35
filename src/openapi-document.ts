// The OpenAPI document, generated at build time from the route definitions (never imported by the Worker:
// `npm run bundle:check` fails if it is bundled). test/openapi.test.ts writes it to public/openapi.json
// (`npm run openapi`) and fails whenever the committed file differs from what the routes say.
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./http/app-env";
import { BOOKMARK_HEADER } from "./http/d1-sessions";
import { errorExample } from "./http/openapi";
import { REQUEST_ID_HEADER } from "./http/request-id";
import { receiverWebhook } from "./features/webhooks/receiver";
import { FIELD_DOCS, ROUTE_DOCS } from "./http/route-docs";

type Json = Record<string, any>;

const DESCRIPTION = `Invite-based onboarding for multi-tenant SaaS, served from Cloudflare Workers.

- **Auth**: \`POST /api/v1/auth/login\` returns an access token; send it as \`Authorization: Bearer <accessToken>\`.
- **Errors**: every error is one JSON envelope \`{code, error, message, statusCode, details}\`; branch on \`code\`, never on \`message\`.
- **Lists**: \`Qt\` (page size 1–100), \`Pg\` (page), \`CpOrd\` (sort field), \`TpOrd\` (\`Asc\`/\`Desc\`); responses are \`{total, items, nextCursor, prevCursor}\`: pass a cursor as \`starting_after\`/\`ending_before\` to page by keyset (a deep page costs what the first does).
- **Rate limits**: \`RateLimit\` / \`RateLimit-Policy\` headers; a 429 carries \`Retry-After\` (seconds).
- **Read your writes**: send back the last \`${BOOKMARK_HEADER}\` response header you received; reads may be served by a nearby read replica.
- **Tracing**: every response carries \`${REQUEST_ID_HEADER}\`; send your own (8–128 of \`A-Z a-z 0-9 . _ -\`) to correlate logs.`;

const TAGS: Record<string, string> = {
  Tenants: "Sign up: a tenant and its Owner; the tenant's settings (invite policy, redirect origins)",
  Auth: "Access and refresh tokens, and the keys that verify them",
  Users: "The members of the caller's tenant",
  Invites: "Create (one, or up to 100 at once), list, renew, resend and revoke invites and multi-use links; preview and redeem them by token",
  Events: "The tenant's audit trail of invite, membership and webhook changes",
  Webhooks: "Signed (Standard Webhooks) deliveries of events to the tenant's endpoints; Owner only",
  Operator: "The platform operator's read-only view across tenants",
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
  const undocumented = new Set(Object.keys(ROUTE_DOCS));
  for (const [path, pathItem] of Object.entries<Json>(document.paths ?? {})) {
    for (const [method, operation] of Object.entries<Json>(pathItem)) {
      if (!["get", "head", "post", "put", "patch", "delete"].includes(method)) continue;
      for (const tag of operation.tags ?? []) usedTags.add(tag);
      const doc = ROUTE_DOCS[`${method} ${path}`];
      if (doc !== undefined) {
        // Where the route definition would have put them: after the tags.
        const { tags, ...rest } = operation;
        for (const key of Object.keys(operation)) delete operation[key];
        Object.assign(operation, { tags, ...doc, ...rest });
        undocumented.delete(`${method} ${path}`);
      }
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
  if (undocumented.size) throw new Error(`src/http/route-docs.ts names no route: ${[...undocumented].join(", ")}`);
  for (const [key, description] of Object.entries(FIELD_DOCS)) {
    const [schema, property] = key.split(".") as [string, string];
    // A schema made with .extend() is allOf [base, {properties}]: the property is in one of the parts.
    const named: Json | undefined = document.components?.schemas?.[schema];
    const holder = [named, ...(named?.allOf ?? [])].find((part: Json | undefined) => part?.properties?.[property]);
    if (!holder) throw new Error(`src/http/route-docs.ts FIELD_DOCS names no schema property: ${key}`);
    const { description: _inline, ...rest } = holder.properties[property];
    holder.properties[property] = { ...rest, description };
  }
  const listed = new Set<string>((document.tags ?? []).map((tag: Json) => tag.name));
  document.tags = [
    ...(document.tags ?? []),
    ...[...usedTags].filter((name) => !listed.has(name)).map((name) => (TAGS[name] ? { name, description: TAGS[name] } : { name })),
  ];
  return document;
}

/**
 * The OpenAPI 3.1 document of `app` (without `servers`: GET /openapi.json adds this deployment's origin),
 * as committed in public/openapi.json. Leaves `app` untouched: the extra definitions go to a registry of their own.
 */
export function buildOpenApiDocument(app: OpenAPIHono<AppEnv, any, any>): Json {
  const docs = new OpenAPIHono<AppEnv>().route("/", app);
  docs.openAPIRegistry.registerWebhook(receiverWebhook);
  docs.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "The accessToken from POST /api/v1/auth/login (EdDSA JWT, 15 minutes)",
  });
  return decorate(docs.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "edge-invites", version: "1.0.0", description: DESCRIPTION } }) as Json);
}

