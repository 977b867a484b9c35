import * as z from "../lib/zod";
import { ApiError } from "./errors";

const integerParam = (name: string, min: number, max: number, fallback: number) =>
  z
    .string()
    .max(12)
    .regex(/^\s*\d+\s*$/, `${name} must be an integer`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`))
    .optional()
    .default(fallback)
    .openapi({ type: "integer", minimum: min, maximum: max, default: fallback });

export type SortDirection = "asc" | "desc";

/** HookSentry's shared list parameters (§2.2): names exact, values case-insensitive. */
export function pageQuerySchema<F extends string>(sortFields: readonly F[]) {
  return z.object({
    Qt: integerParam("Qt", 1, 100, 10).openapi({ description: "Items per page (1–100)", example: 10 }),
    Pg: integerParam("Pg", 1, 1_000_000, 1).openapi({ description: "Page number, 1-based", example: 1 }),
    CpOrd: z
      .string()
      .max(64)
      .optional()
      .openapi({ description: `Sort field: ${sortFields.join(", ")} (case-insensitive)`, example: "id", default: "id" }),
    TpOrd: z
      .string()
      .max(8)
      .optional()
      .transform((value, ctx) => {
        const direction = (value ?? "desc").trim().toLowerCase();
        if (direction !== "asc" && direction !== "desc") {
          ctx.addIssue({ code: "custom", message: "TpOrd must be Asc or Desc" });
          return z.NEVER;
        }
        return direction as SortDirection;
      })
      .openapi({ type: "string", enum: ["Asc", "Desc"], default: "Desc", description: "Sort direction (case-insensitive)" }),
  });
}

export function resolveSortField<F extends string>(requested: string | undefined, sortFields: readonly F[]): F {
  if (requested === undefined || requested.trim() === "") return sortFields[0] as F;
  const wanted = requested.trim().toLowerCase();
  const match = sortFields.find((field) => field.toLowerCase() === wanted);
  if (!match) {
    throw new ApiError(400, "INVALID_SORT_FIELD", `CpOrd must be one of: ${sortFields.join(", ")}`, {
      fields: { CpOrd: [`unknown sort field "${requested.slice(0, 64)}"`] },
      allowed: sortFields,
    });
  }
  return match;
}

/** An enum filter given by numeric value or by name, case-insensitively (`Status=0` ≡ `Status=pending`). */
export function enumFilter<V extends string>(name: string, values: readonly V[]) {
  return z
    .string()
    .max(32)
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return undefined;
      const value = raw.trim();
      const byIndex = /^\d+$/.test(value) ? values[Number(value)] : undefined;
      const byName = values.find((candidate) => candidate.toLowerCase() === value.toLowerCase());
      const resolved = byIndex ?? byName;
      if (!resolved) {
        ctx.addIssue({ code: "custom", message: `${name} must be one of ${values.map((v, i) => `${i} (${v})`).join(", ")}` });
        return z.NEVER;
      }
      return resolved;
    })
    .openapi({
      type: "string",
      description: `Filter by ${name}: ${values.map((v, i) => `${i} = ${v}`).join(", ")} (number or name, case-insensitive)`,
    });
}

export interface Page<T> {
  total: number;
  items: T[];
}
