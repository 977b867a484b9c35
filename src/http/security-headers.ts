import type { MiddlewareHandler } from "hono";
import { NONCE, secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "./app-env";

export const DOCS_PATH = "/docs";

/**
 * Scalar's standalone bundle (the `browser` entry of @scalar/api-reference), pinned by version and by
 * its SHA-384 (Subresource Integrity). To move the pin: `node scripts/scalar-integrity.mjs <version>`.
 */
export const SCALAR_BUNDLE = {
  version: "1.76.0",
  url: "https://cdn.jsdelivr.net/npm/@scalar/api-reference@1.76.0/dist/browser/standalone.js",
  integrity: "sha384-oH1C0RwqcwbVXkC+r8A+4qRoyEUQdtxAzOwumkxZtQBBcsy61FOoPt7B50OVJYYQ",
} as const;

/** The API only ever returns JSON: nothing in a response may load, run or be framed. */
const apiHeaders = secureHeaders({
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
  xFrameOptions: "DENY",
});

/**
 * The interactive reference runs exactly one external script, Scalar's pinned bundle (also checked by
 * its Subresource Integrity hash), and an inline start-up script that carries this response's nonce;
 * Scalar styles itself inline and loads its fonts from fonts.scalar.com. Requests made from the page
 * ("try it") go to this origin only.
 */
const docsHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: [NONCE, SCALAR_BUNDLE.url],
    styleSrc: ["'self'", "'unsafe-inline'", "https://fonts.scalar.com"],
    fontSrc: ["'self'", "data:", "https://fonts.scalar.com"],
    imgSrc: ["'self'", "data:", "blob:"],
    connectSrc: ["'self'"],
    workerSrc: ["'self'", "blob:"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
  },
  xFrameOptions: "DENY",
});

/** Paths of the hosted HTML pages (src/pages) and the local mail catcher's page. */
const PAGE_PATH = /^\/(?:invite|verify-email|reset-password|assets)\/|^\/__dev\/mail\.html$/;

/** Hosted pages: their own stylesheet, forms posting to themselves, no script at all, never framed. */
const pageHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
  xFrameOptions: "DENY",
  // Not no-referrer: under it browsers send `Origin: null` with form posts, which the Origin check
  // must refuse. same-origin keeps the secret path away from every other site all the same.
  referrerPolicy: "same-origin",
});

/** hono/secure-headers on every response; /docs and the hosted pages get the CSP they need to render. */
export const securityHeaders: MiddlewareHandler<AppEnv> = (c, next) => {
  if (c.req.path === DOCS_PATH) return docsHeaders(c, next);
  if (PAGE_PATH.test(c.req.path)) return pageHeaders(c, next);
  return apiHeaders(c, next);
};
