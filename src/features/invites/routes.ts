import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import type { MiddlewareHandler } from "hono";
import { INVITE_DELIVERY_STATUSES, INVITE_ROLES } from "../../db/schema";
import { LOCALES } from "../../lib/locale";
import { loadConfig } from "../../env";
import type { AppEnv } from "../../http/app-env";
import { authenticate, authorize, deferred, ownerOrAdmin, ownerOrAdminDeferred, readAuthority } from "../../http/authenticate";
import { ApiError } from "../../http/errors";
import { emailSchema, passwordSchema } from "../../http/fields";
import { bearerSecurity, errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { enumFilter, pageQuerySchema, resolveSortField } from "../../http/pagination";
import { UserSchema } from "../../http/schemas";
import { optionalJsonBody, requireJsonBody, validationHook } from "../../http/validation";
import { giveBackAll, HOUR_MS, limit, limitPerClient } from "../../rate-limit/middleware";
import { getInvite, inviteKeyShape, inviteNotFound, previewInvite, renewInvite, resendInvite, revokeInvite } from "./lifecycle";
import { acceptInvite, createInvite, INVITE_SORT_FIELDS, INVITE_STATUSES, listInvites, redeemInvite } from "./service";

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

const CreateInviteSchema = z
  .object({
    validityDays: validityDaysSchema,
    role: z
      .enum(INVITE_ROLES, "role must be Developer, Viewer or Admin (an Owner is never invited)")
      .default("Developer")
      .openapi({ example: "Developer" }),
    email: emailSchema.optional().openapi({ description: "Bind the invite to this email (case-insensitive); the link is mailed to it" }),
    notify: notifySchema,
    locale: localeSchema,
  })
  .openapi("CreateInvite");

const InvitePreviewSchema = z
  .object({
    tenantName: z.string().openapi({ example: "Initech" }),
    targetRole: z.enum(INVITE_ROLES),
    expiresAt: ISO,
    status: z.enum(INVITE_STATUSES),
    email: z.string().nullable().openapi({ description: "The bound email, masked", example: "b***@initech.test" }),
  })
  .openapi("InvitePreview");

const RenewInviteSchema = z.object({ validityDays: validityDaysSchema, notify: notifySchema, locale: localeSchema }).openapi("RenewInvite");
const ResendInviteSchema = z.object({ locale: localeSchema }).openapi("ResendInvite");

const RegisterSchema = z.object({ email: emailSchema, password: passwordSchema }).openapi("Register");

const InviteListQuery = pageQuerySchema(INVITE_SORT_FIELDS).extend({ Status: enumFilter("Status", INVITE_STATUSES) });

const InvitePageSchema = z.object({ total: z.number().int(), items: z.array(InviteSchema) }).openapi("InvitePage");


const inviteIdParams = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid", example: "0197a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" }),
});

const previewLimit = limitPerClient((c) => ({ name: "preview", limit: loadConfig(c.env).limits.previewPerHour, windowMs: HOUR_MS }));

/**
 * One path, two resources, told apart by shape: an id is the admin view (bearer, Owner/Admin), a
 * token the public preview (rate-limited per client). Only the preview spends the limit.
 */
const byInviteKeyShape: MiddlewareHandler<AppEnv> = async (c, next) => {
  const shape = inviteKeyShape(c.req.param("id") ?? "");
  if (shape === "id") return ownerOrAdminDeferred(c, next);
  if (shape === "token") return previewLimit(c, next);
  throw inviteNotFound();
};

const getInviteRoute = createRoute({
  method: "get",
  path: "/invites/{id}",
  tags: ["Invites"],
  summary: "Get one invite (by id, Admin/Owner) or preview it (by token, public)",
  description:
    "With an invite id (UUID) and a bearer token of an Owner or Admin: the full invite of the caller's tenant " +
    "(another tenant's id is 404). With an invite token (`inv_…`) and no credentials: a public, side-effect-free " +
    "preview `{tenantName, targetRole, expiresAt, status, email (masked)}`, rate-limited per client IP. " +
    "Anything else is 404 INVITE_NOT_FOUND.",
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
  summary: "Revoke an invite (idempotent)",
  description: "Only an Owner may revoke an Admin-role invite (403 ROLE_NOT_ASSIGNABLE). A used invite is 409 INVITE_NOT_REVOCABLE.",
  security: bearerSecurity,
  middleware: [...ownerOrAdmin] as const,
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
  summary: "Renew an invite: a fresh token and expiry on the same record",
  description:
    "The old token stops working at once. Pending and expired invites can be renewed; used (409 INVITE_USED) and " +
    "revoked (409 INVITE_REVOKED) ones cannot. 409 INVITE_PENDING_FOR_EMAIL when another pending invite for the bound " +
    "email exists; 409 INVITE_AUTHORITY_LAPSED when the invite's creator no longer holds the authority to issue it (not an Active " +
    "Owner, or for a Developer/Viewer invite an Active Admin, of the tenant: deactivated, demoted or removed). " +
    "Only an Owner may renew an Admin-role invite (403 ROLE_NOT_ASSIGNABLE).",
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
  summary: "Mail the current link of an email-bound invite again",
  description: "409 INVITE_NOT_PENDING / INVITE_NOT_EMAIL_BOUND; 429 within 60 s of the invite's last accepted mail (create, renew, resend).",
  security: bearerSecurity,
  middleware: [...ownerOrAdmin, optionalJsonBody] as const,
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
  summary: "Create an invite",
  description:
    "A tenant may create INVITE_CREATE_LIMIT_PER_HOUR invites per sliding hour (default 200), whoever creates them; " +
    "beyond that 429 RATE_LIMITED with Retry-After.",
  security: bearerSecurity,
  middleware: [ownerOrAdminDeferred, requireJsonBody] as const,
  request: { body: jsonBody(CreateInviteSchema) },
  responses: {
    201: {
      ...jsonContent(CreatedInviteSchema, "Invite created; `token` composes the registration link"),
      headers: { Location: { schema: { type: "string" }, description: "/api/v1/invites/{id}" } },
    },
    ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503),
  },
});

