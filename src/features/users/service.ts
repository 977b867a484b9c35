import { and, count, eq, type SQL } from "drizzle-orm";
import { database } from "../../db/client";
import { userActor } from "../../events/catalogue";
import { eventStatements, eventsStatements, type NewEvent } from "../../events/record";
import { memberships, tenants, type MembershipRow, type Role, type UserStatus } from "../../db/schema";
import type { Env } from "../../env";
import type { Caller } from "../../http/app-env";
import type { CursorPage } from "../../http/cursor";
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
import { UUID_PATTERN } from "../../lib/ids";
import { iso } from "../../lib/time";

export const USER_SORT_FIELDS = ["id", "email", "createdAt", "updatedAt", "role", "status"] as const;
export type UserSortField = (typeof USER_SORT_FIELDS)[number];
/** Owner is absent on purpose: an Owner exists only by creating a tenant. */
export const ASSIGNABLE_ROLES = ["Admin", "Developer", "Viewer"] as const;
export type AssignableRole = (typeof ASSIGNABLE_ROLES)[number];

/** The seed's User object: an account as a member of one tenant (the membership's role, status and timestamps). */
export interface UserView {
  id: string;
  tenantId: string;
  email: string;
  status: UserStatus;
  role: Role;
  createdAt: string;
  updatedAt: string;
}

export function toUserView(member: MembershipRow): UserView {
  return {
    id: member.accountId,
    tenantId: member.tenantId,
    email: member.email,
    status: member.status,
    role: member.role,
    createdAt: iso(member.createdAt),
    updatedAt: iso(member.updatedAt),
  };
}

const userNotFound = () => notFound("USER_NOT_FOUND", "No user with this id in your tenant");

async function findMember(env: Env, tenantId: string, accountId: string): Promise<MembershipRow | null> {
  if (!UUID_PATTERN.test(accountId)) return null;
  const [member] = await database(env.DB)
    .select()
    .from(memberships)
    .where(and(eq(memberships.tenantId, tenantId), eq(memberships.accountId, accountId)))
    .limit(1);
  return member ?? null;
}

export async function getUser(env: Env, tenantId: string, userId: string): Promise<UserView> {
  const member = await findMember(env, tenantId, userId);
  if (!member) throw userNotFound();
  return toUserView(member);
}

export interface UserListQuery {
  perPage: number;
  sortField: UserSortField;
  direction: SortDirection;
  start: PageStart;
  status?: UserStatus | undefined;
  role?: Role | undefined;
}

/** Each sort field's cursor key kind (see src/http/pagination.ts). */
export const USER_CURSOR_KEYS: Record<UserSortField, CursorKeyKind> = {
  id: "id",
  email: "text",
  createdAt: "integer",
  updatedAt: "integer",
  role: "text",
  status: "text",
};

/**
 * Each sort column has a (tenant_id, column, account_id) index (`id` is the primary key's second
 * column); email is unique, so it needs no tiebreak.
 */
function userSortColumn(field: UserSortField): KeysetColumn {
  switch (field) {
    case "id":
      return { expr: memberships.accountId, nullable: false, unique: true };
    case "email":
      return { expr: memberships.email, nullable: false, unique: true };
    case "createdAt":
      return { expr: memberships.createdAt, nullable: false };
    case "updatedAt":
      return { expr: memberships.updatedAt, nullable: false };
    case "role":
      return { expr: memberships.role, nullable: false };
    case "status":
      return { expr: memberships.status, nullable: false };
  }
}

function userSortKey(field: UserSortField, row: MembershipRow): CursorKey {
  return field === "id" ? row.accountId : row[field];
}

