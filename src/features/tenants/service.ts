import { eq } from "drizzle-orm";
import { database, uniqueViolation } from "../../db/client";
import { tenants, users } from "../../db/schema";
import type { Env } from "../../env";
import { conflict } from "../../http/errors";
import { newId } from "../../lib/ids";
import { iso } from "../../lib/time";
import { hashPassword } from "../../security/passwords";

export interface TenantSignup {
  name: string;
  adminEmail: string;
  adminPassword: string;
}

const normalizeTenantName = (name: string) => name.trim().toLowerCase();

const nameTaken = () => conflict("TENANT_NAME_TAKEN", "A tenant with this name already exists");
const emailTaken = () => conflict("EMAIL_TAKEN", "This email is already registered");

/** Creates the tenant and its Owner in one atomic batch; unique indexes settle any race. */
export async function createTenant(env: Env, input: TenantSignup) {
  const db = database(env.DB);
  const nameNormalized = normalizeTenantName(input.name);

  // Cheap pre-check so a duplicate does not cost a password hash; the batch below stays authoritative.
  const [sameName, sameEmail] = await db.batch([
    db.select({ id: tenants.id }).from(tenants).where(eq(tenants.nameNormalized, nameNormalized)).limit(1),
    db.select({ id: users.id }).from(users).where(eq(users.email, input.adminEmail)).limit(1),
  ]);
  if (sameName.length) throw nameTaken();
  if (sameEmail.length) throw emailTaken();

  const now = Date.now();
  const tenant = { id: newId(), name: input.name.trim(), nameNormalized, createdAt: now, updatedAt: now };
  const owner = {
    id: newId(),
    tenantId: tenant.id,
    email: input.adminEmail,
    passwordHash: await hashPassword(input.adminPassword, env.PASSWORD_PEPPER),
    role: "Owner" as const,
    status: "Active" as const,
    createdAt: now,
    updatedAt: now,
  };
  try {
    await db.batch([db.insert(tenants).values(tenant), db.insert(users).values(owner)]);
  } catch (error) {
    const column = uniqueViolation(error);
    if (column === "tenants.name_normalized") throw nameTaken();
    if (column === "users.email") throw emailTaken();
    throw error;
  }
  return {
    tenantId: tenant.id,
    tenantName: tenant.name,
    tenantCreatedAt: iso(now),
    adminUserId: owner.id,
    adminEmail: owner.email,
    adminRole: owner.role,
    adminCreatedAt: iso(now),
  };
}
