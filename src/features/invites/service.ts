import { and, count, eq, inArray, sql, type SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { database, uniqueViolation } from "../../db/client";
import { publicActor, userActor, type Actor } from "../../events/catalogue";
import { eventStatements, eventsStatements, type NewEvent } from "../../events/record";
import { accounts, invites, memberships, tenants, type InviteDeliveryStatus, type InviteRole, type InviteRow, type Role } from "../../db/schema";
import { ConfigError, loadConfig, passwordPeppers, requireSecret, type Env } from "../../env";
import type { Caller } from "../../http/app-env";
import { cursorPage, idRange, type CursorPage, type CursorRequest } from "../../http/cursor";
import { authorityQuery, type AuthorityRow, type Authorize } from "../../http/authenticate";
import type { VerifiedAccessToken } from "../../security/jwt";
import { ApiError, conflict, forbidden, notFound } from "../../http/errors";
import {
  encodeCursor,
  readPage,
  type CursorKey,
  type CursorKeyKind,
  type CursorPageOf,
  type KeysetColumn,
  type PageStart,
  type SortDirection,
} from "../../http/pagination";
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
  uses: number;
  maxUses: number;
  allowedDomains: string[] | null;
  redirectUrl: string | null;
  publicMetadata: Record<string, unknown> | null;
  /** Owners and Admins only */
  privateMetadata: Record<string, unknown> | null;
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
  /** where the invitee goes next (the invite's redirectUrl), or null */
  redirectUrl: string | null;
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
    uses: invite.uses,
    maxUses: invite.maxUses,
    allowedDomains: invite.allowedDomains,
    redirectUrl: invite.redirectUrl,
    publicMetadata: invite.publicMetadata,
    privateMetadata: invite.privateMetadata,
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
  maxUses?: number | undefined;
  allowedDomains?: string[] | undefined;
  redirectUrl?: string | undefined;
  publicMetadata?: Record<string, unknown> | undefined;
  privateMetadata?: Record<string, unknown> | undefined;
}

/** The redirect URL's origin must be one of the tenant's redirectOrigins. */
const REDIRECT_REFUSAL = { code: "REDIRECT_NOT_ALLOWED", message: "redirectUrl must point at one of the tenant's redirectOrigins", fields: { redirectUrl: ["origin not in the tenant's redirectOrigins"] } };
export const redirectNotAllowed = (redirectOrigins: string[]) =>
  new ApiError(400, REDIRECT_REFUSAL.code, REDIRECT_REFUSAL.message, { fields: REDIRECT_REFUSAL.fields, redirectOrigins });
const changedMeanwhile = () => conflict("CONFLICT", "The tenant's invites or your role changed meanwhile; retry");

const json = (value: unknown) => (value === null ? null : JSON.stringify(value));

/**
 * The conditional insert of a new invite: one statement that checks every rule as it writes, so
 * concurrent creates (serialized by D1) cannot both pass and a create costs one D1 call:
 * - the caller's authority: an Active membership of the token's tenant as Owner; as Admin for a
 *   Developer/Viewer invite; as Developer for one while the tenant's invitePolicy is Members;
 * - a redirectUrl's origin among the tenant's redirectOrigins;
 * - at most `quota` Pending invites in the tenant (counted on the partial index of open invites, and
 *   never past `quota` of them, so a create reads at most `quota` index entries);
 * - for a bound invite, no other Pending invite for the same email.
 * The last two depend on the clock ("pending" is unused, unrevoked and unexpired): no unique index can
 * express them. RETURNING, not meta.changes: D1's change count includes the invite-count trigger's rows;
 * it also returns the caller's role, which decides what of the invite they may see.
 */
