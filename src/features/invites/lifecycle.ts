import { and, eq, gt, isNull, ne, sql } from "drizzle-orm";
import { asStatement, database, fromColumns } from "../../db/client";
import { userActor } from "../../events/catalogue";
import { eventStatements } from "../../events/record";
import { invites, tenants, type InviteRole, type InviteRow, type Role } from "../../db/schema";
import { loadConfig, type Env } from "../../env";
import type { Caller } from "../../http/app-env";
import { authorityQuery, type Authorize } from "../../http/authenticate";
import type { VerifiedAccessToken } from "../../security/jwt";
import { ApiError, conflict, notFound } from "../../http/errors";
import { UUID_PATTERN } from "../../lib/ids";
import { withoutForbiddenCharacters } from "../../lib/names";
import { DAY_MS, iso } from "../../lib/time";
import { encryptToken, generateInviteToken, INVITE_TOKEN_PATTERN, sha256Hex } from "../../security/tokens";
import type { Locale } from "../../lib/locale";
import { handOver, inviteMailJobInsert } from "../../outbox/mail-jobs";
import { newId } from "../../lib/ids";
import {
  authorityLapsed,
  creatorStillGrants,
  CREATOR_STILL_GRANTS,
  inviteKeyring,
  inviteStatus,
  managesAllInvites,
  queuedDelivery,
  withoutPrivateMetadataFor,
  quotaExceeded,
  toInviteView,
  type CreatedInviteView,
  type InviteStatus,
  type InviteView,
} from "./service";

/** `GET /invites/{x}` serves two resources: an id (UUID) is the admin view, a token (`inv_…`) the public preview. */
export type InviteKeyShape = "id" | "token" | "unknown";

export function inviteKeyShape(value: string): InviteKeyShape {
  if (UUID_PATTERN.test(value)) return "id";
  if (value.startsWith("inv_")) return "token";
  return "unknown";
}

export const inviteNotFound = () => notFound("INVITE_NOT_FOUND", "No invite matches this id or token");

/** "bob@initech.test" → "b***@initech.test": enough for the invitee to recognise, not enough to harvest. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  if (at < 1) return "***";
  return `${email.slice(0, 1)}***${email.slice(at)}`;
}

export interface InvitePreview {
  tenantName: string;
  targetRole: InviteRole;
  expiresAt: string;
  status: InviteStatus;
  email: string | null;
  allowedDomains: string[] | null;
  redirectUrl: string | null;
  publicMetadata: Record<string, unknown> | null;
}

const PREVIEW_SQL = "SELECT i.*, t.name AS tenant_name FROM invites i JOIN tenants t ON t.id = i.tenant_id WHERE i.token_hash = ?1 LIMIT 1";

/** Read-only on purpose: a mail scanner that opens the link must not change anything. */
export async function previewInvite(env: Env, token: string): Promise<InvitePreview> {
  if (!INVITE_TOKEN_PATTERN.test(token)) throw inviteNotFound();
  // A fixed SQL string (public and hot: no query building per request).
  const raw = await env.DB.prepare(PREVIEW_SQL).bind(await sha256Hex(token)).first<Record<string, unknown>>();
  if (!raw) throw inviteNotFound();
  const row = { invite: fromColumns(invites, raw), tenantName: raw.tenant_name as string };
  return {
    // Names stored before control/format characters were refused are shown without them.
    tenantName: withoutForbiddenCharacters(row.tenantName),
    targetRole: row.invite.targetRole,
    expiresAt: iso(row.invite.expiresAt),
    status: inviteStatus(row.invite, Date.now()),
    email: row.invite.email === null ? null : maskEmail(row.invite.email),
    allowedDomains: row.invite.allowedDomains,
    redirectUrl: row.invite.redirectUrl,
    publicMetadata: row.invite.publicMetadata,
  };
}

async function findTenantInvite(env: Env, tenantId: string, id: string): Promise<InviteRow | null> {
  const [invite] = await database(env.DB)
    .select()
    .from(invites)
    .where(and(eq(invites.id, id), eq(invites.tenantId, tenantId)))
    .limit(1);
  return invite ?? null;
}

