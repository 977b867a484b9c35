import type { OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import { WebhookPayloadSchema } from "../../events/schemas";

/** What receivers get (OpenAPI 3.1 `webhooks`): one POST per event and subscribed endpoint. Documentation only: registered by src/openapi-document.ts, never part of the deployed Worker. */
export const receiverWebhook = {
  method: "post",
  path: "event",
  tags: ["Webhooks"],
  summary: "An event, POSTed to every enabled endpoint subscribed to its type",
  description: "Standard Webhooks; see README, \"What a receiver gets\".",
  request: {
    headers: z.object({
      "webhook-id": z.uuid().openapi({ description: "The event id" }),
      "webhook-timestamp": z.string().openapi({ description: "Unix seconds" }),
      "webhook-signature": z.string().openapi({ description: "v1,<base64 HMAC-SHA256>, space-separated" }),
    }),
    body: { required: true, content: { "application/json": { schema: WebhookPayloadSchema } } },
  },
  responses: {
    200: { description: "Any 2xx acknowledges" },
    410: { description: "Gone: the endpoint is disabled at once" },
  },
} satisfies Parameters<OpenAPIHono["openAPIRegistry"]["registerWebhook"]>[0];