export function insertInviteStatement(row: InviteRow, now: number, quota: number): SQL {
  const redirectOrigin = row.redirectUrl === null ? null : new URL(row.redirectUrl).origin;
  return sql`
    INSERT INTO invites (id, tenant_id, token_hash, token_ciphertext, target_role, email, created_by,
                         expires_at, used_at, used_by, revoked_at, created_at, updated_at, locale,
                         delivery_status, last_mail_requested_at, last_mail_job_id,
                         max_uses, uses, allowed_domains, redirect_url, public_metadata, private_metadata)
    SELECT ${row.id}, ${row.tenantId}, ${row.tokenHash}, ${row.tokenCiphertext}, ${row.targetRole}, ${row.email},
           ${row.createdBy}, ${row.expiresAt}, NULL, NULL, NULL, ${row.createdAt}, ${row.updatedAt}, ${row.locale},
           ${row.deliveryStatus}, ${row.lastMailRequestedAt}, ${row.lastMailJobId},
           ${row.maxUses}, 0, ${json(row.allowedDomains)}, ${row.redirectUrl}, ${json(row.publicMetadata)}, ${json(row.privateMetadata)}
    WHERE EXISTS (
        SELECT 1 FROM memberships m JOIN tenants t ON t.id = m.tenant_id
        WHERE m.account_id = ${row.createdBy} AND m.tenant_id = ${row.tenantId} AND m.status = 'Active'
          AND (m.role = 'Owner' OR (${row.targetRole} <> 'Admin'
            AND (m.role = 'Admin' OR (m.role = 'Developer' AND t.invite_policy = 'Members'))))
          AND (${redirectOrigin} IS NULL OR EXISTS (SELECT 1 FROM json_each(t.redirect_origins) o WHERE o.value = ${redirectOrigin})))
      AND (SELECT COUNT(*) FROM (SELECT 1 FROM invites WHERE tenant_id = ${row.tenantId}
             AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ${now} LIMIT ${quota})) < ${quota}
      AND (${row.email} IS NULL OR NOT EXISTS (
        SELECT 1 FROM invites WHERE tenant_id = ${row.tenantId} AND email = ${row.email}
          AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ${now}))
    RETURNING id, (SELECT role FROM memberships WHERE account_id = ${row.createdBy} AND tenant_id = ${row.tenantId}) AS caller_role`;
}

/**
 * The invite's mail job (src/outbox/mail-jobs.ts), for the same batch: inserted only if the invite was,
 * since the job's INSERT … SELECT matches the invite's last_mail_job_id. None for an invite without a
 * mail (no email — a multi-use or domain link — or notify: false). The inviter's email is read inside
 * the statement, so the create stays one D1 call.
 */
function mailJobStatement(env: Env, row: InviteRow, now: number): D1PreparedStatement[] {
  if (row.lastMailJobId === null || row.email === null) return [];
  return [
    prepare(
      env,
      inviteMailJobInsert({
        id: row.lastMailJobId,
        kind: "invite",
        subjectId: row.id,
        version: row.tokenHash,
        recipient: row.email,
        locale: row.locale as Locale,
        payloadSql: sql`json_object('inviterEmail', (SELECT email FROM accounts WHERE id = ${row.createdBy}))`,
        now,
      }),
    ),
  ];
}

const pendingForEmail = () => conflict("INVITE_PENDING_FOR_EMAIL", "A pending invite already exists for this email");
export const quotaExceeded = (quota: number) =>
  conflict("INVITE_QUOTA_EXCEEDED", `This tenant already has ${quota} pending invites, the most it may have; revoke some or let them expire`);

/** The tenant's redirect origins and Pending invites (capped at `quota`), read to explain a refused create. */
async function refusalFacts(env: Env, tenantId: string, emails: string[], now: number, quota: number) {
  const db = database(env.DB);
  const [[tenant], [counted], pendingEmails] = await db.batch([
    db.select({ redirectOrigins: tenants.redirectOrigins }).from(tenants).where(eq(tenants.id, tenantId)).limit(1),
    db.select({ pending: sql<number>`(SELECT COUNT(*) FROM (SELECT 1 FROM invites WHERE tenant_id = ${tenantId}
           AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ${now} LIMIT ${quota}))` }).from(tenants).where(eq(tenants.id, tenantId)),
    emails.length
      ? db.select({ email: invites.email }).from(invites).where(and(eq(invites.tenantId, tenantId), inArray(invites.email, emails), statusCondition("Pending", now)))
      : db.select({ email: invites.email }).from(invites).where(sql`0`),
  ]);
  const redirectOrigins = tenant?.redirectOrigins ?? [];
  return {
    redirectOrigins,
    redirectAllowed: (url: string | null) => url === null || redirectOrigins.includes(new URL(url).origin),
    pending: counted?.pending ?? 0,
    pendingEmails: new Set(pendingEmails.map((row) => row.email)),
  };
}

