import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Timestamps are stored as epoch milliseconds and served as ISO-8601 strings. */
const epochMs = (name: string) => integer(name, { mode: "number" });

export const ROLES = ["Owner", "Admin", "Developer", "Viewer"] as const;
export type Role = (typeof ROLES)[number];
export const USER_STATUSES = ["Active", "Inactive"] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

export const INVITE_POLICIES = ["AdminsOnly", "Members"] as const;
export type InvitePolicy = (typeof INVITE_POLICIES)[number];

export const tenants = sqliteTable(
  "tenants",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    /** nameKey(name) (src/lib/names.ts: NFKC + case folding): tenant names are unique under it */
    nameNormalized: text("name_normalized").notNull(),
    /** invites of this tenant, kept by triggers (drizzle/0002): an unfiltered list's `total` without a COUNT scan */
    inviteCount: integer("invite_count").notNull().default(0),
    /** who may invite (§2.9): "AdminsOnly" (Owner/Admin) or "Members" (also Developers, for Developer/Viewer invites) */
    invitePolicy: text("invite_policy", { enum: INVITE_POLICIES }).notNull().default("AdminsOnly"),
    /** JSON array of origins an invite's redirectUrl may point at */
    redirectOrigins: text("redirect_origins", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    createdAt: epochMs("created_at").notNull(),
    updatedAt: epochMs("updated_at").notNull(),
  },
  (t) => [uniqueIndex("tenants_name_normalized_uq").on(t.nameNormalized)],
);

/**
 * Tenants whose `name_normalized` was written before NFKC + case folding (a custom migration lists the
 * non-ASCII names, SQL having no NFKC); the scheduled handler recomputes their keys and empties it.
 */
export const tenantNameRekeys = sqliteTable("tenant_name_rekeys", {
  tenantId: text("tenant_id").primaryKey(),
});

/** An identity: one per person, whatever tenants they belong to. The id is the JWT `sub`. */
export const accounts = sqliteTable(
  "accounts",
  {
    id: text("id").primaryKey(),
    /** normalized (trimmed, lower-cased): emails are unique across the platform */
    email: text("email").notNull(),
    passwordHash: text("password_hash").notNull(),
    /** when the account proved it holds its mailbox (issue 13); null until then */
    emailVerifiedAt: epochMs("email_verified_at"),
    /** the tenant of the last login or switch: where a login without `tenantId` lands */
    lastTenantId: text("last_tenant_id"),
    /** a platform operator (§2.9): reads every tenant's invites and tenants; set only by `npm run operator` */
    isOperator: integer("is_operator", { mode: "boolean" }).notNull().default(false),
    createdAt: epochMs("created_at").notNull(),
    updatedAt: epochMs("updated_at").notNull(),
  },
  (t) => [uniqueIndex("accounts_email_uq").on(t.email)],
);

/**
 * An account's place in one tenant: what the seed calls a User (the member view). Authority
 * (role, status) lives here, per tenant.
 */
