import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import type { Context, MiddlewareHandler } from "hono";
import { INVITE_DELIVERY_STATUSES, INVITE_ROLES } from "../../db/schema";
import { LOCALES } from "../../lib/locale";
import { loadConfig } from "../../env";
import type { AppEnv } from "../../http/app-env";
import { authenticate, authorize, deferAuthority, deferred, ownerOrAdmin, readAuthority, requireRole, type AuthorityRow } from "../../http/authenticate";
import { ApiError } from "../../http/errors";
import { emailSchema, passwordSchema } from "../../http/fields";
import { bearerSecurity, errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { cursorPageSchema, cursorQueryFields, enumFilter, pageQuerySchema, resolvePage } from "../../http/pagination";
import { UserSchema } from "../../http/schemas";
import { fieldErrors, optionalJsonBody, requireJsonBody, validationHook } from "../../http/validation";
import { giveBackAll, HOUR_MS, limit, limitPerClient, type Spent } from "../../rate-limit/middleware";
import { getInvite, inviteKeyShape, inviteNotFound, previewInvite, renewInvite, resendInvite, revokeInvite } from "./lifecycle";
import { acceptInvite, assertInvitePolicy, createInvite, createInvites, INVITE_CURSOR_KEYS, INVITE_SORT_FIELDS, INVITE_STATUSES, listInvites, MAX_BULK_INVITES, redeemInvite } from "./service";

const ISO = z.iso.datetime().openapi({ example: "2026-07-10T14:32:00.000Z" });

export const InviteSchema = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    token: z
      .string()
      .nullable()
      .openapi({
        example: "inv_3q2-796tvu_erb7v3q2-796tvu_erb7v3q2-796tvu8",
        description:
          "The invite's secret token (compose the registration link from it). Always present in create and renew responses. " +
          "null in two cases: the invite grants Admin and the caller is not an Owner (only an Owner may grant Admin, so only an " +
          "Owner sees such a link: an Admin holding it could register a second Admin account for themselves); or the stored " +
          "ciphertext can no longer be decrypted (encrypted under a key that was removed, or damaged): renew the invite for a new token.",
      }),
    targetRole: z.enum(INVITE_ROLES),
    expiresAt: ISO,
    usedAt: ISO.nullable(),
    status: z.enum(INVITE_STATUSES),
    createdAt: ISO,
    email: z.string().nullable(),
    createdBy: z.uuid(),
    revokedAt: ISO.nullable(),
    updatedAt: ISO,
    locale: z.enum(LOCALES).openapi({ description: "Language of the invite's mails" }),
    delivery: z
      .object({
        status: z.enum(INVITE_DELIVERY_STATUSES),
        attempts: z.number().int(),
        lastAttemptAt: ISO.nullable(),
        sentAt: ISO.nullable(),
        error: z.string().nullable().openapi({ description: "Why the last attempt failed, readable", example: null }),
      })
      .openapi("InviteDelivery"),
    uses: z.number().int().openapi({ example: 0 }),
    maxUses: z.number().int().openapi({ example: 1 }),
    allowedDomains: z.array(z.string()).nullable().openapi({ example: null }),
    redirectUrl: z.string().nullable().openapi({ example: null }),
    publicMetadata: z.record(z.string(), z.unknown()).nullable().openapi({ type: "object", additionalProperties: true, example: null }),
    privateMetadata: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ type: "object", additionalProperties: true, example: null }),
  })
  .openapi("Invite");

/** Create and renew always return the token just minted. */
const CreatedInviteSchema = InviteSchema.extend({
  token: z.string().openapi({ example: "inv_3q2-796tvu_erb7v3q2-796tvu_erb7v3q2-796tvu8", description: "The new secret token" }),
}).openapi("CreatedInvite");

const notifySchema = z
  .boolean("notify must be true or false")
  .optional()
  .openapi({ description: "Mail the link to the bound email (default true; ignored without an email)" });
const localeSchema = z
  .enum(LOCALES, "locale must be en or pt-BR")
  .optional()
  .openapi({ description: "Language of the mail (default en; renew and resend default to the invite's)" });

