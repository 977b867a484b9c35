import type { MiddlewareHandler } from "hono";
import type { ZodError } from "../lib/zod";
import { ApiError, validationError, type FieldErrors } from "./errors";

export function fieldErrors(error: ZodError): FieldErrors {
  const fields: FieldErrors = {};
  for (const issue of error.issues) {
    const path = issue.path.length ? issue.path.join(".") : "_";
    (fields[path] ??= []).push(issue.message);
  }
  return fields;
}

/** defaultHook for every zod-validated route: failures become 400 VALIDATION_ERROR with field messages. */
export function validationHook(result: { success: boolean; error?: unknown; target?: string }) {
  if (!result.success) {
    const fields = fieldErrors(result.error as ZodError);
    const where = result.target === "json" ? "request body" : result.target === "query" ? "query string" : "request";
    throw validationError(`The ${where} is invalid`, fields);
  }
}

const JSON_CONTENT_TYPE = /^application\/(?:[\w.+-]+\+)?json(?:\s*;.*)?$/i;

/**
 * Runs before the body validator: a non-JSON content type is 415, unparseable JSON is 400,
 * and a JSON value that is not an object is 400 — all in the envelope, before zod sees it.
 */
export const requireJsonBody: MiddlewareHandler = async (c, next) => {
  const contentType = c.req.header("Content-Type") ?? "";
  if (!JSON_CONTENT_TYPE.test(contentType.trim())) {
    throw new ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the body as JSON with Content-Type: application/json");
  }
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw validationError("The request body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw validationError("The request body must be a JSON object");
  }
  await next();
};

/** For routes whose body is optional: no body is fine; a body present must pass requireJsonBody. */
export const optionalJsonBody: MiddlewareHandler = async (c, next) => {
  const hasBody = c.req.header("Content-Type") !== undefined || Number(c.req.header("Content-Length") ?? "0") > 0;
  if (!hasBody) return next();
  return requireJsonBody(c, next);
};