/** Another tenant's id is indistinguishable from an unknown one. */
async function requireTenantInvite(env: Env, tenantId: string, id: string): Promise<InviteRow> {
  const invite = UUID_PATTERN.test(id) ? await findTenantInvite(env, tenantId, id) : null;
  if (!invite) throw inviteNotFound();
  return invite;
}

/** One D1 call: the caller's authority and the invite (of the token's tenant) in one batch. */
export async function getInvite(env: Env, claims: VerifiedAccessToken, id: string, authorize: Authorize): Promise<InviteView> {
  const db = database(env.DB);
  const [[authority], [invite]] = await db.batch([
    authorityQuery(db, claims),
    db.select().from(invites).where(and(eq(invites.id, id), eq(invites.tenantId, claims.tenantId))).limit(1),
  ]);
  const caller = authorize(authority);
  // A Developer (invitePolicy Members) sees only the invites they created: another's is unknown to them.
  if (!invite || !mayManage(caller, invite)) throw inviteNotFound();
  return withoutPrivateMetadataFor(caller.role, await toInviteView(env, invite, caller.role));
}

const mayManage = (caller: Caller, invite: InviteRow) => managesAllInvites(caller) || invite.createdBy === caller.userId;

/**
 * Revoking or renewing an Admin invite is granting or withdrawing Admin, which only an Owner may do:
 * the same rule, and the same code, as creating one.
 */
function assertMayManage(callerRole: Role, invite: InviteRow): void {
  if (invite.targetRole === "Admin" && callerRole !== "Owner") {
    throw new ApiError(403, "ROLE_NOT_ASSIGNABLE", "Only an Owner can revoke or renew an Admin invite");
  }
}

/**
 * Idempotent: revoking a revoked invite succeeds again. The UPDATE only matches an unused,
 * unrevoked row, and redemption only matches an unrevoked one, so of a racing revoke and
 * register exactly one takes effect.
 */
export async function revokeInvite(env: Env, caller: Caller, id: string): Promise<void> {
  const invite = await requireTenantInvite(env, caller.tenantId, id);
  if (!mayManage(caller, invite)) throw inviteNotFound();
  assertMayManage(caller.role, invite);
  const now = Date.now();
  const update = database(env.DB)
    .update(invites)
    .set({ revokedAt: now, updatedAt: now })
    .where(and(eq(invites.id, invite.id), eq(invites.tenantId, caller.tenantId), isNull(invites.usedAt), isNull(invites.revokedAt)))
    .returning({ id: invites.id });
  // The event is written only if this UPDATE changed the row (a repeated revoke writes none).
  const event = eventStatements(
    env.DB,
    { tenantId: caller.tenantId, type: "invite.revoked", actor: userActor(caller.userId), data: { inviteId: invite.id }, occurredAt: now },
    { sql: "changes() = 1", params: [] },
  );
  const [revoked] = await env.DB.batch([asStatement(env.DB, update), ...event.statements]);
  if (revoked?.results.length === 1) return;
  const current = await findTenantInvite(env, caller.tenantId, invite.id);
  if (!current) throw inviteNotFound();
  if (current.revokedAt !== null) return;
  throw conflict("INVITE_NOT_REVOCABLE", "This invite has already been used and can no longer be revoked");
}

function assertRenewable(invite: InviteRow): void {
  if (invite.revokedAt !== null) throw conflict("INVITE_REVOKED", "A revoked invite cannot be renewed; create a new one");
  if (invite.usedAt !== null) throw conflict("INVITE_USED", "A used invite cannot be renewed");
}

/**
 * A fresh token and expiry on the same row: the old token's hash is overwritten, so it matches
 * nothing from this moment on. Pending and expired invites may be renewed. The UPDATE re-checks
 * in SQL everything a concurrent request could change: still unused and unrevoked, no other
 * pending invite for the bound email (one may have been created after this one expired), and a
 * creator who still holds the authority to issue it (CREATOR_STILL_GRANTS: a renewed invite would
 * fail redemption with INVITE_AUTHORITY_LAPSED anyway, so it is refused up front).
 */
export interface Renewal {
  validityDays: number;
  /** mail the new link to a bound invite's email (default true) */
  notify?: boolean | undefined;
  locale?: Locale | undefined;
}