/** A new invite's row and its plaintext token (returned once, stored only hashed and encrypted). */
async function newInviteRow(ring: TokenKeyring, claims: VerifiedAccessToken, input: NewInvite, now: number) {
  const token = generateInviteToken();
  const id = newId();
  // Only an invite bound to an email is mailed: a link (multi-use, domain-restricted or plain) is shared by hand.
  const mailJobId = input.email !== undefined && input.notify !== false ? newId() : null;
  const row: InviteRow = {
    id,
    tenantId: claims.tenantId,
    tokenHash: await sha256Hex(token),
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
    maxUses: input.maxUses ?? 1,
    uses: 0,
    allowedDomains: input.allowedDomains ?? null,
    redirectUrl: input.redirectUrl ?? null,
    publicMetadata: input.publicMetadata ?? null,
    privateMetadata: input.privateMetadata ?? null,
    lastRedemptionId: null,
  };
  return { row, token };
}

const rawDialect = new SQLiteAsyncDialect();

/** A drizzle `sql` statement as a raw D1 statement, for batches that mix it with others. */
function prepare(env: Env, statement: SQL): D1PreparedStatement {
  const query = rawDialect.sqlToQuery(statement);
  return env.DB.prepare(query.sql).bind(...query.params);
}

/** The statements of one new invite: the conditional insert, then its event and mail job (each only if the insert wrote). */
function createStatements(env: Env, row: InviteRow, now: number, quota: number): D1PreparedStatement[] {
  const event = eventStatements(
    env.DB,
    {
      tenantId: row.tenantId,
      type: "invite.created",
      actor: userActor(row.createdBy),
      data: { inviteId: row.id, targetRole: row.targetRole, email: row.email, expiresAt: iso(row.expiresAt) },
      occurredAt: now,
    },
    { sql: "EXISTS (SELECT 1 FROM invites WHERE id = ?)", params: [row.id] },
  );
  return [prepare(env, insertInviteStatement(row, now, quota)), ...event.statements, ...mailJobStatement(env, row, now)];
}

/** What the creator may see of an invite they just made (the insert proved they may grant its role). */
async function createdView(env: Env, row: InviteRow, token: string, callerRole: Role, now: number): Promise<CreatedInviteView> {
  return withoutPrivateMetadataFor(callerRole, { ...(await toInviteView(env, row, callerRole, now)), token });
}

/**
 * One D1 call (the insert checks every rule, see insertInviteStatement). Only a refused insert reads
 * more (`settle`: the caller's authority, which throws 401/403/404) to say why.
 */
export async function createInvite(env: Env, claims: VerifiedAccessToken, input: NewInvite, settle: () => Promise<Caller>): Promise<CreatedInviteView> {
  const ring = await inviteKeyring(env);
  const quota = loadConfig(env).maxPendingInvitesPerTenant;
  for (let attempt = 1; ; attempt++) {
    const now = Date.now();
    const { row, token } = await newInviteRow(ring, claims, input, now);
    const [inserted] = await env.DB.batch(createStatements(env, row, now, quota));
    const created = inserted?.results[0] as { caller_role: Role } | undefined;
    if (created) {
      if (row.lastMailJobId !== null) await handOver(env, [row.lastMailJobId]);
      return createdView(env, row, token, created.caller_role, now);
    }
    const caller = await settle();
    assertMayAssign(caller.role, input.role);
    const facts = await refusalFacts(env, row.tenantId, row.email === null ? [] : [row.email], now, quota);
    if (!facts.redirectAllowed(row.redirectUrl)) throw redirectNotAllowed(facts.redirectOrigins);
    if (row.email !== null && facts.pendingEmails.has(row.email)) throw pendingForEmail();
    if (facts.pending >= quota) throw quotaExceeded(quota);
    // What refused the insert holds no more (a role granted or an invite used meanwhile): try once more.
    if (attempt === 2) throw changedMeanwhile();
  }
}