/** One D1 call: the caller's authority and the page (of the token's tenant) in one batch. */
export async function listUsers(env: Env, claims: VerifiedAccessToken, query: UserListQuery, authorize: Authorize): Promise<CursorPageOf<UserView>> {
  const db = database(env.DB);
  const where = and(
    eq(memberships.tenantId, claims.tenantId),
    query.status ? eq(memberships.status, query.status) : undefined,
    query.role ? eq(memberships.role, query.role) : undefined,
  );
  const page = await readPage<MembershipRow>({
    db,
    column: userSortColumn(query.sortField),
    idColumn: memberships.accountId,
    direction: query.direction,
    start: query.start,
    perPage: query.perPage,
    lead: authorityQuery(db, claims),
    total: db.select({ total: count() }).from(memberships).where(where),
    offsetRows: (orderBy, limit, offset) => db.select().from(memberships).where(where).orderBy(...orderBy).limit(limit).offset(offset),
    keysetRows: (keyset, orderBy, limit) => db.select().from(memberships).where(and(where, keyset)).orderBy(...orderBy).limit(limit),
    cursorOf: (row) => encodeCursor({ sort: query.sortField, direction: query.direction, key: userSortKey(query.sortField, row), id: row.accountId }),
  });
  authorize(page.lead[0] as AuthorityRow | undefined);
  return { total: page.total, items: page.rows.map(toUserView), nextCursor: page.nextCursor, prevCursor: page.prevCursor };
}

export interface MyTenant {
  tenantId: string;
  tenantName: string;
  role: Role;
  status: UserStatus;
  joinedAt: string;
}

/** The ordering of GET /users/me/tenants and the name in its cursors. */
export const MY_TENANTS_ORDER = { sort: "joinedAt", direction: "asc", kind: "integer", list: "my-tenants" } as const;

/**
 * Every membership of the account (Active and Inactive) in tenants that exist, oldest first, a cursor page:
 * keyset (created_at, tenant_id) over the account's memberships (memberships_account_idx).
 */
export async function listMyTenants(env: Env, accountId: string, perPage: number, start: PageStart): Promise<CursorPage<MyTenant>> {
  const db = database(env.DB);
  const rows = (keyset: SQL | undefined, orderBy: SQL[], limit: number) =>
    db
      .select({ tenantId: memberships.tenantId, tenantName: tenants.name, role: memberships.role, status: memberships.status, joinedAt: memberships.createdAt })
      .from(memberships)
      .innerJoin(tenants, eq(tenants.id, memberships.tenantId))
      .where(and(eq(memberships.accountId, accountId), keyset))
      .orderBy(...orderBy)
      .limit(limit);
  const page = await readPage<{ tenantId: string; joinedAt: number } & Omit<MyTenant, "joinedAt">>({
    db,
    column: { expr: memberships.createdAt, nullable: false },
    idColumn: memberships.tenantId,
    direction: MY_TENANTS_ORDER.direction,
    start,
    perPage,
    offsetRows: (orderBy, limit) => rows(undefined, orderBy, limit), // the first page only: no Pg here
    keysetRows: rows,
    cursorOf: (row) => encodeCursor({ ...MY_TENANTS_ORDER, key: row.joinedAt, id: row.tenantId }),
  });
  return { items: page.rows.map((row) => ({ ...row, joinedAt: iso(row.joinedAt) })), nextCursor: page.nextCursor, prevCursor: page.prevCursor };
}

export interface UserChange {
  role?: AssignableRole | undefined;
  status?: UserStatus | undefined;
}

/**
 * The rules an Owner would expect:
 * - an Admin manages Developers and Viewers only, and cannot make anyone an Admin;
 * - only an Owner grants or removes Admin;
 * - nobody changes an Owner's role (so nobody changes their own role: an Owner's is fixed and an
 *   Admin may not touch Admins); Owners may change an Owner's status, subject to the last-Owner rule.
 * Removing a member from the tenant follows the same rules as deactivating them.
 */
export function assertMayChange(actorRole: Role, target: Pick<MembershipRow, "role">, change: UserChange): void {
  if (actorRole !== "Owner" && actorRole !== "Admin") throw forbidden();
  if (target.role === "Owner") {
    if (actorRole !== "Owner") throw forbidden("Only an Owner can change another Owner");
    if (change.role !== undefined) throw forbidden("An Owner's role cannot be changed");
    return;
  }
  if (actorRole === "Admin") {
    if (target.role === "Admin") throw forbidden("Only an Owner can change an Admin");
    if (change.role === "Admin") throw new ApiError(403, "ROLE_NOT_ASSIGNABLE", "Only an Owner can grant the Admin role");
  }
}

