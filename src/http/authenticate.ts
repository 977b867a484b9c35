import type { Context, MiddlewareHandler } from "hono";
import { and, eq } from "drizzle-orm";
import type { Role } from "../db/schema";
import { accounts, memberships, tenants } from "../db/schema";
import { database, type Database } from "../db/client";
import { loadConfig, requireSecret } from "../env";
import { loadKeyRing, verifyAccessToken, type VerifiedAccessToken } from "../security/jwt";
import type { AppEnv, Caller, DeferredAuthority } from "./app-env";
import { ApiError, forbidden, unauthorized } from "./errors";

const BEARER = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)\s*$/i;

/** Verifies the bearer access token (pinned alg, iss, aud, typ, required claims); 401 on any defect. */
async function verifyBearer(c: Context<AppEnv>): Promise<VerifiedAccessToken> {
  const match = BEARER.exec(c.req.header("Authorization") ?? "");
  if (!match) throw unauthorized();
  const config = loadConfig(c.env);
  const ring = await loadKeyRing(requireSecret(c.env, "JWT_PRIVATE_KEY"), c.env.JWT_PREVIOUS_PUBLIC_KEYS);
  try {
    return await verifyAccessToken(ring, match[1] as string, { issuer: config.issuer, audience: config.audience });
  } catch {
    throw unauthorized();
  }
}

/**
 * The caller's membership of the token's tenant: the token carries identity (account, tenant), the
 * database carries authority. Hot routes put this statement first in the batch that reads their data
 * (one round trip); everything else reads it on its own in `authenticate`.
 */
export const authorityQuery = (db: Database, claims: VerifiedAccessToken) =>
  db
    .select({
      userId: memberships.accountId,
      tenantId: memberships.tenantId,
      email: accounts.email,
      role: memberships.role,
      status: memberships.status,
      tenantName: tenants.name,
      invitePolicy: tenants.invitePolicy,
      isOperator: accounts.isOperator,
    })
    .from(memberships)
    .innerJoin(accounts, eq(accounts.id, memberships.accountId))
    .leftJoin(tenants, eq(tenants.id, memberships.tenantId))
    .where(and(eq(memberships.accountId, claims.userId), eq(memberships.tenantId, claims.tenantId)))
    .limit(1);

export type AuthorityRow = Awaited<ReturnType<typeof authorityQuery>>[number];

/** Checks an authority row and returns the caller, or throws the 401/403/404 it calls for. */
export type Authorize = (row: AuthorityRow | undefined) => Caller;

/** A removed or inactive membership is 401 on its very next request. */
function callerOf(row: AuthorityRow | undefined): Caller {
  if (!row || row.status !== "Active") throw unauthorized();
  return { userId: row.userId, tenantId: row.tenantId, email: row.email, role: row.role, status: row.status, tenantExists: row.tenantName !== null, invitePolicy: row.invitePolicy ?? "AdminsOnly", isOperator: row.isOperator };
}

function assertRole(caller: Caller, roles: readonly Role[]): void {
  if (!caller.tenantExists) throw new ApiError(404, "TENANT_NOT_FOUND", "Your tenant no longer exists");
  if (!roles.includes(caller.role)) throw forbidden(`This action requires one of the roles: ${roles.join(", ")}`);
}

/**
 * Verifies the access token and reads the caller's authority (its own D1 call). In the request's D1
 * session: a GET may be answered by a replica (at most the replica lag behind, none with a bookmark),
 * every other method starts on the primary (src/http/d1-sessions.ts).
 */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const claims = await verifyBearer(c);
  const [row] = await authorityQuery(database(c.env.DB), claims);
  c.set("caller", callerOf(row));
  await next();
};

/**
 * Hot routes (one round trip): verifies the token only. The handler reads the caller's authority in
 * the same D1 batch as its data, or checks it inside its write statement, and calls `authorize` on the
 * authority row before shaping any response. A request refused before that (invalid body or query)
 * reads the authority first, so 401/403/404 still win over 400/415 (`settleAuthority`).
 */
export function deferAuthority(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set("deferred", { claims: await verifyBearer(c), roles });
    await next();
  };
}

/** The verified claims and required roles of a `deferAuthority` route. */
export function deferred(c: Context<AppEnv>): DeferredAuthority {
  const pending = c.get("deferred");
  if (!pending) throw new Error("deferred(): the route has no deferAuthority middleware");
  return pending;
}

/** Checks the authority row read for a deferred route; the response must not be shaped unless it returns. */
export function authorize(c: Context<AppEnv>, row: AuthorityRow | undefined): Caller {
  const caller = callerOf(row);
  assertRole(caller, deferred(c).roles);
  c.set("caller", caller);
  return caller;
}

/** Reads and checks a deferred route's caller authority on its own (a failure path's extra D1 call). */
export async function readAuthority(c: Context<AppEnv>): Promise<Caller> {
  const [row] = await authorityQuery(database(c.env.DB), deferred(c).claims);
  return authorize(c, row);
}

/** On any route's refusal paths (invalid body or query): a deferred route's authority is checked first. */
export async function settleAuthority(c: Context<AppEnv>): Promise<void> {
  if (c.get("deferred") && !c.get("caller")) await readAuthority(c);
}

/** Platform operator routes (§2.9): any signed-in account marked by `npm run operator`; 403 FORBIDDEN for every other. */
export const operatorOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.get("caller").isOperator) throw forbidden("Only platform operators may use this route");
  await next();
};

/** Tenant-scoped routes: the caller's tenant must still exist, then the caller needs one of `roles`. */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    assertRole(c.get("caller"), roles);
    await next();
  };
}

/** Routes open to every active member of a tenant that still exists. */
export const anyMember = [authenticate, requireRole("Owner", "Admin", "Developer", "Viewer")] as const;

/** Tenant management routes: a verified caller who is an Owner or Admin of a tenant that still exists. */
export const ownerOrAdmin = [authenticate, requireRole("Owner", "Admin")] as const;

/** The hot-route counterpart of ownerOrAdmin: the token now, the authority in the route's own D1 call. */
export const ownerOrAdminDeferred = deferAuthority("Owner", "Admin");
