import * as z from "../lib/zod";
import { ACTOR_TYPES, INVITE_POLICIES, INVITE_ROLES, ROLES } from "../db/schema";

/**
 * Every event type and the shape of its `data` (DESIGN §2.8). Thin by rule: ids, roles, statuses and
 * the invitee's email; never a token, a link, a password, a secret or a webhook URL (a URL may carry a
 * receiver's own credentials in its query string, and events are readable by Admins).
 */
const id = () => z.uuid();
const timestamp = () => z.iso.datetime().openapi({ example: "2026-07-10T14:32:00.000Z" });

export const EVENT_DATA = {
  "invite.created": z.object({ inviteId: id(), targetRole: z.enum(INVITE_ROLES), email: z.string().nullable(), expiresAt: timestamp() }),
  "invite.renewed": z.object({ inviteId: id(), expiresAt: timestamp() }),
  "invite.resent": z.object({ inviteId: id() }),
  "invite.revoked": z.object({ inviteId: id() }),
  "invite.accepted": z.object({ inviteId: id(), memberId: id(), role: z.enum(INVITE_ROLES), via: z.enum(["register", "accept"]) }),
  "invite.delivery_failed": z.object({ inviteId: id(), attempts: z.number().int() }),
  "member.added": z.object({ memberId: id(), email: z.string(), role: z.enum(ROLES), inviteId: id().nullable() }),
  "member.role_changed": z.object({ memberId: id(), previousRole: z.enum(ROLES), role: z.enum(ROLES) }),
  "member.deactivated": z.object({ memberId: id() }),
  "member.reactivated": z.object({ memberId: id() }),
  "member.removed": z.object({ memberId: id(), role: z.enum(ROLES) }),
  "tenant.settings_changed": z.object({
    changed: z.array(z.enum(["invitePolicy", "redirectOrigins"])),
    invitePolicy: z.enum(INVITE_POLICIES),
    redirectOrigins: z.array(z.string()),
  }),
  "operator.viewed": z.object({ operatorId: id(), resource: z.enum(["invites", "tenants"]), tenantId: id().nullable(), count: z.number().int() }),
  "webhook.created": z.object({ webhookId: id(), events: z.array(z.string()).nullable(), enabled: z.boolean() }),
  "webhook.updated": z.object({ webhookId: id(), changed: z.array(z.enum(["url", "events", "enabled"])), events: z.array(z.string()).nullable(), enabled: z.boolean() }),
  "webhook.deleted": z.object({ webhookId: id() }),
  "webhook.secret_rotated": z.object({ webhookId: id(), previousSecretExpiresAt: timestamp() }),
  "webhook.disabled": z.object({ webhookId: id(), reason: z.enum(["failing", "gone"]), failingSince: timestamp().nullable() }),
} as const;

export type EventType = keyof typeof EVENT_DATA;
export const EVENT_TYPES = Object.keys(EVENT_DATA) as EventType[];
export type EventData<T extends EventType> = z.infer<(typeof EVENT_DATA)[T]>;

export interface Actor {
  type: (typeof ACTOR_TYPES)[number];
  /** the user's id for `user`; null for `public` (whoever holds a link) and `system` (cron, queue) */
  id: string | null;
}

export const systemActor: Actor = { type: "system", id: null };
export const userActor = (userId: string): Actor => ({ type: "user", id: userId });
export const publicActor: Actor = { type: "public", id: null };

export const isEventType = (value: string): value is EventType => Object.hasOwn(EVENT_DATA, value);
