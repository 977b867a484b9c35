import { and, asc, count, desc, eq } from "drizzle-orm";
import { database } from "../../db/client";
import { users, type Role, type UserRow, type UserStatus } from "../../db/schema";
import type { Env } from "../../env";
import type { Caller } from "../../http/app-env";
import { ApiError, conflict, forbidden, notFound } from "../../http/errors";
import type { Page, SortDirection } from "../../http/pagination";
import { UUID_PATTERN } from "../../lib/ids";
import { iso } from "../../lib/time";

export const USER_SORT_FIELDS = ["id", "email", "createdAt", "updatedAt", "role", "status"] as const;
export type UserSortField = (typeof USER_SORT_FIELDS)[number];
/** Owner is absent on purpose: an Owner exists only by creating a tenant. */
export const ASSIGNABLE_ROLES = ["Admin", "Developer", "Viewer"] as const;
export type AssignableRole = (typeof ASSIGNABLE_ROLES)[number];

export interface UserView {
  id: string;
  tenantId: string;
  email: string;
  status: UserStatus;
  role: Role;
  createdAt: string;
  updatedAt: string;
}

export function toUserView(user: UserRow): UserView {
  return {
    id: user.id,
    tenantId: user.tenantId,
    email: user.email,
    status: user.status,
    role: user.role,
    createdAt: iso(user.createdAt),
    updatedAt: iso(user.updatedAt),
  };
}

const userNotFound = () => notFound("USER_NOT_FOUND", "No user with this id in your tenant");

async function findTenantUser(env: Env, tenantId: string, userId: string): Promise<UserRow | null> {
  if (!UUID_PATTERN.test(userId)) return null;
  const [user] = await database(env.DB)
    .select()
    .from(users)
    .where(and(eq(users.id, userId), eq(users.tenantId, tenantId)))
    .limit(1);
  return user ?? null;
}

export async function getUser(env: Env, tenantId: string, userId: string): Promise<UserView> {
  const user = await findTenantUser(env, tenantId, userId);
  if (!user) throw userNotFound();
  return toUserView(user);
}

export interface UserListQuery {
  page: number;
  perPage: number;
  sortField: UserSortField;
  direction: SortDirection;
  status?: UserStatus | undefined;
  role?: Role | undefined;
}

/** Each sort column has a (tenant_id, column, id) index; email is unique, so it needs no tiebreak. */
export function userListStatements(env: Env, tenantId: string, query: UserListQuery) {
  const db = database(env.DB);
  const where = and(
    eq(users.tenantId, tenantId),
    query.status ? eq(users.status, query.status) : undefined,
    query.role ? eq(users.role, query.role) : undefined,
  );
  const order = query.direction === "asc" ? asc : desc;
  const sortColumn = {
    id: users.id,
    email: users.email,
    createdAt: users.createdAt,
    updatedAt: users.updatedAt,
    role: users.role,
    status: users.status,
  }[query.sortField];
  const ordering = query.sortField === "id" || query.sortField === "email" ? [order(sortColumn)] : [order(sortColumn), order(users.id)];
  return [
    db.select({ total: count() }).from(users).where(where),
    db
      .select()
      .from(users)
      .where(where)
      .orderBy(...ordering)
      .limit(query.perPage)
      .offset((query.page - 1) * query.perPage),
  ] as const;
}

export async function listUsers(env: Env, tenantId: string, query: UserListQuery): Promise<Page<UserView>> {
  const [[counted], rows] = await database(env.DB).batch(userListStatements(env, tenantId, query));
  return { total: counted?.total ?? 0, items: rows.map(toUserView) };
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
 */
export function assertMayChange(actorRole: Role, target: Pick<UserRow, "role">, change: UserChange): void {
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

const lastOwner = () =>
  conflict("LAST_OWNER", "This is the tenant's last active Owner; another active Owner must exist before it can be deactivated");

const MAX_ATTEMPTS = 3;

/**
 * Applies a role/status change in one conditional UPDATE that re-checks, at the moment of writing,
 * everything the decision rested on: the target's role is still the one the rules were evaluated
 * for, the actor still holds their role, and deactivating an Owner leaves another active Owner.
 * Two Owners deactivating each other at once therefore cannot both succeed. Deactivation also
 * revokes the target's refresh tokens in the same batch; their access token stops working at once
 * because every request reads status from D1.
 */
export async function changeUser(env: Env, actor: Caller, targetId: string, change: UserChange): Promise<UserView> {
  let actorRole = actor.role;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const target = await findTenantUser(env, actor.tenantId, targetId);
    if (!target) throw userNotFound();
    assertMayChange(actorRole, target, change);

    const role = change.role ?? target.role;
    const status = change.status ?? target.status;
    const now = Date.now();
    const [updated] = await env.DB.batch([
      env.DB.prepare(
        `UPDATE users
         SET role = ?1, status = ?2,
             updated_at = CASE WHEN role = ?1 AND status = ?2 THEN updated_at ELSE ?3 END
         WHERE id = ?4 AND tenant_id = ?5 AND role = ?6
           AND EXISTS (SELECT 1 FROM users a WHERE a.id = ?7 AND a.tenant_id = ?5 AND a.role = ?8 AND a.status = 'Active')
           AND (?2 = 'Active' OR role <> 'Owner' OR EXISTS (
                 SELECT 1 FROM users o WHERE o.tenant_id = ?5 AND o.id <> ?4 AND o.role = 'Owner' AND o.status = 'Active'))
         RETURNING *`,
      ).bind(role, status, now, target.id, actor.tenantId, target.role, actor.userId, actorRole),
      env.DB.prepare(
        `UPDATE refresh_tokens SET revoked_at = ?1
         WHERE user_id = ?2 AND revoked_at IS NULL
           AND EXISTS (SELECT 1 FROM users WHERE id = ?2 AND status = 'Inactive')`,
      ).bind(now, target.id),
    ]);
    const row = updated?.results[0] as Record<string, unknown> | undefined;
    if (row) {
      return toUserView({
        ...target,
        role: row.role as Role,
        status: row.status as UserStatus,
        updatedAt: row.updated_at as number,
      });
    }

    // Nothing written: find out which premise no longer holds.
    const [current] = await database(env.DB)
      .select({ role: users.role, status: users.status })
      .from(users)
      .where(and(eq(users.id, actor.userId), eq(users.tenantId, actor.tenantId)))
      .limit(1);
    if (!current || current.status !== "Active") throw forbidden("Your account no longer has this authority");
    if (current.role === actorRole) {
      const fresh = await findTenantUser(env, actor.tenantId, targetId);
      if (fresh?.role === "Owner" && target.role === "Owner" && status === "Inactive") throw lastOwner();
    }
    // Otherwise the target's role or the actor's changed meanwhile: evaluate the rules again.
    actorRole = current.role;
  }
  throw conflict("CONCURRENT_UPDATE", "The user changed while this request was processed; retry");
}
