import { and, asc, count, desc, eq, inArray, sql, type SQL } from "drizzle-orm";
import { asStatement, database, uniqueViolation } from "../../db/client";
import { publicActor, userActor, type Actor } from "../../events/catalogue";
import { eventStatements, eventsStatements, type NewEvent } from "../../events/record";
import { accounts, invites, memberships, tenants, type InviteDeliveryStatus, type InviteRole, type InviteRow, type Role } from "../../db/schema";
import { ConfigError, passwordPeppers, requireSecret, type Env } from "../../env";
import type { Caller } from "../../http/app-env";
import { authorityQuery, type Authorize } from "../../http/authenticate";
import type { VerifiedAccessToken } from "../../security/jwt";
import { ApiError, conflict, notFound } from "../../http/errors";
import type { Page, SortDirection } from "../../http/pagination";
import { newId } from "../../lib/ids";
import { DEFAULT_LOCALE, type Locale } from "../../lib/locale";
import { DAY_MS, iso, isoOrNull } from "../../lib/time";
import { handOver, inviteMailJobInsert } from "../../outbox/mail-jobs";
import { isEmailVerified, verificationMail } from "../email-verification/service";
import { hashPassword } from "../../security/passwords";
import {
  ciphertextPrefix,
  decryptToken,
  encryptToken,
  generateInviteToken,
  INVITE_TOKEN_PATTERN,
  isLegacyCiphertext,
  loadTokenKeyring,
  sha256Hex,
  TokenDecryptionError,
  type TokenKeyring,
} from "../../security/tokens";

export const INVITE_STATUSES = ["Pending", "Used", "Expired", "Revoked"] as const;
export type InviteStatus = (typeof INVITE_STATUSES)[number];
export const INVITE_SORT_FIELDS = ["id", "createdAt", "expiresAt", "usedAt", "status", "targetRole"] as const;
export type InviteSortField = (typeof INVITE_SORT_FIELDS)[number];

export interface InviteView {
  id: string;
  tenantId: string;
  /** null when the stored ciphertext cannot be opened (a retired key, a damaged or moved row) */
  token: string | null;
  targetRole: InviteRole;
  expiresAt: string;
  usedAt: string | null;
  status: InviteStatus;
  createdAt: string;
  email: string | null;
  createdBy: string;
  revokedAt: string | null;
  updatedAt: string;
  locale: Locale;
  delivery: InviteDelivery;
}

/** The invite mail of the current token (§2.7); NotRequested for unbound invites and `notify: false`. */
export interface InviteDelivery {
  status: InviteDeliveryStatus;
  attempts: number;
  lastAttemptAt: string | null;
  sentAt: string | null;
  error: string | null;
}

/** What create and renew return: the token just minted, never null. */
export type CreatedInviteView = InviteView & { token: string };

export interface RegisteredUser {
  id: string;
  tenantId: string;
  email: string;
  status: "Active";
  role: InviteRole;
  createdAt: string;
  updatedAt: string;
}

export function inviteStatus(invite: Pick<InviteRow, "usedAt" | "revokedAt" | "expiresAt">, now: number): InviteStatus {
  if (invite.revokedAt !== null) return "Revoked";
  if (invite.usedAt !== null) return "Used";
  if (invite.expiresAt <= now) return "Expired";
  return "Pending";
}

/** The same derivation in SQL, as the status's index in INVITE_STATUSES (for filters and sorting). */
const statusCode = (now: number) =>
  sql<number>`(CASE WHEN ${invites.revokedAt} IS NOT NULL THEN 3 WHEN ${invites.usedAt} IS NOT NULL THEN 1 WHEN ${invites.expiresAt} <= ${now} THEN 2 ELSE 0 END)`;

function statusCondition(status: InviteStatus, now: number): SQL {
  switch (status) {
    case "Pending":
      return sql`${invites.revokedAt} IS NULL AND ${invites.usedAt} IS NULL AND ${invites.expiresAt} > ${now}`;
    case "Used":
      return sql`${invites.revokedAt} IS NULL AND ${invites.usedAt} IS NOT NULL`;
    case "Expired":
      return sql`${invites.revokedAt} IS NULL AND ${invites.usedAt} IS NULL AND ${invites.expiresAt} <= ${now}`;
    case "Revoked":
      return sql`${invites.revokedAt} IS NOT NULL`;
  }
}

