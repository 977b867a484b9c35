import type { MiddlewareHandler } from "hono";
import { NONCE, secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "./app-env";

export const DOCS_PATH = "/docs";

/** The API only ever returns JSON: nothing in a response may load, run or be framed. */
const apiHeaders = secureHeaders({
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
  xFrameOptions: "DENY",
});

/**
 * The interactive reference loads Scalar from jsDelivr and starts it with an inline script, which
 * carries this response's nonce; Scalar styles itself inline. Requests made from the page ("try it")
 * go to this origin only.
 */
const docsHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: [NONCE, "https://cdn.jsdelivr.net"],
    styleSrc: ["'self'", "'unsafe-inline'", "https://cdn.jsdelivr.net", "https://fonts.scalar.com"],
    fontSrc: ["'self'", "data:", "https://cdn.jsdelivr.net", "https://fonts.scalar.com"],
    imgSrc: ["'self'", "data:", "blob:"],
    connectSrc: ["'self'"],
    workerSrc: ["'self'", "blob:"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
  },
  xFrameOptions: "DENY",
});

/** hono/secure-headers on every response; only /docs gets the looser CSP it needs to render. */
export const securityHeaders: MiddlewareHandler<AppEnv> = (c, next) =>
  c.req.path === DOCS_PATH ? docsHeaders(c, next) : apiHeaders(c, next);