export async function renewInvite(env: Env, caller: Caller, id: string, renewal: Renewal): Promise<CreatedInviteView> {
  const invite = await requireTenantInvite(env, caller.tenantId, id);
  assertMayManage(caller.role, invite);
  assertRenewable(invite);

  const ring = await inviteKeyring(env);
  const token = generateInviteToken();
  const tokenHash = await sha256Hex(token);
  const now = Date.now();
  const locale = renewal.locale ?? (invite.locale as Locale);
  const mailJobId = invite.email !== null && renewal.notify !== false ? newId() : null;
  const quota = loadConfig(env).maxPendingInvitesPerTenant;
  const db = database(env.DB);
  // The old token's mail (if still unsent) is superseded either way: a renewal without a mail shows NotRequested.
  const delivery = mailJobId
    ? queuedDelivery(mailJobId, now)
    : { deliveryStatus: "NotRequested" as const, deliveryAttempts: 0, deliveryLastAttemptAt: null, deliverySentAt: null, deliveryError: null, lastMailJobId: null };
  const update = db
    .update(invites)
    .set({
      tokenHash,
      tokenCiphertext: await encryptToken(ring, token, { inviteId: invite.id, tenantId: invite.tenantId }),
      expiresAt: now + renewal.validityDays * DAY_MS,
      updatedAt: now,
      locale,
      ...delivery,
    })
    .where(
      and(
        eq(invites.id, invite.id),
        eq(invites.tenantId, caller.tenantId),
        isNull(invites.usedAt),
        isNull(invites.revokedAt),
        // Raw SQL: the subqueries must name the outer row explicitly (`invites.`), not through an alias.
        sql`(invites.email IS NULL OR NOT EXISTS (
              SELECT 1 FROM invites AS other
              WHERE other.tenant_id = invites.tenant_id AND other.email = invites.email AND other.id <> invites.id
                AND other.used_at IS NULL AND other.revoked_at IS NULL AND other.expires_at > ${now}))`,
        sql.raw(CREATOR_STILL_GRANTS("invites")),
        // Renewing an expired invite makes it Pending again: it needs a free slot of the quota.
        sql`(invites.expires_at > ${now} OR (SELECT COUNT(*) FROM (
              SELECT 1 FROM invites AS other
              WHERE other.tenant_id = invites.tenant_id AND other.used_at IS NULL AND other.revoked_at IS NULL
                AND other.expires_at > ${now} LIMIT ${quota})) < ${quota})`,
      ),
    )
    .returning();
  // The event's condition (changes() = 1) reads the UPDATE just before it; the mail job's INSERT … SELECT only
  // matches once the UPDATE gave the invite this job id and token. One batch for all three.
  const event = eventStatements(
    env.DB,
    { tenantId: caller.tenantId, type: "invite.renewed", actor: userActor(caller.userId), data: { inviteId: invite.id, expiresAt: iso(now + renewal.validityDays * DAY_MS) }, occurredAt: now },
    { sql: "changes() = 1", params: [] },
  );
  const job =
    mailJobId && invite.email !== null
      ? inviteMailJobInsert({ id: mailJobId, kind: "invite", subjectId: invite.id, version: tokenHash, recipient: invite.email, locale, payload: { inviterEmail: caller.email }, now })
      : null;
  const [updated] = await env.DB.batch([asStatement(env.DB, update), ...event.statements, ...(job ? [asStatement(env.DB, job)] : [])]);
  const raw = updated?.results[0] as Record<string, unknown> | undefined;
  const renewed: InviteRow | undefined = raw ? fromColumns(invites, raw) : undefined;
  if (renewed) {
    if (mailJobId) await handOver(env, [mailJobId]);
    return { ...(await toInviteView(env, renewed, caller.role, now)), token };
  }

  // Refused: report what stands in the way now.
  const current = await findTenantInvite(env, caller.tenantId, invite.id);
  if (!current) throw inviteNotFound();
  assertRenewable(current);
  const pendingForEmail = () => conflict("INVITE_PENDING_FOR_EMAIL", "Another pending invite already exists for this email");
  if (current.email !== null && (await otherPendingInviteFor(env, current, now))) throw pendingForEmail();
  if (!(await creatorStillGrants(env, current))) throw authorityLapsed();
  if (current.expiresAt <= now) throw quotaExceeded(quota);
  // The competing invite stopped being pending after our UPDATE; it was pending when we tried.
  throw pendingForEmail();
}

