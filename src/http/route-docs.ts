// The routes' summaries and descriptions, for the OpenAPI document only (src/openapi-document.ts merges
// them in at build time). Kept out of the route definitions, which ship in the Worker bundle where
// nothing reads them; a key that names no route fails the document build.
export const ROUTE_DOCS: Record<string, { summary?: string; description?: string }> = {
  "post /api/v1/auth/login": { summary: "Exchange email and password for an access token and a refresh token", description: "401 INVALID_CREDENTIALS for an unknown email, a wrong password and an account with no active membership alike. With `tenantId`: 403 NOT_A_MEMBER when the password is right but the account is not an active member there. 429 RATE_LIMITED (with Retry-After) past any of: LOGIN_FAILURES_PER_5_MIN failed attempts (default 10) per client IP, and per email from the client's network (IPv4 /24, IPv6 /64) — so guessing from one network never locks the owner out elsewhere; LOGIN_FAILURES_PER_HOUR_PER_EMAIL failures (100) per email from all networks together; LOGIN_SUCCESSES_PER_HOUR_PER_EMAIL (20) and LOGIN_SUCCESSES_PER_HOUR_PER_IP (100) successful logins." },
  "post /api/v1/auth/switch-tenant": { summary: "Open a session in another tenant the caller belongs to", description: "Returns a login-shaped token pair for `tenantId` (a new refresh family; the current session stays valid). 403 NOT_A_MEMBER unless the caller's membership there is Active, also for a tenant that does not exist." },
  "post /api/v1/auth/refresh": { summary: "Trade a refresh token for a new pair; the presented one is spent", description: "Refresh tokens rotate: each works once. Presenting a spent token revokes its whole family (every token descended from the same login), so a stolen token and the legitimate one both stop working. Any refusal is 401 INVALID_REFRESH_TOKEN. Each family (one signed-in session) may refresh REFRESH_LIMIT_PER_HOUR times per sliding hour (default 20); beyond that 429 RATE_LIMITED with Retry-After." },
  "post /api/v1/auth/logout": { summary: "Revoke the refresh token's family (this session on every device it was rotated to)", description: "Always 204 for a well-formed body, whether or not the token is known, so the endpoint is no token oracle." },
  "get /.well-known/jwks.json": { summary: "Public keys that verify access tokens (current signing key first, then retired ones still accepted)" },
  "post /api/v1/auth/verify-email": { summary: "Verify an email address with the token of a mailed link", description: "Spends the `ev_…` token of the newest mailed link (48 h). 400 INVALID_VERIFICATION_TOKEN." },
  "post /api/v1/auth/verify-email/resend": { summary: "Mail the caller a new verification link", description: "A new link (older ones stop working); `queued: false` if already verified. 429 within a minute of the last." },
  "get /api/v1/events": { summary: "The tenant's audit trail, newest first", description: "Cursor-paginated (nextCursor → starting_after, prevCursor → ending_before). Kept 90 days." },
  "get /healthz": { summary: "Uptime check: no auth, one table-less read, no write" },
  "get /api/v1/invites/{id}": { summary: "Get one invite (by id, Admin/Owner) or preview it (by token, public)", description: "With an invite id (UUID) and a bearer token of an Owner or Admin (or, under invitePolicy Members, of the Developer who created it): the full invite of the caller's tenant (another tenant's id, or for a Developer another's invite, is 404). With an invite token (`inv_…`) and no credentials: a public, side-effect-free preview `{tenantName, targetRole, expiresAt, status, email (masked), allowedDomains, redirectUrl, publicMetadata}`, rate-limited per client IP. Anything else is 404 INVITE_NOT_FOUND." },
  "delete /api/v1/invites/{id}": { summary: "Revoke an invite (idempotent)", description: "Only an Owner may revoke an Admin-role invite (403 ROLE_NOT_ASSIGNABLE). A used invite is 409 INVITE_NOT_REVOCABLE." },
  "post /api/v1/invites/{id}/renew": { summary: "Renew an invite: a fresh token and expiry on the same record", description: "The old token stops working at once. Pending and expired invites can be renewed; used (409 INVITE_USED) and revoked (409 INVITE_REVOKED) ones cannot. 409 INVITE_PENDING_FOR_EMAIL when another pending invite for the bound email exists; 409 INVITE_AUTHORITY_LAPSED when the invite's creator no longer holds the authority to issue it (not an Active Owner, or for a Developer/Viewer invite an Active Admin, of the tenant: deactivated, demoted or removed). Only an Owner may renew an Admin-role invite (403 ROLE_NOT_ASSIGNABLE)." },
  "post /api/v1/invites/{id}/resend": { summary: "Mail the current link of an email-bound invite again", description: "Owners and Admins; under invitePolicy Members also the Developer who created the invite (another's is 404). 409 INVITE_NOT_PENDING / INVITE_NOT_EMAIL_BOUND (links — multi-use or domain-restricted — have no email: share them by hand); 429 within 60 s of the invite's last accepted mail (create, renew, resend)." },
  "post /api/v1/invites": { summary: "Create an invite", description: "A tenant may create INVITE_CREATE_LIMIT_PER_HOUR invites per sliding hour (default 200), whoever creates them; beyond that 429 RATE_LIMITED with Retry-After." },
  "post /api/v1/invites/bulk": { summary: "Create up to 100 invites, all or nothing", description: "Each item is a create body (same rules). All are written in one D1 batch or none is. Refusals name the items: 400 (`VALIDATION_ERROR`, or `REDIRECT_NOT_ALLOWED` when that is every item's reason) with `details.items[index].fields`; 403 `ROLE_NOT_ASSIGNABLE` with `details.items[index].code`; 409 with `details.items[index].code` (`INVITE_PENDING_FOR_EMAIL` — also for two items with one email — or `INVITE_QUOTA_EXCEEDED`); `details.items` has one entry per item, null for those that were fine. The body may be up to 256 KiB. Every item counts against the tenant's create limit (INVITE_CREATE_LIMIT_PER_HOUR: a bulk of 40 spends 40 slots, 429 and nothing written when fewer are left) and against the pending-invite quota. Bound items are mailed as usual (their mail jobs are in the same batch); links are not." },
  "get /api/v1/invites": { summary: "List the tenant's invites" },
  "post /api/v1/invites/{token}/register": { summary: "Register with an invite token", description: "Creates an account and its membership of the invite's tenant. An email that already has an account is 409 EMAIL_TAKEN: sign in and use POST /invites/{token}/accept instead. 409 INVITE_AUTHORITY_LAPSED (here and on accept) when whoever issued the invite has since been deactivated, demoted or removed from the tenant, whatever the invite's role." },
  "post /api/v1/invites/{token}/accept": { summary: "Accept an invite with an existing account (signed in to any tenant)", description: "Adds a membership with the invite's role to the invite's tenant and marks the invite used, atomically: of concurrent accepts and registers of one token exactly one wins. 201 the member view in the invite's tenant (switch to it with POST /auth/switch-tenant). 409 ALREADY_MEMBER (the invite stays Pending), INVITE_USED, INVITE_EXPIRED, INVITE_REVOKED, EMAIL_MISMATCH (a bound invite and the account's email differ), EMAIL_DOMAIN_NOT_ALLOWED, INVITE_AUTHORITY_LAPSED. Counted with register against the same per-client limit (429). No body." },
  "post /api/v1/auth/password-reset": { summary: "Ask for a password reset link by mail", description: "Always 202 (the same work for unknown emails); an account gets a single-use 30-minute link. 429 per IP and per email." },
  "post /api/v1/auth/password-reset/confirm": { summary: "Set a new password with the token of a reset link", description: "Sets the password, verifies the email and revokes every refresh token of the account. 400 INVALID_RESET_TOKEN." },
  "post /api/v1/tenants": { summary: "Sign up: create a tenant and its Owner" },
  "get /api/v1/tenants/{id}": { summary: "The caller's tenant (any member)", description: "Any id other than the caller's own tenant (another tenant's included) is 404 TENANT_NOT_FOUND." },
  "get /api/v1/tenants/current": { summary: "The caller's tenant and its settings (any member)" },
  "patch /api/v1/tenants/current": { summary: "Change the tenant's invite policy and redirect origins (Owner)" },
  "get /api/v1/users/me": { summary: "The caller, as stored now" },
  "get /api/v1/users/me/tenants": { summary: "Every tenant the caller's account belongs to (Active and Inactive memberships), oldest first", description: "Works from a session in any of them (also one whose tenant was deleted); switch with POST /auth/switch-tenant. Cursor pages (Qt default 100); a cursor of another list is 400 INVALID_CURSOR." },
  "delete /api/v1/users/me": { summary: "Leave the current tenant", description: "Deletes the caller's membership of the session's tenant and ends its sessions there (its tokens answer 401 at once). The account and its other memberships stay. 409 LAST_OWNER for the tenant's last active Owner." },
  "get /api/v1/users": { summary: "List the tenant's users" },
  "get /api/v1/users/{id}": { summary: "One user of the caller's tenant" },
  "patch /api/v1/users/{id}": { summary: "Change a user's role and/or status" },
  "delete /api/v1/users/{id}": { summary: "Remove a member from the caller's tenant" },
  "post /api/v1/webhooks": { summary: "Register a webhook endpoint (Owner)" },
  "get /api/v1/webhooks": { summary: "The tenant's webhook endpoints, newest first (Owner)", description: "Cursor pages; the default page (Qt 10) holds the most a tenant may have. A cursor of another list is 400 INVALID_CURSOR." },
  "get /api/v1/webhooks/{id}": { summary: "One webhook endpoint (Owner)" },
  "patch /api/v1/webhooks/{id}": { summary: "Change an endpoint's url, events or enabled (Owner)" },
  "delete /api/v1/webhooks/{id}": { summary: "Delete an endpoint and its delivery log (Owner)" },
  "post /api/v1/webhooks/{id}/rotate-secret": { summary: "Rotate the signing secret (Owner)", description: "The old secret signs too for 24 h (two signatures)." },
  "get /api/v1/webhooks/{id}/deliveries": { summary: "The endpoint's delivery attempts, newest first (Owner)" },
  "post /api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver": { summary: "Send that attempt's event again, once (Owner)", description: "One new attempt, same webhook-id, no automatic retries." },
  "get /api/v1/operator/invites": {
    summary: "Every tenant's invites (platform operator)",
    description:
      "Read-only, cursor-paginated (starting_after/ending_before + Qt), newest first; `TenantId` narrows it to one tenant. Never a token " +
      "or metadata. 403 FORBIDDEN unless the account was made an operator with `npm run operator -- grant <email>`. Each call writes an " +
      "operator.viewed event in the operator's session tenant.",
  },
  "get /api/v1/operator/tenants": {
    summary: "Every tenant (platform operator)",
    description: "Read-only, cursor-paginated, newest first, with member and invite counts. 403 FORBIDDEN for non-operators. Each call writes an operator.viewed event.",
  },
};