export const MAX_BULK_INVITES = 100;

/** One refusal per offending item, by index (null for the items that were fine). */
type ItemErrors = ({ code: string; message: string; fields?: Record<string, string[]> } | null)[];

function bulkError(status: 400 | 403 | 409, items: ItemErrors): ApiError {
  const failing = items.filter((item) => item !== null);
  const first = failing[0]!;
  const code = status === 400 && failing.some((item) => item.code !== first.code) ? "VALIDATION_ERROR" : first.code;
  return new ApiError(status, code, `${failing.length} of ${items.length} invites cannot be created; nothing was created`, { items });
}

/**
 * Creates every invite or none (`POST /invites/bulk`): one D1 batch of each invite's statements (the
 * same conditional insert as a single create, its invite.created event and webhook outbox rows, its
 * mail job) — run in order, so each insert sees the rows of the items before it (two items for one
 * email, or a batch that crosses the quota, are refused like separate creates would be) — closed by a
 * guard statement that fails the batch, rolling back everything, unless every insert wrote its row.
 * Only a refused batch reads more, to say which items were refused and why.
 */
export async function createInvites(env: Env, claims: VerifiedAccessToken, inputs: NewInvite[], settle: () => Promise<Caller>): Promise<CreatedInviteView[]> {
  const ring = await inviteKeyring(env);
  const quota = loadConfig(env).maxPendingInvitesPerTenant;
  for (let attempt = 1; ; attempt++) {
    const now = Date.now();
    const created = await Promise.all(inputs.map((input) => newInviteRow(ring, claims, input, now)));
    const ids = created.map(({ row }) => row.id);
    const statements = [
      ...created.flatMap(({ row }) => createStatements(env, row, now, quota)),
      // NULL into the NOT NULL primary key: an error that aborts (and so rolls back) the whole batch.
      // The ids travel as one JSON parameter (D1 binds at most 100 per statement).
      prepare(env, sql`INSERT INTO invites (id) SELECT NULL
                  WHERE (SELECT COUNT(*) FROM invites WHERE id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))) <> ${ids.length}`),
    ];
    try {
      const results = await env.DB.batch(statements);
      const callerRole = (results[0]?.results[0] as { caller_role: Role }).caller_role;
      await handOver(env, created.flatMap(({ row }) => (row.lastMailJobId === null ? [] : [row.lastMailJobId])));
      return Promise.all(created.map(({ row, token }) => createdView(env, row, token, callerRole, now)));
    } catch (error) {
      if (!/NOT NULL constraint failed: invites\./.test(errorChain(error))) throw error;
    }
    const caller = await settle();
    const forbidden: ItemErrors = inputs.map((input) => (mayAssign(caller.role, input.role) ? null : { code: "ROLE_NOT_ASSIGNABLE", message: "Only an Owner can invite an Admin" }));
    if (forbidden.some(Boolean)) throw bulkError(403, forbidden);
    const rows = created.map(({ row }) => row);
    const facts = await refusalFacts(env, claims.tenantId, [...new Set(rows.flatMap((row) => (row.email === null ? [] : [row.email])))], now, quota);
    const misdirected: ItemErrors = rows.map((row) => (facts.redirectAllowed(row.redirectUrl) ? null : REDIRECT_REFUSAL));
    if (misdirected.some(Boolean)) throw bulkError(400, misdirected);
    // Replays the batch's rules over the rows in order.
    let pending = facts.pending;
    const taken = facts.pendingEmails;
    const refused: ItemErrors = rows.map((row) => {
      if (row.email !== null && taken.has(row.email)) return { code: "INVITE_PENDING_FOR_EMAIL", message: "A pending invite already exists for this email" };
      if (pending >= quota) return { code: "INVITE_QUOTA_EXCEEDED", message: `This tenant may hold at most ${quota} pending invites` };
      pending++;
      if (row.email !== null) taken.add(row.email);
      return null;
    });
    if (refused.some(Boolean)) throw bulkError(409, refused);
    if (attempt === 2) throw changedMeanwhile();
  }
}

