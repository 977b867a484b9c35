import { and, count, eq, sql } from "drizzle-orm";
import { asStatement, database, uniqueViolation } from "../../db/client";
import { publicActor, userActor } from "../../events/catalogue";
import { eventStatements } from "../../events/record";
import { accounts, memberships, tenants, type InvitePolicy, type TenantRow } from "../../db/schema";
import { passwordPeppers, type Env } from "../../env";
import { cursorPage, idRange, type CursorPage, type CursorRequest } from "../../http/cursor";
import { conflict, notFound } from "../../http/errors";
import { newId } from "../../lib/ids";
import { nameKey } from "../../lib/names";
import { iso } from "../../lib/time";
import { hashPassword } from "../../security/passwords";
import { handOver } from "../../outbox/mail-jobs";
import { verificationMail } from "../email-verification/service";

export interface TenantSignup {
  name: string;
  adminEmail: string;
  adminPassword: string;
}


const nameTaken = () => conflict("TENANT_NAME_TAKEN", "A tenant with this name already exists");
const emailTaken = () => conflict("EMAIL_TAKEN", "This email is already registered");

/** Creates the tenant, its Owner's account and the Owner membership in one atomic batch; unique indexes settle any race. */
export async function createTenant(env: Env, input: TenantSignup) {
  const db = database(env.DB);
  const nameNormalized = nameKey(input.name);

  // Cheap pre-check so a duplicate does not cost a password hash; the batch below stays authoritative.
  const [sameName, sameEmail] = await db.batch([
    db.select({ id: tenants.id }).from(tenants).where(eq(tenants.nameNormalized, nameNormalized)).limit(1),
    db.select({ id: accounts.id }).from(accounts).where(eq(accounts.email, input.adminEmail)).limit(1),
  ]);
  if (sameName.length) throw nameTaken();
  if (sameEmail.length) throw emailTaken();

  const now = Date.now();
  const tenant = { id: newId(), name: input.name.trim(), nameNormalized, createdAt: now, updatedAt: now };
  const account = {
    id: newId(),
    email: input.adminEmail,
    passwordHash: await hashPassword(input.adminPassword, await passwordPeppers(env)),
    emailVerifiedAt: null,
    lastTenantId: tenant.id,
    createdAt: now,
    updatedAt: now,
  };
  const owner = {
    tenantId: tenant.id,
    accountId: account.id,
    email: account.email,
    role: "Owner" as const,
    status: "Active" as const,
    createdAt: now,
    updatedAt: now,
  };
  // The Owner's verification mail (token + outbox job) is part of the same batch: no account without it.
  const mail = await verificationMail(env, { id: account.id }, "en", now);
  try {
    const event = eventStatements(env.DB, {
      tenantId: tenant.id,
      type: "member.added",
      actor: publicActor,
      data: { memberId: account.id, email: account.email, role: "Owner", inviteId: null },
      occurredAt: now,
    });
    await env.DB.batch([
      asStatement(env.DB, db.insert(tenants).values(tenant)),
      asStatement(env.DB, db.insert(accounts).values(account)),
      asStatement(env.DB, db.insert(memberships).values(owner)),
      ...event.statements,
      ...mail.statements,
    ]);
  } catch (error) {
    const column = uniqueViolation(error);
    if (column === "tenants.name_normalized") throw nameTaken();
    if (column === "accounts.email") throw emailTaken();
    throw error;
  }
  await handOver(env, [mail.jobId]);
  return {
    tenantId: tenant.id,
    tenantName: tenant.name,
    tenantCreatedAt: iso(now),
    adminUserId: account.id,
    adminEmail: account.email,
    adminRole: owner.role,
    adminCreatedAt: iso(now),
  };
}

export interface TenantView {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
  /** every membership, Active and Inactive: the users list's unfiltered `total` */
  memberCount: number;
}

const tenantNotFound = () => notFound("TENANT_NOT_FOUND", "No tenant with this id is yours");

