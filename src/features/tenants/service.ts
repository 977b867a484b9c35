import { count, eq } from "drizzle-orm";
import { asStatement, database, uniqueViolation } from "../../db/client";
import { publicActor } from "../../events/catalogue";
import { eventStatements } from "../../events/record";
import { accounts, memberships, tenants } from "../../db/schema";
import type { Env } from "../../env";
import { conflict, notFound } from "../../http/errors";
import { newId } from "../../lib/ids";
import { iso } from "../../lib/time";
import { hashPassword } from "../../security/passwords";
import { handOver } from "../../outbox/mail-jobs";
import { verificationMail } from "../email-verification/service";

export interface TenantSignup {
  name: string;
  adminEmail: string;
  adminPassword: string;
}

const normalizeTenantName = (name: string) => name.trim().toLowerCase();

const nameTaken = () => conflict("TENANT_NAME_TAKEN", "A tenant with this name already exists");
const emailTaken = () => conflict("EMAIL_TAKEN", "This email is already registered");

/** Creates the tenant, its Owner's account and the Owner membership in one atomic batch; unique indexes settle any race. */
export async function createTenant(env: Env, input: TenantSignup) {
  const db = database(env.DB);
  const nameNormalized = normalizeTenantName(input.name);

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
    passwordHash: await hashPassword(input.adminPassword, env.PASSWORD_PEPPER),
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