function errorChain(error: unknown): string {
  const messages: string[] = [];
  for (let current: unknown = error; current instanceof Error; current = current.cause) messages.push(current.message);
  return messages.join(" | ");
}

export interface InviteListQuery {
  perPage: number;
  sortField: InviteSortField;
  direction: SortDirection;
  start: PageStart;
  status?: InviteStatus | undefined;
}

/** Each sort field's column and the kind of its cursor key (see src/http/pagination.ts). */
export const INVITE_CURSOR_KEYS: Record<InviteSortField, CursorKeyKind> = {
  id: "id",
  createdAt: "integer",
  expiresAt: "integer",
  usedAt: "nullableInteger",
  status: "integer",
  targetRole: "text",
};

function sortColumn(field: InviteSortField, now: number): KeysetColumn {
  switch (field) {
    case "id":
      return { expr: invites.id, nullable: false, unique: true };
    case "createdAt":
      return { expr: invites.createdAt, nullable: false };
    case "expiresAt":
      return { expr: invites.expiresAt, nullable: false };
    case "usedAt":
      return { expr: invites.usedAt, nullable: true };
    case "targetRole":
      return { expr: invites.targetRole, nullable: false };
    // Derived, so no index backs it: a status-ordered cursor page still filters the tenant's rows.
    case "status":
      return { expr: statusCode(now), nullable: false };
  }
}

function sortKey(field: InviteSortField, row: InviteRow, now: number): CursorKey {
  switch (field) {
    case "id":
      return row.id;
    case "status":
      return INVITE_STATUSES.indexOf(inviteStatus(row, now));
    default:
      return row[field];
  }
}

/** Owners and Admins manage every invite of the tenant; a Developer (invitePolicy Members) only their own. */
export const managesAllInvites = (caller: Pick<Caller, "role">) => caller.role === "Owner" || caller.role === "Admin";

/** Developers manage invites only under the tenant's invitePolicy Members (Viewers never reach here). */
export function assertInvitePolicy(caller: Caller): void {
  if (caller.role === "Developer" && caller.invitePolicy !== "Members") {
    throw forbidden("Developers manage invites only when the tenant's invitePolicy is Members");
  }
}

/** privateMetadata is for Owners and Admins only. */
export function withoutPrivateMetadataFor<V extends InviteView>(role: Role, view: V): V {
  return role === "Owner" || role === "Admin" ? view : { ...view, privateMetadata: null };
}

/**
 * One D1 call for Owners and Admins: the caller's authority and the page in one batch, scoped by the
 * verified token's tenant; nothing is decrypted or returned unless `authorize` accepts the authority
 * row. A Developer (invitePolicy Members) sees only the invites they created: that page is read once
 * their role is known, a second call.
 */
