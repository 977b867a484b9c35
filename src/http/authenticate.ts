import type { MiddlewareHandler } from "hono";
import { and, eq } from "drizzle-orm";
import type { Role } from "../db/schema";
import { accounts, memberships, tenants } from "../db/schema";
import { database } from "../db/client";
import { primaryOf } from "./d1-sessions";
import { loadConfig, requireSecret } from "../env";
import { loadKeyRing, verifyAccessToken } from "../security/jwt";
import type { AppEnv } from "./app-env";
import { ApiError, forbidden, unauthorized } from "./errors";

const BEARER = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)\s*$/i;

/**
 * Verifies the access token (pinned alg, iss, aud, typ, required claims) and loads the
 * caller's membership of the token's tenant from D1: the token carries identity (account, tenant),
 * the database carries authority. A removed or inactive membership is 401 on its very next request.
 */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const match = BEARER.exec(c.req.header("Authorization") ?? "");
  if (!match) throw unauthorized();
  const config = loadConfig(c.env);
  const ring = await loadKeyRing(requireSecret(c.env, "JWT_PRIVATE_KEY"), c.env.JWT_PREVIOUS_PUBLIC_KEYS);
  let claims;
  try {
    claims = await verifyAccessToken(ring, match[1] as string, { issuer: config.issuer, audience: config.audience });
  } catch {
    throw unauthorized();
  }
  // Authority is read on the primary even when the rest of a GET may be served by a replica.
  const [row] = await database(primaryOf(c.env.DB))
    .select({
      userId: memberships.accountId,
      tenantId: memberships.tenantId,
      email: accounts.email,
      role: memberships.role,
      status: memberships.status,
      tenantName: tenants.name,
    })
    .from(memberships)
    .innerJoin(accounts, eq(accounts.id, memberships.accountId))
    .leftJoin(tenants, eq(tenants.id, memberships.tenantId))
    .where(and(eq(memberships.accountId, claims.userId), eq(memberships.tenantId, claims.tenantId)))
    .limit(1);
  if (!row || row.status !== "Active") throw unauthorized();
  c.set("caller", {
    userId: row.userId,
    tenantId: row.tenantId,
    email: row.email,
    role: row.role,
    status: row.status,
    tenantExists: row.tenantName !== null,
  });
  await next();
};

/** Tenant-scoped routes: the caller's tenant must still exist, then the caller needs one of `roles`. */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const caller = c.get("caller");
    if (!caller.tenantExists) throw new ApiError(404, "TENANT_NOT_FOUND", "Your tenant no longer exists");
    if (!roles.includes(caller.role)) throw forbidden(`This action requires one of the roles: ${roles.join(", ")}`);
    await next();
  };
}

/** Routes open to every active member of a tenant that still exists. */
export const anyMember = [authenticate, requireRole("Owner", "Admin", "Developer", "Viewer")] as const;

/** Tenant management routes: a verified caller who is an Owner or Admin of a tenant that still exists. */
export const ownerOrAdmin = [authenticate, requireRole("Owner", "Admin")] as const;