/** INVITE_TOKEN_KEY and INVITE_TOKEN_PREVIOUS_KEYS, imported once per isolate. */
export async function inviteKeyring(env: Env): Promise<TokenKeyring> {
  const current = requireSecret(env, "INVITE_TOKEN_KEY");
  try {
    return await loadTokenKeyring(current, env.INVITE_TOKEN_PREVIOUS_KEYS);
  } catch (error) {
    // A malformed key is an operator error: the 500 names the setting (never the value).
    throw new ConfigError(`Secret ${error instanceof Error ? error.message : String(error)} (see README, "Configuration")`);
  }
}

/**
 * The invite's token, or null if its ciphertext does not open: one bad row must never fail a page.
 * A legacy ciphertext carries no row binding, so its plaintext must also match the row's token hash.
 */
async function openInviteToken(ring: TokenKeyring, invite: InviteRow): Promise<string | null> {
  try {
    const token = await decryptToken(ring, invite.tokenCiphertext, { inviteId: invite.id, tenantId: invite.tenantId });
    if (isLegacyCiphertext(invite.tokenCiphertext) && (await sha256Hex(token)) !== invite.tokenHash) {
      throw new TokenDecryptionError("A legacy ciphertext from another row", "legacy");
    }
    return token;
  } catch (error) {
    // Never the ciphertext itself: the id is enough to find the row.
    console.warn(
      JSON.stringify({
        msg: "invite token undecryptable",
        inviteId: invite.id,
        tenantId: invite.tenantId,
        kid: error instanceof TokenDecryptionError ? error.kid : "unknown",
        reason: error instanceof Error ? error.message : String(error),
      }),
    );
    return null;
  }
}

/**
 * The invite as `viewerRole` may see it. The token is shown only to those who may grant the invite's
 * role: an Admin reading an Owner's Admin invite gets `token: null`, or they could redeem it and mint
 * a second Admin (an account that outlives their own deactivation).
 */
export async function toInviteView(env: Env, invite: InviteRow, viewerRole: Role, now = Date.now()): Promise<InviteView> {
  const ring = await inviteKeyring(env);
  return {
    id: invite.id,
    tenantId: invite.tenantId,
    token: mayAssign(viewerRole, invite.targetRole) ? await openInviteToken(ring, invite) : null,
    targetRole: invite.targetRole,
    expiresAt: iso(invite.expiresAt),
    usedAt: isoOrNull(invite.usedAt),
    status: inviteStatus(invite, now),
    createdAt: iso(invite.createdAt),
    email: invite.email,
    createdBy: invite.createdBy,
    revokedAt: isoOrNull(invite.revokedAt),
    updatedAt: iso(invite.updatedAt),
    locale: invite.locale as Locale,
    delivery: {
      status: invite.deliveryStatus,
      attempts: invite.deliveryAttempts,
      lastAttemptAt: isoOrNull(invite.deliveryLastAttemptAt),
      sentAt: isoOrNull(invite.deliverySentAt),
      error: invite.deliveryError,
    },
  };
}

/** The invite columns that (re)start its mail: a fresh job, counted as accepted now. */
export function queuedDelivery(jobId: string, now: number) {
  return {
    deliveryStatus: "Queued" as const,
    deliveryAttempts: 0,
    deliveryLastAttemptAt: null,
    deliverySentAt: null,
    deliveryError: null,
    lastMailRequestedAt: now,
    lastMailJobId: jobId,
  };
}

/** Only an Owner grants Admin; nobody is ever invited as Owner (rejected by the request schema). */
export const mayAssign = (callerRole: Role, targetRole: InviteRole): boolean => targetRole !== "Admin" || callerRole === "Owner";

export function assertMayAssign(callerRole: Role, targetRole: InviteRole): void {
  if (!mayAssign(callerRole, targetRole)) {
    throw new ApiError(403, "ROLE_NOT_ASSIGNABLE", "Only an Owner can invite an Admin");
  }
}

export interface NewInvite {
  validityDays: number;
  role: InviteRole;
  email?: string | undefined;
  /** mail the link to `email` (default true); meaningless without one */
  notify?: boolean | undefined;
  locale?: Locale | undefined;
}

