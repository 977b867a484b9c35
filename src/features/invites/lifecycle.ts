import { and, eq, gt, isNull, ne, sql } from "drizzle-orm";
import { asStatement, database } from "../../db/client";
import { userActor } from "../../events/catalogue";
import { eventStatements } from "../../events/record";
import { invites, tenants, type InviteRole, type InviteRow, type Role } from "../../db/schema";
import type { Env } from "../../env";
import type { Caller } from "../../http/app-env";
import { ApiError, conflict, notFound } from "../../http/errors";
import { UUID_PATTERN } from "../../lib/ids";
import { DAY_MS, iso } from "../../lib/time";
import { encryptToken, generateInviteToken, INVITE_TOKEN_PATTERN, sha256Hex } from "../../security/tokens";
import { inviteKeyring, inviteStatus, toInviteView, type CreatedInviteView, type InviteStatus, type InviteView } from "./service";

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
}

/** Read-only on purpose: a mail scanner that opens the link must not change anything. */
export async function previewInvite(env: Env, token: string): Promise<InvitePreview> {
  if (!INVITE_TOKEN_PATTERN.test(token)) throw inviteNotFound();
  const [row] = await database(env.DB)
    .select({ invite: invites, tenantName: tenants.name })
    .from(invites)
    .innerJoin(tenants, eq(tenants.id, invites.tenantId))
    .where(eq(invites.tokenHash, await sha256Hex(token)))
    .limit(1);
  if (!row) throw inviteNotFound();
  return {
    tenantName: row.tenantName,
    targetRole: row.invite.targetRole,
    expiresAt: iso(row.invite.expiresAt),
    status: inviteStatus(row.invite, Date.now()),
    email: row.invite.email === null ? null : maskEmail(row.invite.email),
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

export async function getInvite(env: Env, caller: Caller, id: string): Promise<InviteView> {
  return toInviteView(env, await requireTenantInvite(env, caller.tenantId, id), caller.role);
}

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

const authorityLapsed = () =>
  conflict("INVITE_AUTHORITY_LAPSED", "The Owner who issued this Admin invite no longer holds that authority; create a new invite");

/**
 * A fresh token and expiry on the same row: the old token's hash is overwritten, so it matches
 * nothing from this moment on. Pending and expired invites may be renewed. The UPDATE re-checks
 * in SQL everything a concurrent request could change: still unused and unrevoked, no other
 * pending invite for the bound email (one may have been created after this one expired), and for
 * an Admin invite a creator who is still an active Owner (a renewed invite would fail redemption
 * with INVITE_AUTHORITY_LAPSED anyway, so it is refused up front).
 */
export async function renewInvite(env: Env, caller: Caller, id: string, validityDays: number): Promise<CreatedInviteView> {
  const invite = await requireTenantInvite(env, caller.tenantId, id);
  assertMayManage(caller.role, invite);
  assertRenewable(invite);

  const ring = await inviteKeyring(env);
  const token = generateInviteToken();
  const now = Date.now();
  const fresh = {
    tokenHash: await sha256Hex(token),
    tokenCiphertext: await encryptToken(ring, token, { inviteId: invite.id, tenantId: invite.tenantId }),
    expiresAt: now + validityDays * DAY_MS,
    updatedAt: now,
  };
  const update = database(env.DB)
    .update(invites)
    .set(fresh)
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
        sql`(invites.target_role <> 'Admin' OR EXISTS (
              SELECT 1 FROM memberships AS creator
              WHERE creator.account_id = invites.created_by AND creator.tenant_id = invites.tenant_id
                AND creator.role = 'Owner' AND creator.status = 'Active'))`,
      ),
    )
    .returning({ id: invites.id });
  const event = eventStatements(
    env.DB,
    { tenantId: caller.tenantId, type: "invite.renewed", actor: userActor(caller.userId), data: { inviteId: invite.id, expiresAt: iso(fresh.expiresAt) }, occurredAt: now },
    { sql: "changes() = 1", params: [] },
  );
  const [renewed] = await env.DB.batch([asStatement(env.DB, update), ...event.statements]);
  if (renewed?.results.length === 1) return { ...(await toInviteView(env, { ...invite, ...fresh }, caller.role, now)), token };

  // Refused: report what stands in the way now.
  const current = await findTenantInvite(env, caller.tenantId, invite.id);
  if (!current) throw inviteNotFound();
  assertRenewable(current);
  const pendingForEmail = () => conflict("INVITE_PENDING_FOR_EMAIL", "Another pending invite already exists for this email");
  if (current.email !== null && (await otherPendingInviteFor(env, current, now))) throw pendingForEmail();
  if (current.targetRole === "Admin") throw authorityLapsed();
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