const validityDaysSchema = z
  .number("validityDays must be an integer")
  .int("validityDays must be an integer")
  .min(1, "validityDays must be between 1 and 30")
  .max(30, "validityDays must be between 1 and 30")
  .default(7)
  .openapi({ example: 7 });

export const MAX_USES = 1000;
export const MAX_ALLOWED_DOMAINS = 10;
export const METADATA_MAX_BYTES = 4096;

/** A DNS name of at least two labels (letters, digits, inner hyphens; IDNs in their xn-- form), no wildcard. */
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const domainSchema = z
  .string()
  .trim()
  .max(253, "a domain is at most 253 characters")
  .transform((value) => value.toLowerCase())
  .refine((value) => DOMAIN.test(value), { message: "must be a domain such as acme.com (no wildcards, no @, no scheme)" })
  .openapi({ type: "string", example: "acme.com" });

const metadataSchema = (name: string) =>
  z
    .record(z.string(), z.unknown(), `${name} must be a JSON object`)
    .refine((value) => new TextEncoder().encode(JSON.stringify(value)).byteLength <= METADATA_MAX_BYTES, {
      message: `${name} must be at most ${METADATA_MAX_BYTES} bytes as JSON`,
    })
    .openapi({ type: "object", additionalProperties: true, example: { team: "platform" } });

export const CreateInviteSchema = z
  .object({
    validityDays: validityDaysSchema,
    role: z
      .enum(INVITE_ROLES, "role must be Developer, Viewer or Admin (an Owner is never invited)")
      .default("Developer")
      .openapi({ example: "Developer" }),
    email: emailSchema.optional(),
    notify: notifySchema,
    locale: localeSchema,
    maxUses: z
      .number("maxUses must be an integer")
      .int("maxUses must be an integer")
      .min(1, `maxUses must be between 1 and ${MAX_USES}`)
      .max(MAX_USES, `maxUses must be between 1 and ${MAX_USES}`)
      .default(1)
      .openapi({ example: 1 }),
    allowedDomains: z
      .array(domainSchema, "allowedDomains must be an array of domains")
      .min(1, "allowedDomains must list at least one domain (omit it to allow any)")
      .max(MAX_ALLOWED_DOMAINS, `allowedDomains lists at most ${MAX_ALLOWED_DOMAINS} domains`)
      .transform((domains) => [...new Set(domains)])
      .optional()
      .openapi({ example: ["acme.com"] }),
    redirectUrl: z
      .url({ protocol: /^https?$/, message: "redirectUrl must be an absolute http(s) URL" })
      .max(2048, "redirectUrl must be at most 2048 characters")
      .optional()
      .openapi({ example: "https://app.initech.test/welcome" }),
    publicMetadata: metadataSchema("publicMetadata").optional(),
    privateMetadata: metadataSchema("privateMetadata").optional(),
  })
  .superRefine((body, ctx) => {
    if (body.email !== undefined && body.maxUses > 1) {
      ctx.addIssue({ code: "custom", path: ["maxUses"], message: "an invite bound to an email is single-use: omit maxUses or email" });
    }
    if (body.email !== undefined && body.allowedDomains !== undefined) {
      ctx.addIssue({ code: "custom", path: ["allowedDomains"], message: "give email or allowedDomains, not both" });
    }
  })
  .openapi("CreateInvite");

const InvitePreviewSchema = z
  .object({
    tenantName: z.string().openapi({ example: "Initech" }),
    targetRole: z.enum(INVITE_ROLES),
    expiresAt: ISO,
    status: z.enum(INVITE_STATUSES),
    email: z.string().nullable().openapi({ description: "The bound email, masked", example: "b***@initech.test" }),
    allowedDomains: z.array(z.string()).nullable().openapi({ example: null }),
    redirectUrl: z.string().nullable().openapi({ example: "https://app.initech.test/welcome" }),
    publicMetadata: z.record(z.string(), z.unknown()).nullable().openapi({ type: "object", additionalProperties: true, example: { team: "platform" } }),
  })
  .openapi("InvitePreview");