/**
 * One D1 call: the INSERT itself requires the caller's authority — an active Owner or Admin membership
 * of the token's tenant, an Owner for an Admin invite — so a demotion committed before it stops it,
 * however recently the caller's role was read anywhere else. It also requires that no other invite
 * for a bound email is pending (a rule no unique index can express: it moves with the clock).
 * Only a refused insert reads more (`settle`: the caller's authority, which throws 401/403/404) to say why.
 */
export async function createInvite(env: Env, claims: VerifiedAccessToken, input: NewInvite, settle: () => Promise<Caller>): Promise<CreatedInviteView> {
  const ring = await inviteKeyring(env);
  for (let attempt = 1; ; attempt++) {
    const token = generateInviteToken();
    const now = Date.now();
    const id = newId();
    const mailJobId = input.email !== undefined && input.notify !== false ? newId() : null;
    const tokenHash = await sha256Hex(token);
    const row: InviteRow = {
      id,
      tenantId: claims.tenantId,
      tokenHash,
      tokenCiphertext: await encryptToken(ring, token, { inviteId: id, tenantId: claims.tenantId }),
      targetRole: input.role,
      email: input.email ?? null,
      createdBy: claims.userId,
      expiresAt: now + input.validityDays * DAY_MS,
      usedAt: null,
      usedBy: null,
      revokedAt: null,
      createdAt: now,
      updatedAt: now,
      locale: input.locale ?? DEFAULT_LOCALE,
      deliveryStatus: "NotRequested",
      deliveryAttempts: 0,
      deliveryLastAttemptAt: null,
      deliverySentAt: null,
      deliveryError: null,
      lastMailRequestedAt: null,
      lastMailJobId: null,
      ...(mailJobId ? queuedDelivery(mailJobId, now) : {}),
    };
    const event = eventStatements(
      env.DB,
      {
        tenantId: claims.tenantId,
        type: "invite.created",
        actor: userActor(claims.userId),
        data: { inviteId: id, targetRole: row.targetRole, email: row.email, expiresAt: iso(row.expiresAt) },
        occurredAt: now,
      },
      { sql: "EXISTS (SELECT 1 FROM invites WHERE id = ?)", params: [id] },
    );
    // The mail job is only inserted if the invite was (src/outbox/mail-jobs.ts); the inviter's email
    // is read inside that statement, so the whole create stays one D1 call.
    const job = mailJobId && row.email !== null
      ? inviteMailJobInsert({
          id: mailJobId,
          kind: "invite",
          subjectId: row.id,
          version: tokenHash,
          recipient: row.email,
          locale: row.locale as Locale,
          payloadSql: sql`json_object('inviterEmail', (SELECT email FROM accounts WHERE id = ${row.createdBy}))`,
          now,
        })
      : null;
    // RETURNING, not meta.changes: D1's change count includes the rows the invite-count trigger touches.
    // The event and mail-job statements are conditional on the invite row, so a refused insert writes nothing.
    const [inserted] = await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO invites (id, tenant_id, token_hash, token_ciphertext, target_role, email, created_by,
                              expires_at, used_at, used_by, revoked_at, created_at, updated_at, locale,
                              delivery_status, last_mail_requested_at, last_mail_job_id)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, NULL, NULL, ?9, ?9, ?10, ?11, ?12, ?13
         WHERE EXISTS (
           SELECT 1 FROM memberships m JOIN tenants t ON t.id = m.tenant_id
           WHERE m.account_id = ?7 AND m.tenant_id = ?2 AND m.status = 'Active'
             AND m.role IN ('Owner', 'Admin') AND (?5 <> 'Admin' OR m.role = 'Owner'))
         AND (?6 IS NULL OR NOT EXISTS (
           SELECT 1 FROM invites WHERE tenant_id = ?2 AND email = ?6 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?9))
         RETURNING id`,
      ).bind(row.id, row.tenantId, row.tokenHash, row.tokenCiphertext, row.targetRole, row.email, row.createdBy, row.expiresAt, now,
        row.locale, row.deliveryStatus, row.lastMailRequestedAt, row.lastMailJobId),
      ...event.statements,
      ...(job ? [asStatement(env.DB, job)] : []),
    ]);
    if (inserted?.results.length === 1) {
      if (mailJobId) await handOver(env, [mailJobId]);
      // Inserted, so the caller may grant this role (the statement required it): the token is theirs to see.
      return { ...(await toInviteView(env, row, "Owner", now)), token };
    }
    const caller = await settle();
    assertMayAssign(caller.role, input.role);
    if (row.email !== null) throw conflict("INVITE_PENDING_FOR_EMAIL", "A pending invite already exists for this email");
    // The authority was missing when the insert ran and holds now (granted meanwhile): try once more.
    if (attempt === 2) throw conflict("CONFLICT", "Your role changed while the invite was being created; retry");
  }
}

export interface InviteListQuery {
  page: number;
  perPage: number;
  sortField: InviteSortField;
  direction: SortDirection;
  status?: InviteStatus | undefined;
}

/**
 * One D1 call: the caller's authority and the page in one batch, scoped by the verified token's tenant;
 * nothing is decrypted or returned unless `authorize` accepts the authority row.
 */
export async function listInvites(env: Env, claims: VerifiedAccessToken, query: InviteListQuery, authorize: Authorize): Promise<Page<InviteView>> {
  const db = database(env.DB);
  const tenantId = claims.tenantId;
  const now = Date.now();
  const where = and(eq(invites.tenantId, tenantId), query.status ? statusCondition(query.status, now) : undefined);
  const sortColumn = {
    id: invites.id,
    createdAt: invites.createdAt,
    expiresAt: invites.expiresAt,
    usedAt: invites.usedAt,
    targetRole: invites.targetRole,
    status: statusCode(now),
  }[query.sortField];
  const order = query.direction === "asc" ? asc : desc;
  const ordering = [order(sortColumn), order(invites.id)];
  // The page's ids come from an index first, so rows skipped by OFFSET are read once, not twice.
  const pageIds = db
    .select({ id: invites.id })
    .from(invites)
    .where(where)
    .orderBy(...ordering)
    .limit(query.perPage)
    .offset((query.page - 1) * query.perPage);
  const [[authority], [counted], rows] = await db.batch([
    authorityQuery(db, claims),
    // Unfiltered: the trigger-kept tenants.invite_count (no scan). Filtered by status, which moves with
    // the clock: a COUNT, which for Pending/Expired reads only open invites (invites_tenant_open_idx).
    query.status
      ? db.select({ total: count() }).from(invites).where(where)
      : db.select({ total: tenants.inviteCount }).from(tenants).where(eq(tenants.id, tenantId)),
    db.select().from(invites).where(inArray(invites.id, pageIds)).orderBy(...ordering),
  ]);
  const caller = authorize(authority);
  return {
    total: counted?.total ?? 0,
    items: await Promise.all(rows.map((row) => toInviteView(env, row, caller.role, now))),
  };
}

const inviteNotFound = () => notFound("INVITE_NOT_FOUND", "No invite matches this token");

/** Throws the 409 that explains why `invite` cannot be redeemed now, if it cannot. */
function assertRedeemable(invite: InviteRow, now: number): void {
  switch (inviteStatus(invite, now)) {
    case "Used":
      throw conflict("INVITE_USED", "This invite has already been used");
    case "Revoked":
      throw conflict("INVITE_REVOKED", "This invite has been revoked");
    case "Expired":
      throw conflict("INVITE_EXPIRED", `This invite expired on ${iso(invite.expiresAt)}`);
    case "Pending":
      return;
  }
}

export async function findInviteByToken(env: Env, token: string): Promise<InviteRow | null> {
  if (!INVITE_TOKEN_PATTERN.test(token)) return null;
  const [invite] = await database(env.DB)
    .select()
    .from(invites)
    .where(eq(invites.tokenHash, await sha256Hex(token)))
    .limit(1);
  return invite ?? null;
}

/**
 * SQL over an invite aliased `i`: an invite counts only while its creator still holds the authority
 * to issue it — an Active membership in its tenant as Owner, or as Admin for a Developer/Viewer
 * invite. Deactivating, demoting (below Admin, or an Owner's Admin invite once they are no longer
 * Owner) or removing the creator stops every invite they issued, whatever its role: checked inside
 * the redemption batch, so a demotion racing a registration cannot slip between check and write.
 */
export const CREATOR_STILL_GRANTS = (invite: string) => `EXISTS (
  SELECT 1 FROM memberships c WHERE c.account_id = ${invite}.created_by AND c.tenant_id = ${invite}.tenant_id
    AND c.status = 'Active' AND (c.role = 'Owner' OR (c.role = 'Admin' AND ${invite}.target_role <> 'Admin')))`;

/** SQL over an invite aliased `i`, with ?4 = now: redeemable by the token presented (?6) right now. */
const REDEEMABLE = `i.id = ?5 AND i.token_hash = ?6 AND i.used_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ?4
  AND (i.email IS NULL OR i.email = ?2)
  AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = i.tenant_id)
  AND ${CREATOR_STILL_GRANTS("i")}`;

/** The same check as CREATOR_STILL_GRANTS, to explain a refusal. */
export async function creatorStillGrants(env: Env, invite: Pick<InviteRow, "id">): Promise<boolean> {
  const rows = await database(env.DB).all<{ id: string }>(sql`SELECT i.id FROM invites i WHERE i.id = ${invite.id} AND ${sql.raw(CREATOR_STILL_GRANTS("i"))}`);
  return rows.length === 1;
}

export const authorityLapsed = () =>
  conflict("INVITE_AUTHORITY_LAPSED", "Whoever issued this invite no longer holds the authority to grant its role (deactivated, demoted or removed); ask for a new invite");

const emailMismatch = () => conflict("EMAIL_MISMATCH", "This invite was issued for a different email address");
export const emailTaken = () =>
  conflict("EMAIL_TAKEN", "This email is already registered; sign in with it and accept the invite instead (POST /api/v1/invites/{token}/accept)");
const alreadyMember = () => conflict("ALREADY_MEMBER", "You are already a member of this invite's tenant; the invite stays pending");

interface Redeemer {
  email: string;
  /** set when an existing account accepts; absent for a registration */
  accountId?: string;
}

/** Why a redemption batch wrote nothing: checked in the order a user would want to hear it. */
async function explainRefusal(env: Env, invite: InviteRow, redeemer: Redeemer, now: number): Promise<never> {
  assertRedeemable(invite, now);
  if (invite.email !== null && invite.email !== redeemer.email) throw emailMismatch();
  if (redeemer.accountId !== undefined && (await isMember(env, invite.tenantId, redeemer.accountId))) throw alreadyMember();
  if (!(await creatorStillGrants(env, invite))) throw authorityLapsed();
  const [tenant] = await database(env.DB).select({ id: tenants.id }).from(tenants).where(eq(tenants.id, invite.tenantId)).limit(1);
  if (!tenant) throw inviteNotFound();
  if (redeemer.accountId === undefined) {
    const [holder] = await database(env.DB).select({ id: accounts.id }).from(accounts).where(eq(accounts.email, redeemer.email)).limit(1);
    if (holder) throw emailTaken();
  }
  // The invite changed between our read and the batch: report what it is now.
  const [fresh] = await database(env.DB).select().from(invites).where(eq(invites.id, invite.id)).limit(1);
  // Renewed meanwhile: the token presented matches nothing any more.
  if (!fresh || fresh.tokenHash !== invite.tokenHash) throw inviteNotFound();
  assertRedeemable(fresh, Date.now());
  throw conflict("INVITE_USED", "This invite has already been used");
}

async function isMember(env: Env, tenantId: string, accountId: string): Promise<boolean> {
  const [row] = await database(env.DB)
    .select({ id: memberships.accountId })
    .from(memberships)
    .where(and(eq(memberships.tenantId, tenantId), eq(memberships.accountId, accountId)))
    .limit(1);
  return row !== undefined;
}

/** invite.accepted + member.added, written only if this very batch took the invite (used_by, used_at). */
function redemptionEvents(env: Env, invite: InviteRow, member: { accountId: string; email: string }, actor: Actor, via: "register" | "accept", now: number) {
  const base = { tenantId: invite.tenantId, actor, occurredAt: now };
  return eventsStatements(
    env.DB,
    [
      { ...base, type: "invite.accepted", data: { inviteId: invite.id, memberId: member.accountId, role: invite.targetRole, via } },
      { ...base, type: "member.added", data: { memberId: member.accountId, email: member.email, role: invite.targetRole, inviteId: invite.id } },
    ] as NewEvent[],
    { sql: "EXISTS (SELECT 1 FROM invites WHERE id = ? AND used_by = ? AND used_at = ?)", params: [invite.id, member.accountId, now] },
  );
}

export interface Registration {
  email: string;
  password: string;
}

/** Refusals known from the invite alone, checked before any expensive work. */
async function redeemableInvite(env: Env, token: string, email: string, now: number): Promise<InviteRow> {
  const invite = await findInviteByToken(env, token);
  if (!invite) throw inviteNotFound();
  assertRedeemable(invite, now);
  if (invite.email !== null && invite.email !== email) throw emailMismatch();
  return invite;
}

/**
 * Creates the account and its membership and marks the invite used in one D1 batch. Every statement
 * re-checks that the invite is still redeemable — by the token presented, so a renewal landing
 * between our read and the batch kills the old token — so under any concurrency (registers and
 * accepts alike) exactly one caller wins; a unique-email violation aborts the batch and leaves the
 * invite Pending.
 */
export async function redeemInvite(env: Env, token: string, input: Registration): Promise<RegisteredUser> {
  const now = Date.now();
  const invite = await redeemableInvite(env, token, input.email, now);
  const accountId = newId();
  const passwordHash = await hashPassword(input.password, await passwordPeppers(env));
  // An invite mailed to its bound address proves the mailbox: the account starts verified. Any other
  // registration gets a verification mail, in the same batch (its statements match only if the account was made).
  const verifiedAt = invite.email !== null && invite.deliverySentAt !== null ? now : null;
  const verification = verifiedAt === null ? await verificationMail(env, { id: accountId }, invite.locale as Locale, now) : null;
  let inserted: number;
  try {
    // Raw D1 statements: drizzle's batch() cannot carry INSERT … SELECT with these conditions.
    const [insertAccount] = await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO accounts (id, email, password_hash, email_verified_at, last_tenant_id, created_at, updated_at)
         SELECT ?1, ?2, ?3, ?7, i.tenant_id, ?4, ?4 FROM invites i WHERE ${REDEEMABLE}`,
      ).bind(accountId, input.email, passwordHash, now, invite.id, invite.tokenHash, verifiedAt),
      env.DB.prepare(
        `INSERT INTO memberships (tenant_id, account_id, email, role, status, created_at, updated_at)
         SELECT i.tenant_id, ?1, ?2, i.target_role, 'Active', ?3, ?3 FROM invites i
         WHERE i.id = ?4 AND EXISTS (SELECT 1 FROM accounts WHERE id = ?1)`,
      ).bind(accountId, input.email, now, invite.id),
      env.DB.prepare(
        `UPDATE invites SET used_at = ?1, used_by = ?2, updated_at = ?1
         WHERE id = ?3 AND used_at IS NULL AND EXISTS (SELECT 1 FROM accounts WHERE id = ?2)`,
      ).bind(now, accountId, invite.id),
      ...redemptionEvents(env, invite, { accountId, email: input.email }, publicActor, "register", now),
      ...(verification?.statements ?? []),
    ]);
    inserted = insertAccount?.meta.changes ?? 0;
  } catch (error) {
    if (uniqueViolation(error) === "accounts.email") throw emailTaken();
    throw error;
  }
  if (inserted !== 1) return explainRefusal(env, invite, { email: input.email }, now);
  if (verification) await handOver(env, [verification.jobId]);
  return {
    id: accountId,
    tenantId: invite.tenantId,
    email: input.email,
    status: "Active",
    role: invite.targetRole,
    createdAt: iso(now),
    updatedAt: iso(now),
  };
}

