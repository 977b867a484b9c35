import type { Env } from "../env";
import type { InvitePolicy, Role, UserStatus } from "../db/schema";
import type { VerifiedAccessToken } from "../security/jwt";

/** Who is calling, as read from D1 on this request (never from token claims). */
export interface Caller {
  /** the account id (the JWT `sub`) */
  userId: string;
  /** the tenant of this session; role and status are the account's membership there */
  tenantId: string;
  email: string;
  role: Role;
  status: UserStatus;
  tenantExists: boolean;
  /** the tenant's invitePolicy (§2.9): whether Developers manage invites */
  invitePolicy: InvitePolicy;
  /** the account is a platform operator (`npm run operator`) */
  isOperator: boolean;
}

/** A hot route's verified token and the roles it requires, until its own D1 call reads the authority. */
export interface DeferredAuthority {
  claims: VerifiedAccessToken;
  roles: readonly Role[];
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    caller: Caller;
    /** set by deferAuthority (src/http/authenticate.ts) on the hot routes */
    deferred?: DeferredAuthority;
    /** X-Request-Id of this request (src/http/request-id.ts) */
    requestId: string;
    /** CSP nonce of the /docs page (hono/secure-headers NONCE) */
    secureHeadersNonce?: string;
  };
}