/** The caller's own tenant; any other id (another tenant's included) is 404, never 403. */
export async function getTenant(env: Env, callerTenantId: string, id: string): Promise<TenantView> {
  if (id !== callerTenantId) throw tenantNotFound();
  const db = database(env.DB);
  const [[tenant], [members]] = await db.batch([
    db.select().from(tenants).where(eq(tenants.id, id)).limit(1),
    db.select({ n: count() }).from(memberships).where(eq(memberships.tenantId, id)),
  ]);
  if (!tenant) throw tenantNotFound();
  return { id: tenant.id, name: tenant.name, createdAt: iso(tenant.createdAt), updatedAt: iso(tenant.updatedAt), memberCount: members?.n ?? 0 };
}

export interface RenormalizeResult {
  /** tenants whose stored key changed to today's nameKey() */
  updated: number;
  /** tenants whose new key another tenant already holds: they keep their old key (renaming is the operator's call) */
  conflicts: number;
  /** false when tenant_name_rekeys still lists tenants after this run */
  complete: boolean;
}

/**
 * Keys written before NFKC + case folding were `name.trim().toLowerCase()`: the same for ASCII names,
 * so migration 0009 listed only the others in tenant_name_rekeys (SQL has no NFKC). This recomputes
 * their keys in JavaScript, `batchSize` per statement and at most `maxBatches` per run, and takes each
 * off the list, so every run makes progress and an empty list costs one indexed read.
 */
export async function renormalizeTenantNames(env: Env, options: { batchSize?: number; maxBatches?: number } = {}): Promise<RenormalizeResult> {
  const batchSize = options.batchSize ?? 200;
  const maxBatches = options.maxBatches ?? 10;
  const select = env.DB.prepare(
    `SELECT r.tenant_id AS id, t.name, t.name_normalized FROM tenant_name_rekeys r
     LEFT JOIN tenants t ON t.id = r.tenant_id ORDER BY r.tenant_id LIMIT ?1`,
  );
  const update = env.DB.prepare("UPDATE tenants SET name_normalized = ?1 WHERE id = ?2 AND name_normalized = ?3");
  const done = env.DB.prepare("DELETE FROM tenant_name_rekeys WHERE tenant_id = ?1");
  let updated = 0;
  let conflicts = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const { results } = await select.bind(batchSize).all<{ id: string; name: string | null; name_normalized: string | null }>();
    for (const row of results) {
      const key = row.name === null ? null : nameKey(row.name);
      if (key !== null && key !== row.name_normalized) {
        try {
          // Key and list entry in one batch: a row is never taken off the list without its new key.
          const [changed] = await env.DB.batch([update.bind(key, row.id, row.name_normalized), done.bind(row.id)]);
          if ((changed?.meta.changes ?? 0) > 0) updated++;
          continue;
        } catch (error) {
          if (uniqueViolation(error) !== "tenants.name_normalized") throw error;
          conflicts++;
          console.warn(JSON.stringify({ msg: "tenant name key collides with another tenant's; old key kept", tenantId: row.id }));
        }
      }
      await done.bind(row.id).run();
    }
    if (results.length < batchSize) return { updated, conflicts, complete: true };
  }
  return { updated, conflicts, complete: false };
}

export interface TenantSettingsView {
  id: string;
  name: string;
  invitePolicy: InvitePolicy;
  redirectOrigins: string[];
  createdAt: string;
  updatedAt: string;
}

const tenantGone = () => notFound("TENANT_NOT_FOUND", "Your tenant no longer exists");

const toSettingsView = (row: TenantRow): TenantSettingsView => ({
  id: row.id,
  name: row.name,
  invitePolicy: row.invitePolicy,
  redirectOrigins: row.redirectOrigins,
  createdAt: iso(row.createdAt),
  updatedAt: iso(row.updatedAt),
});