/** Property descriptions of named schemas (components.schemas), "Schema.property", merged in the same way. */
export const FIELD_DOCS: Record<string, string> = {
  "Invite.uses": "Redemptions so far",
  "Invite.maxUses": "Redemptions allowed; the invite is Used once uses = maxUses",
  "Invite.privateMetadata": "Owners and Admins only (null for other callers)",
  "CreateInvite.email": "Bind the invite to this email (case-insensitive); the link is mailed to it",
  "CreateInvite.maxUses": "How many people may redeem this link (a multi-use link cannot be bound to an email)",
  "CreateInvite.allowedDomains": "Only emails at one of these domains (exact match, lower-cased) may redeem; not with `email`",
  "CreateInvite.redirectUrl": "Where the invitee goes after redeeming; its origin must be one of the tenant's redirectOrigins (else 400 REDIRECT_NOT_ALLOWED)",
  "CreateInvite.publicMetadata": "Shown in the public preview and copied onto the membership; a JSON object of at most 4096 bytes",
  "CreateInvite.privateMetadata": "Shown to Owners and Admins only; a JSON object of at most 4096 bytes",
  "InvitePreview.allowedDomains": "Only emails at these domains may redeem",
  "RegisteredUser.redirectUrl": "The invite's redirectUrl (send the browser there), or null",
  "ChangeTenantSettings.redirectOrigins": "Origins (scheme://host[:port]) an invite's redirectUrl may point at: https, or http://localhost for development; at most 10. Replaces the list.",
  "TenantSettings.invitePolicy": "AdminsOnly: Owners and Admins invite. Members: Developers also create, list, read, resend and revoke the Developer/Viewer invites they created",
};
