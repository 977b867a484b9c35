import * as z from "../lib/zod";
import { ROLES, USER_STATUSES } from "../db/schema";

/** Response shapes shared by several features. */

export const IsoTimestampSchema = z.iso.datetime().openapi({ example: "2026-07-10T14:32:00.000Z" });

export const UserSchema = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    email: z.string(),
    status: z.enum(USER_STATUSES),
    role: z.enum(ROLES),
    createdAt: IsoTimestampSchema,
    updatedAt: IsoTimestampSchema,
  })
  .openapi("User");