export async function listInvites(env: Env, claims: VerifiedAccessToken, query: InviteListQuery, authorize: Authorize): Promise<CursorPageOf<InviteView>> {
  const db = database(env.DB);
  const tenantId = claims.tenantId;
  const now = Date.now();
  const column = sortColumn(query.sortField, now);
  const read = (createdBy: string | undefined, lead?: BatchItem<"sqlite">) => {
    const own = createdBy === undefined ? undefined : eq(invites.createdBy, createdBy);
    const where = and(eq(invites.tenantId, tenantId), own, query.status ? statusCondition(query.status, now) : undefined);
    return readPage<InviteRow>({
      db,
      column,
      idColumn: invites.id,
      direction: query.direction,
      start: query.start,
      perPage: query.perPage,
      ...(lead ? { lead } : {}),
      // Unfiltered: the trigger-kept tenants.invite_count (no scan). Filtered by status, which moves with
      // the clock: a COUNT, which for Pending/Expired reads only open invites (invites_tenant_open_idx).
      total:
        query.status || own
          ? db.select({ total: count() }).from(invites).where(where)
          : db.select({ total: tenants.inviteCount }).from(tenants).where(eq(tenants.id, tenantId)),
      // The page's ids come from an index first, so rows skipped by OFFSET are read once, not twice.
      offsetRows: (orderBy, limit, offset) =>
        db
          .select()
          .from(invites)
          .where(inArray(invites.id, db.select({ id: invites.id }).from(invites).where(where).orderBy(...orderBy).limit(limit).offset(offset)))
          .orderBy(...orderBy),
      keysetRows: (keyset, orderBy, limit) => db.select().from(invites).where(and(where, keyset)).orderBy(...orderBy).limit(limit),
      cursorOf: (row) => encodeCursor({ sort: query.sortField, direction: query.direction, key: sortKey(query.sortField, row, now), id: row.id }),
    });
  };
  let page = await read(undefined, authorityQuery(db, claims));
  const caller = authorize(page.lead[0] as AuthorityRow | undefined);
  if (!managesAllInvites(caller)) page = await read(caller.userId);
  return {
    total: page.total,
    items: await Promise.all(page.rows.map(async (row) => withoutPrivateMetadataFor(caller.role, await toInviteView(env, row, caller.role, now)))),
    nextCursor: page.nextCursor,
    prevCursor: page.prevCursor,
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
    AND c.status = 'Active' AND (c.role = 'Owner' OR (${invite}.target_role <> 'Admin' AND (c.role = 'Admin'
      OR (c.role = 'Developer' AND EXISTS (SELECT 1 FROM tenants ct WHERE ct.id = ${invite}.tenant_id AND ct.invite_policy = 'Members'))))))`;

/**
 * SQL over an invite aliased `i`, with ?4 = now, ?2 = the email, ?7 = its domain: redeemable by the
 * token presented (?6) right now — a use left (`uses < max_uses`), and the email at an allowed domain.
 */
const REDEEMABLE = `i.id = ?5 AND i.token_hash = ?6 AND i.used_at IS NULL AND i.uses < i.max_uses
  AND i.revoked_at IS NULL AND i.expires_at > ?4
  AND (i.email IS NULL OR i.email = ?2)
  AND (i.allowed_domains IS NULL OR EXISTS (SELECT 1 FROM json_each(i.allowed_domains) d WHERE d.value = ?7))
  AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = i.tenant_id)
  AND ${CREATOR_STILL_GRANTS("i")}`;

/** The same check as CREATOR_STILL_GRANTS, to explain a refusal. */
export async function creatorStillGrants(env: Env, invite: Pick<InviteRow, "id">): Promise<boolean> {
  const rows = await database(env.DB).all<{ id: string }>(sql`SELECT i.id FROM invites i WHERE i.id = ${invite.id} AND ${sql.raw(CREATOR_STILL_GRANTS("i"))}`);
  return rows.length === 1;
}

/** One use taken (SET clause); whoever takes the last one marks the invite used: usedAt is that moment. */
const takeOneUse = (nowParam: string) => `uses = uses + 1, used_at = CASE WHEN uses + 1 >= max_uses THEN ${nowParam} END`;

export const authorityLapsed = () =>
  conflict("INVITE_AUTHORITY_LAPSED", "Whoever issued this invite no longer holds the authority to grant its role (deactivated, demoted or removed); ask for a new invite");

const emailMismatch = () => conflict("EMAIL_MISMATCH", "This invite was issued for a different email address");
export const emailTaken = () =>
  conflict("EMAIL_TAKEN", "This email is already registered; sign in with it and accept the invite instead (POST /api/v1/invites/{token}/accept)");
const alreadyMember = () => conflict("ALREADY_MEMBER", "You are already a member of this invite's tenant; the invite stays pending");

const emailDomain = (email: string) => email.slice(email.lastIndexOf("@") + 1);

/** A domain-restricted link (allowedDomains) takes only emails at exactly one of its domains. */
function assertDomainAllowed(invite: InviteRow, email: string): void {
  if (invite.allowedDomains !== null && !invite.allowedDomains.includes(emailDomain(email))) {
    throw new ApiError(409, "EMAIL_DOMAIN_NOT_ALLOWED", `This invite is only for emails at ${invite.allowedDomains.join(", ")}`, {
      allowedDomains: invite.allowedDomains,
    });
  }
}

interface Redeemer {
  email: string;
  /** set when an existing account accepts; absent for a registration */
  accountId?: string;
}

/** Why a redemption batch wrote nothing: checked in the order a user would want to hear it. */
async function explainRefusal(env: Env, invite: InviteRow, redeemer: Redeemer, now: number): Promise<never> {
  assertRedeemable(invite, now);
  if (invite.email !== null && invite.email !== redeemer.email) throw emailMismatch();
  assertDomainAllowed(invite, redeemer.email);
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
/** Written only by the batch whose invite update stamped `redemptionId` (its own use). */
function redemptionEvents(
  env: Env,
  invite: InviteRow,
  member: { accountId: string; email: string },
  actor: Actor,
  via: "register" | "accept",
  redemptionId: string,
  now: number,
) {
  const base = { tenantId: invite.tenantId, actor, occurredAt: now };
  return eventsStatements(
    env.DB,
    [
      { ...base, type: "invite.accepted", data: { inviteId: invite.id, memberId: member.accountId, role: invite.targetRole, via } },
      { ...base, type: "member.added", data: { memberId: member.accountId, email: member.email, role: invite.targetRole, inviteId: invite.id } },
    ] as NewEvent[],
    { sql: "EXISTS (SELECT 1 FROM invites WHERE id = ? AND last_redemption_id = ?)", params: [invite.id, redemptionId] },
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
  assertDomainAllowed(invite, email);
  return invite;
}

/**
 * Creates the account and its membership and takes one use of the invite in one D1 batch. The first
 * statement re-checks that the invite is still redeemable — a use left, by the token presented, so a
 * renewal landing between our read and the batch kills the old token — and the others act only if it
 * wrote. D1 runs batches one at a time, so under any concurrency (registers and accepts alike) exactly
 * `maxUses` callers win; a unique-email violation aborts the batch and takes no use.
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
         SELECT ?1, ?2, ?3, ?8, i.tenant_id, ?4, ?4 FROM invites i WHERE ${REDEEMABLE}`,
      ).bind(accountId, input.email, passwordHash, now, invite.id, invite.tokenHash, emailDomain(input.email), verifiedAt),
      env.DB.prepare(
        `INSERT INTO memberships (tenant_id, account_id, email, role, status, created_at, updated_at, metadata)
         SELECT i.tenant_id, ?1, ?2, i.target_role, 'Active', ?3, ?3, i.public_metadata FROM invites i
         WHERE i.id = ?4 AND EXISTS (SELECT 1 FROM accounts WHERE id = ?1)`,
      ).bind(accountId, input.email, now, invite.id),
      env.DB.prepare(
        `UPDATE invites SET ${takeOneUse("?1")}, used_by = ?2, last_redemption_id = ?2, updated_at = ?1
         WHERE id = ?3 AND used_at IS NULL AND uses < max_uses AND EXISTS (SELECT 1 FROM accounts WHERE id = ?2)`,
      ).bind(now, accountId, invite.id),
      ...redemptionEvents(env, invite, { accountId, email: input.email }, publicActor, "register", accountId, now),
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
    redirectUrl: invite.redirectUrl,
  };
}