const lastOwner = (action = "be deactivated") =>
  conflict("LAST_OWNER", `This is the tenant's last active Owner; another active Owner must exist before it can ${action}`);

const MAX_ATTEMPTS = 3;

/** SQL: the membership (?tenant, ?account) is not the tenant's last active Owner. */
const NOT_LAST_ACTIVE_OWNER = (tenant: string, account: string) =>
  `(role <> 'Owner' OR status <> 'Active' OR EXISTS (
     SELECT 1 FROM memberships o WHERE o.tenant_id = ${tenant} AND o.account_id <> ${account} AND o.role = 'Owner' AND o.status = 'Active'))`;

/** Ends every session of the account in the tenant (the access token already fails: it has no Active membership). */
const revokeSessions = (env: Env, now: number, tenantId: string, accountId: string, onlyIf: string) =>
  env.DB.prepare(
    `UPDATE refresh_tokens SET revoked_at = ?1
     WHERE account_id = ?2 AND tenant_id = ?3 AND revoked_at IS NULL AND ${onlyIf}`,
  ).bind(now, accountId, tenantId);

/** Nothing written: tells a changed actor (re-evaluate with `role`) from a refusal. */
async function actorRoleNow(env: Env, actor: Caller): Promise<Role> {
  const [current] = await database(env.DB)
    .select({ role: memberships.role, status: memberships.status })
    .from(memberships)
    .where(and(eq(memberships.accountId, actor.userId), eq(memberships.tenantId, actor.tenantId)))
    .limit(1);
  if (!current || current.status !== "Active") throw forbidden("Your account no longer has this authority");
  return current.role;
}

/** The events of a role/status change: one per field that actually changes (none for a no-op PATCH). */
function memberChangeEvents(actor: Caller, target: { accountId: string; role: Role; status: UserStatus }, role: Role, status: UserStatus, now: number): NewEvent[] {
  const base = { tenantId: actor.tenantId, actor: userActor(actor.userId), occurredAt: now };
  const events: NewEvent[] = [];
  if (role !== target.role) events.push({ ...base, type: "member.role_changed", data: { memberId: target.accountId, previousRole: target.role, role } } as NewEvent);
  if (status !== target.status) {
    events.push({ ...base, type: status === "Inactive" ? "member.deactivated" : "member.reactivated", data: { memberId: target.accountId } } as NewEvent);
  }
  return events;
}

/**
 * Applies a role/status change in one conditional UPDATE that re-checks, at the moment of writing,
 * everything the decision rested on: the target's role is still the one the rules were evaluated
 * for, the actor still holds their role, and deactivating an Owner leaves another active Owner.
 * Two Owners deactivating each other at once therefore cannot both succeed. Deactivation also
 * revokes the target's refresh tokens for this tenant in the same batch; their access token stops
 * working at once because every request reads the membership from D1. Other tenants are untouched.
 */
export async function changeUser(env: Env, actor: Caller, targetId: string, change: UserChange): Promise<UserView> {
  let actorRole = actor.role;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const target = await findMember(env, actor.tenantId, targetId);
    if (!target) throw userNotFound();
    assertMayChange(actorRole, target, change);

    const role = change.role ?? target.role;
    const status = change.status ?? target.status;
    const now = Date.now();
    const [updated] = await env.DB.batch([
      env.DB.prepare(
        `UPDATE memberships
         SET role = ?1, status = ?2,
             updated_at = CASE WHEN role = ?1 AND status = ?2 THEN updated_at ELSE ?3 END
         WHERE account_id = ?4 AND tenant_id = ?5 AND role = ?6
           AND EXISTS (SELECT 1 FROM memberships a WHERE a.account_id = ?7 AND a.tenant_id = ?5 AND a.role = ?8 AND a.status = 'Active')
           AND (?2 = 'Active' OR ${NOT_LAST_ACTIVE_OWNER("?5", "?4")})
         RETURNING *`,
      ).bind(role, status, now, target.accountId, actor.tenantId, target.role, actor.userId, actorRole),
      // Written only if the UPDATE above matched (changes() = 1), all in this batch.
      ...eventsStatements(env.DB, memberChangeEvents(actor, target, role, status, now), { sql: "changes() = 1", params: [] }),
      revokeSessions(
        env,
        now,
        actor.tenantId,
        target.accountId,
        `EXISTS (SELECT 1 FROM memberships WHERE account_id = ?2 AND tenant_id = ?3 AND status = 'Inactive')`,
      ),
    ]);
    const row = updated?.results[0] as Record<string, unknown> | undefined;
    if (row) {
      return toUserView({ ...target, role: row.role as Role, status: row.status as UserStatus, updatedAt: row.updated_at as number });
    }

    // Nothing written: find out which premise no longer holds.
    const current = await actorRoleNow(env, actor);
    if (current === actorRole) {
      const fresh = await findMember(env, actor.tenantId, targetId);
      if (fresh?.role === "Owner" && target.role === "Owner" && status === "Inactive") throw lastOwner();
    }
    // Otherwise the target's role or the actor's changed meanwhile: evaluate the rules again.
    actorRole = current;
  }
  throw conflict("CONCURRENT_UPDATE", "The user changed while this request was processed; retry");
}

