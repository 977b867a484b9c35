import type { MiddlewareHandler } from "hono";
import { eq } from "drizzle-orm";
import type { Role } from "../db/schema";
import { tenants, users } from "../db/schema";
import { database } from "../db/client";
import { primaryOf } from "./d1-sessions";
import { loadConfig, requireSecret } from "../env";
import { loadKeyRing, verifyAccessToken } from "../security/jwt";
import type { AppEnv } from "./app-env";
import { ApiError, forbidden, unauthorized } from "./errors";

const BEARER = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)\s*$/i;

/**
 * Verifies the access token (pinned alg, iss, aud, typ, required claims) and loads the
 * caller's role and status from D1: the token carries identity, the database carries authority.
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
      userId: users.id,
      tenantId: users.tenantId,
      email: users.email,
      role: users.role,
      status: users.status,
      tenantName: tenants.name,
    })
    .from(users)
    .leftJoin(tenants, eq(tenants.id, users.tenantId))
    .where(eq(users.id, claims.userId))
    .limit(1);
  if (!row || row.status !== "Active" || row.tenantId !== claims.tenantId) throw unauthorized();
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

/** Tenant management routes: a verified caller who is an Owner or Admin of a tenant that still exists. */
export const ownerOrAdmin = [authenticate, requireRole("Owner", "Admin")] as const;
