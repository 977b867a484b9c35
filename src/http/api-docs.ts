import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./app-env";
import { DOCS_PATH, SCALAR_BUNDLE } from "./security-headers";

export const OPENAPI_PATH = "/openapi.json";
export { DOCS_PATH };

type Json = Record<string, any>;

/**
 * The OpenAPI document is generated from the route definitions at build time, not here: public/openapi.json,
 * a Workers static asset (`[assets]` in wrangler.toml; run_worker_first, so only this route reads it), written
 * and kept equal to the routes by test/openapi.test.ts (`npm run openapi`). The generator (zod-to-openapi's and
 * zod's JSON Schema code) is thus not in the deployed bundle. Read once per isolate.
 */
let bundled: Promise<Json> | undefined;

function bundledDocument(assets: Fetcher, requestUrl: string): Promise<Json> {
  bundled ??= assets
    .fetch(new URL(OPENAPI_PATH, requestUrl))
    .then((response) => {
      if (!response.ok) throw new Error(`the ${OPENAPI_PATH} asset answered ${response.status}`);
      return response.json<Json>();
    })
    .catch((error: unknown) => {
      bundled = undefined;
      throw error;
    });
  return bundled;
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
  // With this deployment's origin as its server.
  app.get(OPENAPI_PATH, async (c) => c.json({ ...(await bundledDocument(c.env.ASSETS, c.req.url)), servers: [{ url: new URL(c.req.url).origin, description: "This deployment" }] }));
  // The page's scripts run under the CSP nonce of src/http/security-headers.ts.
  app.get(DOCS_PATH, (c) => c.html(docsPage(c.get("secureHeadersNonce") ?? "")));
}