/** The seed's User, then where the invitee goes next. */
const RegisteredUserSchema = UserSchema.extend({
  redirectUrl: z.string().nullable().openapi({ example: "https://app.initech.test/welcome" }),
}).openapi("RegisteredUser");

const RenewInviteSchema = z.object({ validityDays: validityDaysSchema, notify: notifySchema, locale: localeSchema }).openapi("RenewInvite");
const ResendInviteSchema = z.object({ locale: localeSchema }).openapi("ResendInvite");

const RegisterSchema = z.object({ email: emailSchema, password: passwordSchema }).openapi("Register");

const InviteListQuery = pageQuerySchema(INVITE_SORT_FIELDS).extend({ Status: enumFilter("Status", INVITE_STATUSES), ...cursorQueryFields });

const InvitePageSchema = cursorPageSchema(InviteSchema, "InvitePage");


const inviteIdParams = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid", example: "0197a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" }),
});

/**
 * Create, list, get, resend and revoke: Owners and Admins; Developers too while the tenant's invitePolicy
 * is "Members" (the service then limits them to the Developer/Viewer invites they created). Viewers never.
 */
const requireInvitePolicy: MiddlewareHandler<AppEnv> = async (c, next) => {
  assertInvitePolicy(c.get("caller"));
  await next();
};
const INVITE_MANAGER_ROLES = ["Owner", "Admin", "Developer"] as const;
const inviteManagers = [authenticate, requireRole(...INVITE_MANAGER_ROLES), requireInvitePolicy] as const;
/** The one-round-trip routes: the authority is read in the route's own D1 call, then `authorizeManager`. */
const inviteManagersDeferred = deferAuthority(...INVITE_MANAGER_ROLES);
const authorizeManager = (c: Context<AppEnv>) => (row: AuthorityRow | undefined) => {
  const caller = authorize(c, row);
  assertInvitePolicy(caller);
  return caller;
};

/** A deferred route's refusal path: the caller's authority on its own, with the same policy check. */
const settleManager = (c: Context<AppEnv>) => async () => {
  const caller = await readAuthority(c);
  assertInvitePolicy(caller);
  return caller;
};

/** The tenant's invite-create budget: a bulk request spends one slot per invite. Given back if the caller is refused. */
const spendCreateBudget = (c: Context<AppEnv>, tenantId: string, cost: number) =>
  limit(c, [{ key: `tenant:${tenantId}`, policies: [{ name: "invite-create", limit: loadConfig(c.env).limits.inviteCreatesPerHour, windowMs: HOUR_MS, cost }] }]);

async function givenBackIfRefused<T>(c: Context<AppEnv>, spent: Spent, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ApiError && [401, 403, 404].includes(error.status)) await giveBackAll(c, spent);
    throw error;
  }
}

const previewLimit = limitPerClient((c) => ({ name: "preview", limit: loadConfig(c.env).limits.previewPerHour, windowMs: HOUR_MS }));

/**
 * One path, two resources, told apart by shape: an id is the admin view (bearer, Owner/Admin), a
 * token the public preview (rate-limited per client). Only the preview spends the limit.
 */
const byInviteKeyShape: MiddlewareHandler<AppEnv> = async (c, next) => {
  const shape = inviteKeyShape(c.req.param("id") ?? "");
  if (shape === "id") return inviteManagersDeferred(c, next);
  if (shape === "token") return previewLimit(c, next);
  throw inviteNotFound();
};

const getInviteRoute = createRoute({
  method: "get",
  path: "/invites/{id}",
  tags: ["Invites"],
  security: [...bearerSecurity, {}],
  middleware: [byInviteKeyShape] as const,
  request: {
    params: z.object({
      id: z.string().openapi({ param: { name: "id", in: "path", description: "An invite id (UUID) or an invite token (inv_…)" }, example: "inv_…" }),
    }),
  },
  responses: {
    200: jsonContent(z.union([InviteSchema, InvitePreviewSchema]), "The invite (by id) or its public preview (by token)"),
    ...errorResponses(401, 403, 404, 429, 503),
  },
});