/** The tenant's invite policy and redirect origins (other features read them through this). */
export async function getTenantSettings(env: Env, tenantId: string): Promise<TenantSettingsView> {
  const [row] = await database(env.DB).select().from(tenants).where(eq(tenants.id, tenantId)).limit(1);
  if (!row) throw tenantGone();
  return toSettingsView(row);
}

export interface TenantSettingsChange {
  invitePolicy?: InvitePolicy | undefined;
  redirectOrigins?: string[] | undefined;
}

/**
 * Owner only (checked by the route). Reads the settings, then writes only what differs, with its
 * `tenant.settings_changed` event in the same batch; the UPDATE matches only the values it read (a
 * concurrent change makes it retry), so the event names exactly what changed. Nothing changed: no write, no event.
 */
export async function updateTenantSettings(env: Env, caller: { tenantId: string; userId: string }, change: TenantSettingsChange): Promise<TenantSettingsView> {
  const db = database(env.DB);
  for (let attempt = 1; ; attempt++) {
    const [current] = await db.select().from(tenants).where(eq(tenants.id, caller.tenantId)).limit(1);
    if (!current) throw tenantGone();
    const invitePolicy = change.invitePolicy ?? current.invitePolicy;
    const redirectOrigins = change.redirectOrigins ?? current.redirectOrigins;
    const changed = [
      ...(invitePolicy !== current.invitePolicy ? (["invitePolicy"] as const) : []),
      ...(JSON.stringify(redirectOrigins) !== JSON.stringify(current.redirectOrigins) ? (["redirectOrigins"] as const) : []),
    ];
    if (changed.length === 0) return toSettingsView(current);
    const now = Date.now();
    const update = db
      .update(tenants)
      .set({ invitePolicy, redirectOrigins, updatedAt: now })
      .where(and(eq(tenants.id, caller.tenantId), eq(tenants.invitePolicy, current.invitePolicy), eq(tenants.redirectOrigins, current.redirectOrigins)))
      .returning();
    const event = eventStatements(
      env.DB,
      { tenantId: caller.tenantId, type: "tenant.settings_changed", actor: userActor(caller.userId), data: { changed, invitePolicy, redirectOrigins }, occurredAt: now },
      { sql: "changes() = 1", params: [] },
    );
    const [updated] = await env.DB.batch([asStatement(env.DB, update), ...event.statements]);
    const row = updated?.results[0] as Record<string, unknown> | undefined;
    if (row) return toSettingsView({ ...current, invitePolicy, redirectOrigins, updatedAt: now });
    if (attempt === 10) throw conflict("CONFLICT", "The tenant's settings changed while this request was processed; retry");
  }
}

/** A tenant as the platform operator sees it (§2.9). */
export interface OperatorTenantView {
  id: string;
  name: string;
  invitePolicy: InvitePolicy;
  inviteCount: number;
  memberCount: number;
  createdAt: string;
  updatedAt: string;
}

/** Every tenant, newest first: a range of the primary key per page; member counts from the memberships index. */
export async function listAllTenants(env: Env, request: CursorRequest): Promise<CursorPage<OperatorTenantView>> {
  const db = database(env.DB);
  return cursorPage(
    request,
    (bound, order, limit) => {
      const range = idRange(tenants.id, bound, order);
      return db
        .select({
          tenant: tenants,
          memberCount: sql<number>`(SELECT COUNT(*) FROM memberships m WHERE m.tenant_id = ${tenants.id})`,
        })
        .from(tenants)
        .where(range.where)
        .orderBy(range.orderBy)
        .limit(limit)
        .then((rows) => rows.map((row) => ({ ...row, id: row.tenant.id })));
    },
    ({ tenant, memberCount }) => ({
      id: tenant.id,
      name: tenant.name,
      invitePolicy: tenant.invitePolicy,
      inviteCount: tenant.inviteCount,
      memberCount,
      createdAt: iso(tenant.createdAt),
      updatedAt: iso(tenant.updatedAt),
    }),
  );
}