/**
 * `POST /invites/{token}/accept`: an existing account joins the invite's tenant. One D1 batch: the
 * invite is taken first, conditional on it being redeemable by this token and on the account not
 * being a member already, and the membership is inserted only from an invite this very request
 * took (`used_by`, `used_at`). So of any number of concurrent accepts and registers exactly one
 * wins, and a refused accept (ALREADY_MEMBER included) leaves the invite Pending.
 */
export async function acceptInvite(env: Env, caller: Caller, token: string): Promise<RegisteredUser> {
  const now = Date.now();
  const invite = await redeemableInvite(env, token, caller.email, now);
  if (await isMember(env, invite.tenantId, caller.userId)) throw alreadyMember();
  // Otherwise whoever registered someone else's address first could collect every invite sent to it.
  if (invite.email !== null && !(await isEmailVerified(env, caller.userId))) {
    throw new ApiError(403, "EMAIL_NOT_VERIFIED", "Verify your email address before accepting an invite sent to it (see POST /api/v1/auth/verify-email/resend)");
  }
  const [taken] = await env.DB.batch([
    env.DB.prepare(
      // ?3 is unused here (REDEEMABLE numbers its parameters for the register statement).
      `UPDATE invites AS i SET used_at = ?4, used_by = ?1, updated_at = ?4
       WHERE ${REDEEMABLE}
         AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = i.tenant_id AND m.account_id = ?1)
       RETURNING id`,
    ).bind(caller.userId, caller.email, null, now, invite.id, invite.tokenHash),
    env.DB.prepare(
      `INSERT INTO memberships (tenant_id, account_id, email, role, status, created_at, updated_at)
       SELECT i.tenant_id, ?1, ?2, i.target_role, 'Active', ?3, ?3 FROM invites i
       WHERE i.id = ?4 AND i.used_by = ?1 AND i.used_at = ?3`,
    ).bind(caller.userId, caller.email, now, invite.id),
    ...redemptionEvents(env, invite, { accountId: caller.userId, email: caller.email }, userActor(caller.userId), "accept", now),
  ]);
  if (taken?.results.length !== 1) return explainRefusal(env, invite, { email: caller.email, accountId: caller.userId }, now);
  return {
    id: caller.userId,
    tenantId: invite.tenantId,
    email: caller.email,
    status: "Active",
    role: invite.targetRole,
    createdAt: iso(now),
    updatedAt: iso(now),
  };
}