const revokeInviteRoute = createRoute({
  method: "delete",
  path: "/invites/{id}",
  tags: ["Invites"],
  security: bearerSecurity,
  middleware: [...inviteManagers] as const,
  request: { params: inviteIdParams },
  responses: {
    204: { description: "Revoked (also when it already was)" },
    ...errorResponses(401, 403, 404, 409),
  },
});

const renewInviteRoute = createRoute({
  method: "post",
  path: "/invites/{id}/renew",
  tags: ["Invites"],
  security: bearerSecurity,
  middleware: [...ownerOrAdmin, requireJsonBody] as const,
  request: { params: inviteIdParams, body: jsonBody(RenewInviteSchema) },
  responses: {
    200: jsonContent(CreatedInviteSchema, "The renewed invite, with its new token"),
    ...errorResponses(400, 401, 403, 404, 409, 413, 415),
  },
});

const resendInviteRoute = createRoute({
  method: "post",
  path: "/invites/{id}/resend",
  tags: ["Invites"],
  security: bearerSecurity,
  middleware: [...inviteManagers, optionalJsonBody] as const,
  request: { params: inviteIdParams, body: { ...jsonBody(ResendInviteSchema), required: false } },
  responses: {
    202: jsonContent(InviteSchema, "Mail queued; `delivery` shows its progress"),
    ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429),
  },
});

const createInviteRoute = createRoute({
  method: "post",
  path: "/invites",
  tags: ["Invites"],
  security: bearerSecurity,
  middleware: [inviteManagersDeferred, requireJsonBody] as const,
  request: { body: jsonBody(CreateInviteSchema) },
  responses: {
    201: {
      ...jsonContent(CreatedInviteSchema, "Invite created; `token` composes the registration link"),
      headers: { Location: { schema: { type: "string" }, description: "/api/v1/invites/{id}" } },
    },
    ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503),
  },
});

const BulkCreateSchema = z
  .object({
    invites: z
      .array(z.unknown(), "invites must be an array of create bodies")
      .min(1, "invites must not be empty")
      .max(MAX_BULK_INVITES, `at most ${MAX_BULK_INVITES} invites per request`)
      .openapi({ type: "array", items: { $ref: "#/components/schemas/CreateInvite" }, maxItems: MAX_BULK_INVITES }),
  })
  .openapi("BulkCreateInvites");

const bulkCreateRoute = createRoute({
  method: "post",
  path: "/invites/bulk",
  tags: ["Invites"],
  security: bearerSecurity,
  middleware: [inviteManagersDeferred, requireJsonBody] as const,
  request: { body: jsonBody(BulkCreateSchema) },
  responses: {
    201: jsonContent(z.object({ items: z.array(CreatedInviteSchema) }).openapi("BulkCreatedInvites"), "Every invite, in request order, with its token"),
    ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503),
  },
});

/** Each item checked on its own, so a refusal says which item and which field. */
function parseBulkItems(items: unknown[]) {
  const parsed = items.map((item) => CreateInviteSchema.safeParse(item));
  if (parsed.every((result) => result.success)) return parsed.map((result) => result.data!);
  throw new ApiError(400, "VALIDATION_ERROR", `${parsed.filter((result) => !result.success).length} of ${items.length} invites are invalid; nothing was created`, {
    items: parsed.map((result) => (result.success ? null : { code: "VALIDATION_ERROR", fields: fieldErrors(result.error) })),
  });
}

const listInvitesRoute = createRoute({
  method: "get",
  path: "/invites",
  tags: ["Invites"],
  security: bearerSecurity,
  middleware: [inviteManagersDeferred] as const,
  request: { query: InviteListQuery },
  responses: {
    200: jsonContent(InvitePageSchema, "A page of invites; `total` counts every match"),
    ...errorResponses(400, 401, 403, 404),
  },
});