export const memberships = sqliteTable(
  "memberships",
  {
    /** no foreign key: a deleted tenant leaves its rows answering 404 TENANT_NOT_FOUND until purged */
    tenantId: text("tenant_id").notNull(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    /**
     * The account's email, copied so the users list sorts by email from a (tenant_id, email) index;
     * a trigger (drizzle/0004) keeps it equal to accounts.email.
     */
    email: text("email").notNull(),
    role: text("role", { enum: ROLES }).notNull(),
    status: text("status", { enum: USER_STATUSES }).notNull().default("Active"),
    createdAt: epochMs("created_at").notNull(),
    updatedAt: epochMs("updated_at").notNull(),
    /** the publicMetadata of the invite that made this membership (§2.9), or null */
    metadata: text("metadata", { mode: "json" }).$type<Record<string, unknown>>(),
  },
  (t) => [
    // Also the users list's `id` sort (the member view's id is the account id).
    primaryKey({ columns: [t.tenantId, t.accountId] }),
    index("memberships_account_idx").on(t.accountId),
    index("memberships_tenant_created_idx").on(t.tenantId, t.createdAt, t.accountId),
    index("memberships_tenant_updated_idx").on(t.tenantId, t.updatedAt, t.accountId),
    index("memberships_tenant_email_idx").on(t.tenantId, t.email),
    index("memberships_tenant_role_idx").on(t.tenantId, t.role, t.accountId),
    index("memberships_tenant_status_idx").on(t.tenantId, t.status, t.accountId),
  ],
);

export const INVITE_DELIVERY_STATUSES = ["NotRequested", "Queued", "Sent", "Failed"] as const;
export type InviteDeliveryStatus = (typeof INVITE_DELIVERY_STATUSES)[number];

export const INVITE_ROLES = ["Admin", "Developer", "Viewer"] as const;
export type InviteRole = (typeof INVITE_ROLES)[number];

export const invites = sqliteTable(
  "invites",
  {
    id: text("id").primaryKey(),
    /** no foreign key: a deleted tenant leaves its rows answering 404 TENANT_NOT_FOUND until purged */
    tenantId: text("tenant_id").notNull(),
    /** hex SHA-256 of the plaintext token: the lookup key */
    tokenHash: text("token_hash").notNull(),
    /** base64(iv || AES-256-GCM ciphertext) of the token, so admins can copy the link again */
    tokenCiphertext: text("token_ciphertext").notNull(),
    targetRole: text("target_role", { enum: INVITE_ROLES }).notNull(),
    /** normalized email the invite is bound to, or null */
    email: text("email"),
    createdBy: text("created_by").notNull(),
    expiresAt: epochMs("expires_at").notNull(),
    usedAt: epochMs("used_at"),
    usedBy: text("used_by"),
    revokedAt: epochMs("revoked_at"),
    createdAt: epochMs("created_at").notNull(),
    updatedAt: epochMs("updated_at").notNull(),
    /** the invite mail of the current token (src/outbox): kept here so every invite read shows it without a join */
    deliveryStatus: text("delivery_status", { enum: INVITE_DELIVERY_STATUSES }).notNull().default("NotRequested"),
    deliveryAttempts: integer("delivery_attempts").notNull().default(0),
    deliveryLastAttemptAt: epochMs("delivery_last_attempt_at"),
    deliverySentAt: epochMs("delivery_sent_at"),
    deliveryError: text("delivery_error"),
    /** when the last mail of this invite was accepted (create, renew, resend): resend's 60 s limit */
    lastMailRequestedAt: epochMs("last_mail_requested_at"),
    /** the outbox job of that mail: only it may still send or report delivery (an older one is superseded) */
    lastMailJobId: text("last_mail_job_id"),
    /** language of the invite's mails (en, pt-BR) */
    locale: text("locale").notNull().default("en"),
    /** redemptions allowed (§2.9); `used_at` is set by the one that takes the last of them */
    maxUses: integer("max_uses").notNull().default(1),
    uses: integer("uses").notNull().default(0),
    /** lower-cased email domains allowed to redeem, or null for any */
    allowedDomains: text("allowed_domains", { mode: "json" }).$type<string[]>(),
    /** where the invitee goes after redeeming; its origin is one of the tenant's redirect_origins */
    redirectUrl: text("redirect_url"),
    /** JSON objects (≤ 4 KiB serialized): public is shown in the preview and copied onto the membership */
    publicMetadata: text("public_metadata", { mode: "json" }).$type<Record<string, unknown>>(),
    privateMetadata: text("private_metadata", { mode: "json" }).$type<Record<string, unknown>>(),
    /** a fresh id per accepted redemption: the batch's later statements act only on the use it took */
    lastRedemptionId: text("last_redemption_id"),
  },
  (t) => [
    uniqueIndex("invites_token_hash_uq").on(t.tokenHash),
    index("invites_tenant_id_idx").on(t.tenantId, t.id),
    index("invites_tenant_created_idx").on(t.tenantId, t.createdAt, t.id),
    index("invites_tenant_expires_idx").on(t.tenantId, t.expiresAt, t.id),
    index("invites_tenant_used_idx").on(t.tenantId, t.usedAt, t.id),
    index("invites_tenant_role_idx").on(t.tenantId, t.targetRole, t.id),
    index("invites_tenant_email_idx").on(t.tenantId, t.email),
    index("invites_expires_idx").on(t.expiresAt),
    // Open (unused, unrevoked) invites only: counting Pending or Expired reads just these.
    index("invites_tenant_open_idx")
      .on(t.tenantId, t.expiresAt)
      .where(sql`${t.usedAt} IS NULL AND ${t.revokedAt} IS NULL`),
  ],
);

export const refreshTokens = sqliteTable(
  "refresh_tokens",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    /** a refresh token belongs to one (account, tenant) session */
    tenantId: text("tenant_id").notNull(),
    /** every token minted by refreshing descends from one login: reuse revokes the family */
    familyId: text("family_id").notNull(),
    tokenHash: text("token_hash").notNull(),
    expiresAt: epochMs("expires_at").notNull(),
    spentAt: epochMs("spent_at"),
    revokedAt: epochMs("revoked_at"),
    createdAt: epochMs("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("refresh_tokens_hash_uq").on(t.tokenHash),
    index("refresh_tokens_family_idx").on(t.familyId),
    index("refresh_tokens_session_idx").on(t.accountId, t.tenantId),
  ],
);

/** Who caused an event: a signed-in user, an anonymous caller holding a link, or the system itself (cron, queue). */
export const ACTOR_TYPES = ["user", "public", "system"] as const;
export type ActorType = (typeof ACTOR_TYPES)[number];

/**
 * The audit trail (DESIGN §2.8): one row per change, written in the same D1 batch as the change.
 * `data` is thin JSON (ids, roles, statuses), never a token, link, password or secret.
 */
export const events = sqliteTable(
  "events",
  {
    /** UUIDv7: newest first is `ORDER BY id DESC` */
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    type: text("type").notNull(),
    actorType: text("actor_type", { enum: ACTOR_TYPES }).notNull(),
    actorId: text("actor_id"),
    data: text("data").notNull(),
    occurredAt: epochMs("occurred_at").notNull(),
  },
  (t) => [
    index("events_tenant_id_idx").on(t.tenantId, t.id),
    index("events_tenant_type_idx").on(t.tenantId, t.type, t.id),
  ],
);

export const webhookEndpoints = sqliteTable(
  "webhook_endpoints",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    url: text("url").notNull(),
    /** JSON array of subscribed event types; NULL = every type */
    eventTypes: text("event_types"),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    /** base64(iv || AES-256-GCM) of the `whsec_…` signing secret: it must be usable to sign, so it is encrypted, not hashed */
    secretCiphertext: text("secret_ciphertext").notNull(),
    /** the secret replaced by the last rotation, still signing until `previous_secret_expires_at` */
    previousSecretCiphertext: text("previous_secret_ciphertext"),
    previousSecretExpiresAt: epochMs("previous_secret_expires_at"),
    /** first failed attempt since the last success; 3 days of failure disables the endpoint */
    failingSince: epochMs("failing_since"),
    disabledAt: epochMs("disabled_at"),
    disabledReason: text("disabled_reason"),
    createdAt: epochMs("created_at").notNull(),
    updatedAt: epochMs("updated_at").notNull(),
  },
  (t) => [index("webhook_endpoints_tenant_id_idx").on(t.tenantId, t.id)],
);