/**
 * Removes the member from the actor's tenant (`DELETE /users/{id}`): the same rules as deactivating
 * them, re-checked in the DELETE itself, and the member's sessions in this tenant are revoked in the
 * same batch. The account and its other memberships stay; it may be invited back.
 */
export async function removeUser(env: Env, actor: Caller, targetId: string): Promise<void> {
  let actorRole = actor.role;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const target = await findMember(env, actor.tenantId, targetId);
    if (!target) throw userNotFound();
    assertMayChange(actorRole, target, { status: "Inactive" });
    const [deleted] = await env.DB.batch([
      env.DB.prepare(
        `DELETE FROM memberships
         WHERE account_id = ?1 AND tenant_id = ?2 AND role = ?3
           AND EXISTS (SELECT 1 FROM memberships a WHERE a.account_id = ?4 AND a.tenant_id = ?2 AND a.role = ?5 AND a.status = 'Active')
           AND ${NOT_LAST_ACTIVE_OWNER("?2", "?1")}
         RETURNING account_id`,
      ).bind(target.accountId, actor.tenantId, target.role, actor.userId, actorRole),
      ...afterRemoval(env, actor.tenantId, actor.userId, target.accountId, target.role),
    ]);
    if (deleted?.results.length === 1) return;

    const current = await actorRoleNow(env, actor);
    if (current === actorRole) {
      const fresh = await findMember(env, actor.tenantId, targetId);
      if (!fresh) throw userNotFound();
      if (fresh.role === "Owner" && target.role === "Owner") throw lastOwner("be removed");
    }
    actorRole = current;
  }
  throw conflict("CONCURRENT_UPDATE", "The user changed while this request was processed; retry");
}

/**
 * What a membership DELETE implies, in its batch: the member.removed event (only if the DELETE just
 * before it removed the row) and the end of the member's sessions in that tenant.
 */
function afterRemoval(env: Env, tenantId: string, actorId: string, memberId: string, role: Role) {
  return [
    ...eventStatements(
      env.DB,
      { tenantId, type: "member.removed", actor: userActor(actorId), data: { memberId, role } },
      { sql: "changes() = 1", params: [] },
    ).statements,
    revokeSessions(env, Date.now(), tenantId, memberId, `NOT EXISTS (SELECT 1 FROM memberships WHERE account_id = ?2 AND tenant_id = ?3)`),
  ];
}

/** `DELETE /users/me`: the caller leaves the tenant; the last active Owner cannot (409 LAST_OWNER). */
export async function leaveTenant(env: Env, caller: Caller): Promise<void> {
  const [deleted] = await env.DB.batch([
    env.DB.prepare(
      `DELETE FROM memberships WHERE account_id = ?1 AND tenant_id = ?2 AND ${NOT_LAST_ACTIVE_OWNER("?2", "?1")} RETURNING account_id`,
    ).bind(caller.userId, caller.tenantId),
    ...afterRemoval(env, caller.tenantId, caller.userId, caller.userId, caller.role),
  ]);
  if (deleted?.results.length === 1) return;
  if (await findMember(env, caller.tenantId, caller.userId)) throw lastOwner("leave");
  // Already gone (a concurrent removal): the outcome the caller asked for.
}
