import { z } from "@hono/zod-openapi";
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
  400: "Invalid input (VALIDATION_ERROR, INVALID_SORT_FIELD)",
  401: "Missing or invalid credentials",
  403: "The caller's role does not allow this",
  404: "Not found",
  409: "Conflict with the current state",
  413: "Body larger than 16 KiB",
  415: "Body is not JSON",
  429: "Rate limited; see Retry-After",
  503: "Rate limiter unreachable (fails closed)",
};

/** The error responses a route documents, each with the shared envelope. */
export function errorResponses(...statuses: number[]) {
  const responses: Record<string, { description: string; content: { "application/json": { schema: typeof ErrorEnvelopeSchema } } }> = {};
  for (const status of statuses) {
    responses[String(status)] = {
      description: ERROR_DESCRIPTIONS[status] ?? reasonPhrase(status),
      content: { "application/json": { schema: ErrorEnvelopeSchema } },
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