export const DELIVERY_STATUSES = ["Pending", "Succeeded", "Failed", "Cancelled"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * The webhook outbox and its log: one row per attempt to deliver one event to one endpoint. The first
 * attempt is written in the same batch as the event (so no event is lost between commit and queue);
 * each failed attempt writes the next one, scheduled by the retry plan.
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    endpointId: text("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: "cascade" }),
    eventId: text("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    /** 1-based; automatic attempts follow the retry plan, a manual redelivery gets the next number */
    attempt: integer("attempt").notNull(),
    manual: integer("manual", { mode: "boolean" }).notNull().default(false),
    status: text("status", { enum: DELIVERY_STATUSES }).notNull(),
    /** when the attempt is due (while Pending, a consumer's claim moves it forward by a lease) */
    scheduledAt: epochMs("scheduled_at").notNull(),
    /** when a Queue message was last sent for it; NULL = never (the dispatcher's to-do list) */
    enqueuedAt: epochMs("enqueued_at"),
    attemptedAt: epochMs("attempted_at"),
    responseStatus: integer("response_status"),
    durationMs: integer("duration_ms"),
    error: text("error"),
    createdAt: epochMs("created_at").notNull(),
  },
  (t) => [
    index("webhook_deliveries_endpoint_idx").on(t.endpointId, t.id),
    index("webhook_deliveries_message_idx").on(t.endpointId, t.eventId, t.status),
    index("webhook_deliveries_event_idx").on(t.eventId),
    // The outbox's open items only: what the dispatcher and the sweeper read.
    index("webhook_deliveries_pending_idx").on(t.scheduledAt).where(sql`${t.status} = 'Pending'`),
  ],
);

export const MAIL_KINDS = ["invite", "email_verification", "password_reset"] as const;
export type MailKind = (typeof MAIL_KINDS)[number];
export const MAIL_JOB_STATUSES = ["Queued", "Sending", "Sent", "Failed", "Skipped"] as const;
export type MailJobStatus = (typeof MAIL_JOB_STATUSES)[number];

/**
 * The transactional outbox (src/outbox): one row per mail to send, written in the same D1 batch as the
 * change that implies it. The Queue carries only the row's id; the row is the truth.
 */
export const mailOutbox = sqliteTable(
  "mail_outbox",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: MAIL_KINDS }).notNull(),
    /** the invite (kind invite) or the account (verification, reset) the mail is about */
    subjectId: text("subject_id").notNull(),
    /**
     * SHA-256 of the token the mail carries. An invite job whose version no longer matches the invite's
     * token_hash (renewed) sends nothing.
     */
    version: text("version").notNull(),
    recipient: text("recipient").notNull(),
    locale: text("locale").notNull(),
    /** JSON of the template's non-secret inputs (e.g. the inviter's email) */
    payload: text("payload").notNull().default("{}"),
    /** AES-GCM ciphertext of a token that exists nowhere else in plaintext (verification, reset); erased once done */
    secretCiphertext: text("secret_ciphertext"),
    status: text("status", { enum: MAIL_JOB_STATUSES }).notNull().default("Queued"),
    attempts: integer("attempts").notNull().default(0),
    /** a consumer holds the job until then; past it, a redelivery or the cron may take it over */
    leaseUntil: epochMs("lease_until"),
    lastAttemptAt: epochMs("last_attempt_at"),
    sentAt: epochMs("sent_at"),
    error: text("error"),
    /** last hand-over to the Queue: the cron re-enqueues Queued jobs whose hand-over is old */
    enqueuedAt: epochMs("enqueued_at").notNull(),
    createdAt: epochMs("created_at").notNull(),
    updatedAt: epochMs("updated_at").notNull(),
  },
  (t) => [
    index("mail_outbox_status_enqueued_idx").on(t.status, t.enqueuedAt),
  ],
);