async function otherPendingInviteFor(env: Env, invite: InviteRow, now: number): Promise<boolean> {
  const [other] = await database(env.DB)
    .select({ id: invites.id })
    .from(invites)
    .where(
      and(
        eq(invites.tenantId, invite.tenantId),
        eq(invites.email, invite.email ?? ""),
        ne(invites.id, invite.id),
        isNull(invites.usedAt),
        isNull(invites.revokedAt),
        gt(invites.expiresAt, now),
      ),
    )
    .limit(1);
  return other !== undefined;
}

/** Resend waits this long after the last accepted mail of an invite (create, renew or resend). */
export const RESEND_INTERVAL_MS = 60 * 1000;

/**
 * Mails the current link again. The interval is checked and the new send counted by the same
 * conditional UPDATE, so a double click (two concurrent requests) queues one mail and the other gets 429.
 */
export async function resendInvite(env: Env, caller: Caller, id: string, locale?: Locale): Promise<InviteView> {
  const invite = await requireTenantInvite(env, caller.tenantId, id);
  if (!mayManage(caller, invite)) throw inviteNotFound();
  assertMayManage(caller.role, invite);
  const now = Date.now();
  const notPending = () => conflict("INVITE_NOT_PENDING", `Only a pending invite can be resent; this one is ${inviteStatus(invite, now)}`);
  if (inviteStatus(invite, now) !== "Pending") throw notPending();
  if (invite.email === null) throw conflict("INVITE_NOT_EMAIL_BOUND", "This invite is not bound to an email address, so there is nobody to mail it to");

  const mailJobId = newId();
  const mailLocale = locale ?? (invite.locale as Locale);
  const db = database(env.DB);
  const update = db
    .update(invites)
    .set({ ...queuedDelivery(mailJobId, now), locale: mailLocale, updatedAt: now })
    .where(
      and(
        eq(invites.id, invite.id),
        eq(invites.tokenHash, invite.tokenHash),
        isNull(invites.usedAt),
        isNull(invites.revokedAt),
        gt(invites.expiresAt, now),
        sql`(${invites.lastMailRequestedAt} IS NULL OR ${invites.lastMailRequestedAt} <= ${now - RESEND_INTERVAL_MS})`,
      ),
    )
    .returning();
  const job = inviteMailJobInsert({
    id: mailJobId,
    kind: "invite",
    subjectId: invite.id,
    version: invite.tokenHash,
    recipient: invite.email,
    locale: mailLocale,
    payload: { inviterEmail: caller.email },
    now,
  });
  // invite.resent is written only if this very request queued the mail (the invite names its job).
  const event = eventStatements(
    env.DB,
    { tenantId: invite.tenantId, type: "invite.resent", actor: userActor(caller.userId), data: { inviteId: invite.id }, occurredAt: now },
    { sql: "EXISTS (SELECT 1 FROM invites WHERE id = ? AND last_mail_job_id = ?)", params: [invite.id, mailJobId] },
  );
  const [updated] = await env.DB.batch([asStatement(env.DB, update), asStatement(env.DB, job), ...event.statements]);
  const raw = updated?.results[0] as Record<string, unknown> | undefined;
  if (raw) {
    await handOver(env, [mailJobId]);
    return withoutPrivateMetadataFor(caller.role, await toInviteView(env, fromColumns(invites, raw), caller.role, now));
  }

  const current = await findTenantInvite(env, caller.tenantId, invite.id);
  if (!current) throw inviteNotFound();
  if (inviteStatus(current, now) !== "Pending") throw notPending();
  // Still pending: the interval refused it (or a renewal raced it, which queued its own mail just now).
  const waitMs = (current.lastMailRequestedAt ?? now) + RESEND_INTERVAL_MS - now;
  const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
  throw new ApiError(
    429,
    "RATE_LIMITED",
    `This invite was mailed less than ${RESEND_INTERVAL_MS / 1000} seconds ago; retry in ${retryAfter} seconds`,
    { retryAfterSeconds: retryAfter },
    { "Retry-After": String(retryAfter) },
  );
}
