import * as z from "../lib/zod";
import { EMAIL_MAX_LENGTH, normalizeEmail } from "../lib/email";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "../security/passwords";

/** Request fields shared by several features. */
export const emailSchema = z
  .string()
  .trim()
  .max(EMAIL_MAX_LENGTH, `email must be at most ${EMAIL_MAX_LENGTH} characters`)
  .pipe(z.email("email must be a valid address"))
  .transform(normalizeEmail)
  .openapi({ type: "string", format: "email", maxLength: EMAIL_MAX_LENGTH, example: "dev@acme.test" });

/** NIST 800-63B style: length only, no composition rules. */
export const passwordSchema = z
  .string()
  .min(PASSWORD_MIN_LENGTH, `password must be at least ${PASSWORD_MIN_LENGTH} characters`)
  .max(PASSWORD_MAX_LENGTH, `password must be at most ${PASSWORD_MAX_LENGTH} characters`)
  .openapi({ example: "correct horse battery staple" });

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** https, or plain http only on a loopback host (local development). */
export function allowedWebScheme(url: URL): boolean {
  return url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname));
}

function parseUrl(value: string): URL | null {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

/**
 * An origin, exactly: scheme://host[:port] and nothing else (no path, query, fragment, credentials or
 * wildcard), https or http on localhost. Served normalized (`new URL().origin`: lower-cased host,
 * default port dropped) so comparing a redirect URL's origin with it is plain equality.
 */
export const redirectOriginSchema = z
  .string()
  .trim()
  .max(255, "an origin is at most 255 characters")
  .transform((value, ctx) => {
    const url = parseUrl(value);
    const bare = url !== null && url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password && !value.includes("*");
    if (!url || !bare || !allowedWebScheme(url)) {
      ctx.addIssue({ code: "custom", message: `"${value.slice(0, 80)}" is not an origin such as https://app.example.com (https, or http://localhost for development)` });
      return z.NEVER;
    }
    return url.origin;
  })
  .openapi({ type: "string", example: "https://app.example.com" });