const listInvitesRoute = createRoute({
  method: "get",
  path: "/invites",
  tags: ["Invites"],
  summary: "List the tenant's invites",
  security: bearerSecurity,
  middleware: [ownerOrAdminDeferred] as const,
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
  summary: "Register with an invite token",
  description:
    "Creates an account and its membership of the invite's tenant. An email that already has an account is 409 EMAIL_TAKEN: " +
    "sign in and use POST /invites/{token}/accept instead. 409 INVITE_AUTHORITY_LAPSED (here and on accept) when whoever " +
    "issued the invite has since been deactivated, demoted or removed from the tenant, whatever the invite's role.",
  middleware: [redemptionLimit, requireJsonBody] as const,
  request: { params: inviteTokenParams, body: jsonBody(RegisterSchema) },
  responses: {
    201: jsonContent(UserSchema, "User created with the invite's role"),
    ...errorResponses(400, 404, 409, 413, 415, 429, 503),
  },
});

const acceptRoute = createRoute({
  method: "post",
  path: "/invites/{token}/accept",
  tags: ["Invites"],
  summary: "Accept an invite with an existing account (signed in to any tenant)",
  description:
    "Adds a membership with the invite's role to the invite's tenant and marks the invite used, atomically: of concurrent " +
    "accepts and registers of one token exactly one wins. 201 the member view in the invite's tenant (switch to it with " +
    "POST /auth/switch-tenant). 409 ALREADY_MEMBER (the invite stays Pending), INVITE_USED, INVITE_EXPIRED, INVITE_REVOKED, " +
    "EMAIL_MISMATCH (a bound invite and the account's email differ), INVITE_AUTHORITY_LAPSED. Counted with register " +
    "against the same per-client limit (429). No body.",
  security: bearerSecurity,
  middleware: [redemptionLimit, authenticate] as const,
  request: { params: inviteTokenParams },
  responses: {
    201: jsonContent(UserSchema, "Membership created with the invite's role"),
    ...errorResponses(401, 404, 409, 429, 503),
  },
});

export const inviteRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createInviteRoute, async (c) => {
    const { claims } = deferred(c);
    // Counted per tenant once the request is valid: every Owner and Admin of the tenant share it. The
    // insert checks the caller's authority; a caller it refuses gives the slot back.
    const spent = await limit(c, [{ key: `tenant:${claims.tenantId}`, policies: [{ name: "invite-create", limit: loadConfig(c.env).limits.inviteCreatesPerHour, windowMs: HOUR_MS }] }]);
    let invite;
    try {
      invite = await createInvite(c.env, claims, c.req.valid("json"), () => readAuthority(c));
    } catch (error) {
      if (error instanceof ApiError && [401, 403, 404].includes(error.status)) await giveBackAll(c, spent);
      throw error;
    }
    c.header("Location", `/api/v1/invites/${invite.id}`);
    return c.json(invite, 201);
  })
  .openapi(listInvitesRoute, async (c) => {
    const query = c.req.valid("query");
    const page = await listInvites(c.env, deferred(c).claims, {
      page: query.Pg,
      perPage: query.Qt,
      sortField: resolveSortField(query.CpOrd, INVITE_SORT_FIELDS),
      direction: query.TpOrd,
      status: query.Status,
    }, (row) => authorize(c, row));
    return c.json(page, 200);
  })
  .openapi(getInviteRoute, async (c) => {
    const key = c.req.valid("param").id;
    if (inviteKeyShape(key) === "id") return c.json(await getInvite(c.env, deferred(c).claims, key, (row) => authorize(c, row)), 200);
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