/** Register and accept spend one per-client budget: both redeem invites. */
const redemptionLimit = limitPerClient((c) => ({ name: "register", limit: loadConfig(c.env).limits.registerPerHour, windowMs: HOUR_MS }));

const inviteTokenParams = z.object({ token: z.string().openapi({ param: { name: "token", in: "path" }, example: "inv_…" }) });

const registerRoute = createRoute({
  method: "post",
  path: "/invites/{token}/register",
  tags: ["Invites"],
  middleware: [redemptionLimit, requireJsonBody] as const,
  request: { params: inviteTokenParams, body: jsonBody(RegisterSchema) },
  responses: {
    201: jsonContent(RegisteredUserSchema, "User created with the invite's role"),
    ...errorResponses(400, 404, 409, 413, 415, 429, 503),
  },
});

const acceptRoute = createRoute({
  method: "post",
  path: "/invites/{token}/accept",
  tags: ["Invites"],
  security: bearerSecurity,
  middleware: [redemptionLimit, authenticate] as const,
  request: { params: inviteTokenParams },
  responses: {
    201: jsonContent(RegisteredUserSchema, "Membership created with the invite's role, and where to send the browser"),
    ...errorResponses(401, 404, 409, 429, 503),
  },
});

export const inviteRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createInviteRoute, async (c) => {
    const { claims } = deferred(c);
    // Counted per tenant once the request is valid: every manager of the tenant shares it. The insert
    // checks the caller's authority (one D1 call); a caller it refuses gives the slot back.
    const spent = await spendCreateBudget(c, claims.tenantId, 1);
    const invite = await givenBackIfRefused(c, spent, () => createInvite(c.env, claims, c.req.valid("json"), settleManager(c)));
    c.header("Location", `/api/v1/invites/${invite.id}`);
    return c.json(invite, 201);
  })
  .openapi(bulkCreateRoute, async (c) => {
    const { claims } = deferred(c);
    const inputs = parseBulkItems(c.req.valid("json").invites);
    const spent = await spendCreateBudget(c, claims.tenantId, inputs.length);
    return c.json({ items: await givenBackIfRefused(c, spent, () => createInvites(c.env, claims, inputs, settleManager(c))) }, 201);
  })
  .openapi(listInvitesRoute, async (c) => {
    const query = c.req.valid("query");
    const page = await listInvites(c.env, deferred(c).claims, {
      perPage: query.Qt,
      ...resolvePage({ ...query, rawTpOrd: c.req.query("TpOrd") }, INVITE_CURSOR_KEYS, INVITE_SORT_FIELDS),
      status: query.Status,
    }, authorizeManager(c));
    return c.json(page, 200);
  })
  .openapi(getInviteRoute, async (c) => {
    const key = c.req.valid("param").id;
    if (inviteKeyShape(key) === "id") return c.json(await getInvite(c.env, deferred(c).claims, key, authorizeManager(c)), 200);
    const preview = await previewInvite(c.env, key);
    // Public and keyed by a secret in the URL: no shared cache may keep it.
    c.header("Cache-Control", "no-store");
    return c.json(preview, 200);
  })
  .openapi(revokeInviteRoute, async (c) => {
    await revokeInvite(c.env, c.get("caller"), c.req.valid("param").id);
    return c.body(null, 204);
  })
  .openapi(renewInviteRoute, async (c) => {
    const invite = await renewInvite(c.env, c.get("caller"), c.req.valid("param").id, c.req.valid("json"));
    return c.json(invite, 200);
  })
  .openapi(resendInviteRoute, async (c) => {
    const body = (c.req.valid("json") as { locale?: (typeof LOCALES)[number] } | undefined) ?? {};
    const invite = await resendInvite(c.env, c.get("caller"), c.req.valid("param").id, body.locale);
    return c.json(invite, 202);
  })
  .openapi(registerRoute, async (c) => {
    const user = await redeemInvite(c.env, c.req.valid("param").token, c.req.valid("json"));
    return c.json(user, 201);
  })
  .openapi(acceptRoute, async (c) => c.json(await acceptInvite(c.env, c.get("caller"), c.req.valid("param").token), 201));