/**
 * `POST /invites/{token}/accept`: an existing account joins the invite's tenant. One D1 batch: the
 * invite gives up one use first, conditional on it being redeemable by this token and on the account
 * not being a member already, stamping a fresh redemption id; the membership is inserted only from an
 * invite carrying that very id. So of any number of concurrent accepts and registers exactly `maxUses`
 * win, and a refused accept (ALREADY_MEMBER included) takes no use.
 */
export async function acceptInvite(env: Env, caller: Caller, token: string): Promise<RegisteredUser> {
  const now = Date.now();
  const invite = await redeemableInvite(env, token, caller.email, now);
  if (await isMember(env, invite.tenantId, caller.userId)) throw alreadyMember();
  // Otherwise whoever registered someone else's address first could collect every invite sent to it.
  if (invite.email !== null && !(await isEmailVerified(env, caller.userId))) {
    throw new ApiError(403, "EMAIL_NOT_VERIFIED", "Verify your email address before accepting an invite sent to it (see POST /api/v1/auth/verify-email/resend)");
  }
  const redemptionId = newId();
  const [taken] = await env.DB.batch([
    env.DB.prepare(
      `UPDATE invites AS i SET ${takeOneUse("?4")}, used_by = ?1, last_redemption_id = ?3, updated_at = ?4
       WHERE ${REDEEMABLE}
         AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = i.tenant_id AND m.account_id = ?1)
       RETURNING id`,
    ).bind(caller.userId, caller.email, redemptionId, now, invite.id, invite.tokenHash, emailDomain(caller.email)),
    env.DB.prepare(
      `INSERT INTO memberships (tenant_id, account_id, email, role, status, created_at, updated_at, metadata)
       SELECT i.tenant_id, ?1, ?2, i.target_role, 'Active', ?3, ?3, i.public_metadata FROM invites i
       WHERE i.id = ?4 AND i.last_redemption_id = ?5`,
    ).bind(caller.userId, caller.email, now, invite.id, redemptionId),
    ...redemptionEvents(env, invite, { accountId: caller.userId, email: caller.email }, userActor(caller.userId), "accept", redemptionId, now),
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
    redirectUrl: invite.redirectUrl,
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

/** An invite as the platform operator sees it (§2.9): every tenant's, with its tenant's name, never its token or metadata. */
export interface OperatorInviteView {
  id: string;
  tenantId: string;
  tenantName: string | null;
  targetRole: InviteRole;
  status: InviteStatus;
  email: string | null;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
  revokedAt: string | null;
  uses: number;
  maxUses: number;
  allowedDomains: string[] | null;
}

/** Every tenant's invites (or one tenant's), newest first: a range of the id index (or of (tenant_id, id)) per page. */
export async function listAllInvites(env: Env, request: CursorRequest, tenantId?: string): Promise<CursorPage<OperatorInviteView>> {
  const db = database(env.DB);
  const now = Date.now();
  return cursorPage(
    request,
    (bound, order, limit) => {
      const range = idRange(invites.id, bound, order);
      return db
        .select({ invite: invites, tenantName: tenants.name })
        .from(invites)
        .leftJoin(tenants, eq(tenants.id, invites.tenantId))
        .where(and(tenantId === undefined ? undefined : eq(invites.tenantId, tenantId), range.where))
        .orderBy(range.orderBy)
        .limit(limit)
        .then((rows) => rows.map((row) => ({ ...row, id: row.invite.id })));
    },
    ({ invite, tenantName }) => ({
      id: invite.id,
      tenantId: invite.tenantId,
      tenantName,
      targetRole: invite.targetRole,
      status: inviteStatus(invite, now),
      email: invite.email,
      createdBy: invite.createdBy,
      createdAt: iso(invite.createdAt),
      expiresAt: iso(invite.expiresAt),
      usedAt: isoOrNull(invite.usedAt),
      revokedAt: isoOrNull(invite.revokedAt),
      uses: invite.uses,
      maxUses: invite.maxUses,
      allowedDomains: invite.allowedDomains,
    }),
  );
}