export interface ReencryptOptions {
  /** rows read per statement */
  batchSize?: number;
  /** statements per run; whatever is left waits for the next run */
  maxBatches?: number;
}

export interface ReencryptResult {
  /** rows moved to the current key (with their row binding) */
  reencrypted: number;
  /** rows no configured key opens; they show `token: null` and are left as they are */
  undecryptable: number;
  /** false when maxBatches ran out before the table did */
  complete: boolean;
}

/**
 * Moves invite-token ciphertexts written under a previous key, or in the legacy format (no key id,
 * no row binding), to the current key. SQL cannot do this (the key is a secret), so the scheduled
 * handler runs it in bounded batches: keyset pages by id over the rows not yet under the current
 * key, each row rewritten only if its ciphertext is still the one read (a renewal meanwhile wins).
 */
export async function reencryptInviteTokens(env: Env, options: ReencryptOptions = {}): Promise<ReencryptResult> {
  const batchSize = options.batchSize ?? 200;
  const maxBatches = options.maxBatches ?? 25;
  const ring = await inviteKeyring(env);
  // Only rows some key of the ring can open: legacy ones (no '.') and those under a previous key id.
  // Rows under a key no longer configured are skipped, so they never use up a run's budget.
  const previousPrefixes = JSON.stringify(ring.keys.filter((key) => key !== ring.current).map(ciphertextPrefix));
  const select = env.DB.prepare(
    `SELECT id, tenant_id, token_hash, token_ciphertext FROM invites
     WHERE id > ?1 AND (instr(token_ciphertext, '.') = 0 OR substr(token_ciphertext, 1, 12) IN (SELECT value FROM json_each(?2)))
     ORDER BY id LIMIT ?3`,
  );
  const update = env.DB.prepare("UPDATE invites SET token_ciphertext = ?1 WHERE id = ?2 AND token_ciphertext = ?3");
  let cursor = "";
  let reencrypted = 0;
  let undecryptable = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const { results } = await select
      .bind(cursor, previousPrefixes, batchSize)
      .all<{ id: string; tenant_id: string; token_hash: string; token_ciphertext: string }>();
    const writes: D1PreparedStatement[] = [];
    for (const row of results) {
      const invite = { id: row.id, tenantId: row.tenant_id, tokenHash: row.token_hash, tokenCiphertext: row.token_ciphertext } as InviteRow;
      const token = await openInviteToken(ring, invite);
      if (token === null) {
        undecryptable++;
        continue;
      }
      const sealed = await encryptToken(ring, token, { inviteId: row.id, tenantId: row.tenant_id });
      writes.push(update.bind(sealed, row.id, row.token_ciphertext));
    }
    if (writes.length > 0) {
      const outcomes = await env.DB.batch(writes);
      reencrypted += outcomes.filter((outcome) => outcome.meta.changes > 0).length;
    }
    if (results.length < batchSize) return { reencrypted, undecryptable, complete: true };
    cursor = results[results.length - 1]!.id;
  }
  return { reencrypted, undecryptable, complete: false };
}