/**
 * Local development only (MAIL_CATCHER = "1"): a copy of every mail sent, listed at /__dev/mail.
 * Production never writes it.
 */
export const caughtMail = sqliteTable(
  "dev_caught_mail",
  {
    id: text("id").primaryKey(),
    recipient: text("recipient").notNull(),
    subject: text("subject").notNull(),
    text: text("text").notNull(),
    html: text("html").notNull(),
    link: text("link"),
    sentAt: epochMs("sent_at").notNull(),
  },
  (t) => [index("dev_caught_mail_sent_idx").on(t.sentAt, t.id)],
);

export type MailJobRow = typeof mailOutbox.$inferSelect;

export const ACCOUNT_TOKEN_PURPOSES = ["email_verification", "password_reset"] as const;

/**
 * Single-use tokens of email verification and password-reset links, stored only as SHA-256. A new token
 * of a purpose spends the account's older ones, so only the newest link works.
 */
export const accountTokens = sqliteTable(
  "account_tokens",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    purpose: text("purpose", { enum: ACCOUNT_TOKEN_PURPOSES }).notNull(),
    tokenHash: text("token_hash").notNull(),
    expiresAt: epochMs("expires_at").notNull(),
    usedAt: epochMs("used_at"),
    createdAt: epochMs("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("account_tokens_hash_uq").on(t.tokenHash),
    index("account_tokens_account_idx").on(t.accountId, t.purpose),
  ],
);

export type TenantRow = typeof tenants.$inferSelect;
export type AccountRow = typeof accounts.$inferSelect;
export type MembershipRow = typeof memberships.$inferSelect;
export type InviteRow = typeof invites.$inferSelect;
export type RefreshTokenRow = typeof refreshTokens.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
