import type { ContentfulStatusCode } from "hono/utils/http-status";

const REASON_PHRASES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? "Error";
}

export type ErrorDetails = Record<string, unknown>;

export interface ErrorEnvelope {
  code: string;
  error: string;
  message: string;
  statusCode: number;
  details: ErrorDetails;
}

/** Every failure the API reports deliberately; onError turns it into the §2.1 envelope. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details: ErrorDetails = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  toEnvelope(): ErrorEnvelope {
    return {
      code: this.code,
      error: reasonPhrase(this.status),
      message: this.message,
      statusCode: this.status,
      details: this.details,
    };
  }
}

export type FieldErrors = Record<string, string[]>;

export const validationError = (message: string, fields: FieldErrors = {}) =>
  new ApiError(400, "VALIDATION_ERROR", message, { fields });
export const unauthorized = (message = "Missing or invalid access token") =>
  new ApiError(401, "UNAUTHORIZED", message);
export const forbidden = (message = "Your role does not allow this action") =>
  new ApiError(403, "FORBIDDEN", message);
export const notFound = (code: string, message: string) => new ApiError(404, code, message);
export const conflict = (code: string, message: string) => new ApiError(409, code, message);

export function errorResponse(error: ApiError): Response {
  return new Response(JSON.stringify(error.toEnvelope()), {
    status: error.status,
    headers: { "Content-Type": "application/json; charset=utf-8", ...error.headers },
  });
}
