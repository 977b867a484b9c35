import * as z from "../lib/zod";
import { ACTOR_TYPES } from "../db/schema";
import { EVENT_DATA, EVENT_TYPES, type EventType } from "./catalogue";

/** OpenAPI shapes of events, as listed by GET /events and as POSTed to webhooks (one variant per type). */
export const ActorSchema = z
  .object({
    type: z.enum(ACTOR_TYPES).openapi({ description: "user: a signed-in member; public: whoever held a link; system: cron or queue" }),
    id: z.uuid().nullable().openapi({ description: "the user's id for `user`, else null" }),
  })
  .openapi("EventActor");

const variants = EVENT_TYPES.map((type: EventType) =>
  z
    .object({
      id: z.uuid(),
      type: z.literal(type),
      tenantId: z.uuid(),
      occurredAt: z.iso.datetime(),
      actor: ActorSchema,
      data: EVENT_DATA[type],
    })
    .openapi(`Event_${type.replace(".", "_")}`),
);

export const EventSchema = z
  .discriminatedUnion("type", variants as unknown as [(typeof variants)[number], ...(typeof variants)[number][]])
  .openapi("Event", { description: "An audit event; `data` depends on `type` (see the variants)" });

const payloadVariants = EVENT_TYPES.map((type: EventType) =>
  z
    .object({
      type: z.literal(type),
      timestamp: z.iso.datetime().openapi({ description: "when the event occurred (not when it was sent)" }),
      data: EVENT_DATA[type].extend({ tenantId: z.uuid(), actor: ActorSchema }),
    })
    .openapi(`WebhookPayload_${type.replace(".", "_")}`),
);

/** The body of a webhook request (Standard Webhooks `{type, timestamp, data}`); `webhook-id` is the event id. */
export const WebhookPayloadSchema = z
  .discriminatedUnion("type", payloadVariants as unknown as [(typeof payloadVariants)[number], ...(typeof payloadVariants)[number][]])
  .openapi("WebhookPayload", {
    description:
      "POSTed to each subscribed endpoint with the headers webhook-id (the event id: dedupe on it), webhook-timestamp (Unix seconds of the attempt) and webhook-signature (`v1,<base64 HMAC-SHA256>` of `id.timestamp.body`, space-separated when a rotated secret still signs)",
  });
