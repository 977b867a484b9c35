import * as z from "../lib/zod";
import { reasonPhrase } from "./errors";

export const ErrorEnvelopeSchema = z
  .object({
    code: z.string().openapi({ example: "VALIDATION_ERROR" }),
    error: z.string().openapi({ example: "Bad Request" }),
    message: z.string().openapi({ example: "The request body is invalid" }),
    statusCode: z.number().int().openapi({ example: 400 }),
    details: z.record(z.string(), z.unknown()).openapi({ example: { fields: { validityDays: ["Too big: expected number to be <=30"] } } }),
  })
  .openapi("Error");

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: "Invalid input (VALIDATION_ERROR, INVALID_SORT_FIELD, INVALID_CURSOR, REDIRECT_NOT_ALLOWED)",
  401: "Missing or invalid credentials (UNAUTHORIZED; INVALID_CREDENTIALS on login)",
  403: "The caller's role does not allow this (FORBIDDEN, ROLE_NOT_ASSIGNABLE), or the account is not an active member of the tenant asked for (NOT_A_MEMBER)",
  404: "Not found (e.g. NOT_FOUND, TENANT_NOT_FOUND, INVITE_NOT_FOUND); another tenant's resource is 404 too",
  409: "Conflict with the current state; `code` says which (e.g. EMAIL_TAKEN, TENANT_NAME_TAKEN, INVITE_USED, INVITE_EXPIRED, INVITE_REVOKED, ALREADY_MEMBER, LAST_OWNER)",
  413: "Body larger than 16 KiB",
  415: "Body is not JSON",
  429: "Rate limited; see Retry-After",
  503: "A dependency is unreachable (rate limiter or database); retry after Retry-After seconds",
};

const ERROR_EXAMPLES: Record<number, { code: string; message: string; details?: Record<string, unknown> }> = {
  400: { code: "VALIDATION_ERROR", message: "The request body is invalid", details: { fields: { validityDays: ["validityDays must be between 1 and 30"] } } },
  401: { code: "UNAUTHORIZED", message: "Missing or invalid access token" },
  403: { code: "FORBIDDEN", message: "This action requires one of the roles: Owner, Admin" },
  404: { code: "NOT_FOUND", message: "Not found" },
  409: { code: "EMAIL_TAKEN", message: "This email is already registered" },
  413: { code: "PAYLOAD_TOO_LARGE", message: "Request bodies are limited to 16384 bytes" },
  415: { code: "UNSUPPORTED_MEDIA_TYPE", message: "Send the body as JSON with Content-Type: application/json" },
  429: {
    code: "RATE_LIMITED",
    message: "Too many requests; retry in 1800 seconds",
    details: { policy: "register", limit: 10, windowSeconds: 3600, retryAfterSeconds: 1800 },
  },
  500: { code: "INTERNAL_ERROR", message: "An unexpected error occurred" },
  503: { code: "SERVICE_UNAVAILABLE", message: "The service is temporarily unavailable, retry shortly" },
};

/** A §2.1 envelope for `status`, as documentation shows it. */
export function errorExample(status: number) {
  const example = ERROR_EXAMPLES[status] ?? { code: "ERROR", message: reasonPhrase(status) };
  return { code: example.code, error: reasonPhrase(status), message: example.message, statusCode: status, details: example.details ?? {} };
}

/** The error responses a route documents, each with the shared envelope and an example of it. */
export function errorResponses(...statuses: number[]) {
  const responses: Record<
    string,
    { description: string; content: { "application/json": { schema: typeof ErrorEnvelopeSchema; example: ReturnType<typeof errorExample> } } }
  > = {};
  for (const status of statuses) {
    responses[String(status)] = {
      description: ERROR_DESCRIPTIONS[status] ?? reasonPhrase(status),
      content: { "application/json": { schema: ErrorEnvelopeSchema, example: errorExample(status) } },
    };
  }
  return responses;
}

export const jsonContent = <T>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

export const jsonBody = <T>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

export const bearerSecurity = [{ bearerAuth: [] as string[] }];
