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
