import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import type { AppEnv } from "../../http/app-env";
import { authenticate, requireRole } from "../../http/authenticate";
import { cursorPageSchema, cursorQuerySchema, cursorRequest } from "../../http/cursor";
import { bearerSecurity, errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { IsoTimestampSchema } from "../../http/schemas";
import { requireJsonBody, validationHook } from "../../http/validation";
import { EVENT_TYPES } from "../../events/catalogue";
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  MAX_WEBHOOK_URL_LENGTH,
  MAX_WEBHOOKS_PER_TENANT,
  redeliver,
  rotateWebhookSecret,
  updateWebhook,
  WEBHOOK_LIST,
} from "./service";

/** Every webhook route is Owner-only: an endpoint receives the whole tenant's audit trail. */
const ownerOnly = [authenticate, requireRole("Owner")] as const;

const EventTypesSchema = z
  .array(z.string().max(64))
  .max(EVENT_TYPES.length)
  .nullable()
  .optional()
  .openapi({ description: `Event types to receive (omit or null for all): ${EVENT_TYPES.join(", ")}`, example: ["invite.accepted", "member.added"] });

const UrlSchema = z
  .string()
  .max(MAX_WEBHOOK_URL_LENGTH)
  .openapi({
    description: "https: with a public host name (see README, URL rules)",
    example: "https://hooks.example.com/edge-invites",
  });

const CreateWebhookSchema = z
  .object({ url: UrlSchema, events: EventTypesSchema, enabled: z.boolean().optional().openapi({ default: true }) })
  .openapi("CreateWebhook");

const UpdateWebhookSchema = z
  .object({ url: UrlSchema.optional(), events: EventTypesSchema, enabled: z.boolean().optional() })
  .refine((change) => change.url !== undefined || change.events !== undefined || change.enabled !== undefined, { message: "Give url, events or enabled" })
  .openapi("UpdateWebhook");

const WebhookSchema = z
  .object({
    id: z.uuid(),
    url: z.string(),
    events: z.array(z.enum(EVENT_TYPES as [string, ...string[]])).nullable(),
    enabled: z.boolean(),
    disabledAt: IsoTimestampSchema.nullable(),
    disabledReason: z.enum(["failing", "gone"]).nullable(),
    failingSince: IsoTimestampSchema.nullable(),
    previousSecretExpiresAt: IsoTimestampSchema.nullable(),
    createdAt: IsoTimestampSchema,
    updatedAt: IsoTimestampSchema,
  })
  .openapi("Webhook");

const WebhookWithSecretSchema = WebhookSchema.extend({
  secret: z.string().openapi({ description: "The signing secret, shown only here" }),
}).openapi("WebhookWithSecret");

const DeliverySchema = z
  .object({
    id: z.uuid(),
    webhookId: z.uuid(),
    eventId: z.uuid(),
    eventType: z.string(),
    attempt: z.number().int(),
    manual: z.boolean(),
    status: z.enum(["Pending", "Succeeded", "Failed", "Cancelled"]),
    scheduledAt: IsoTimestampSchema.nullable(),
    attemptedAt: IsoTimestampSchema.nullable(),
    responseStatus: z.number().int().nullable(),
    durationMs: z.number().int().nullable(),
    error: z.string().nullable(),
    createdAt: IsoTimestampSchema,
  })
  .openapi("WebhookDelivery");

const IdParams = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid" }) });
const DeliveryParams = IdParams.extend({ deliveryId: z.string().openapi({ param: { name: "deliveryId", in: "path" }, format: "uuid" }) });

const common = { tags: ["Webhooks"], security: bearerSecurity };

const createRouteDef = createRoute({
  ...common,
  method: "post",
  path: "/webhooks",
  description: `At most ${MAX_WEBHOOKS_PER_TENANT} per tenant (409 WEBHOOK_LIMIT_REACHED)`,
  middleware: [...ownerOnly, requireJsonBody] as const,
  request: { body: jsonBody(CreateWebhookSchema) },
  responses: { 201: jsonContent(WebhookWithSecretSchema, "The endpoint, with its secret"), ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
});

const listRouteDef = createRoute({
  ...common,
  method: "get",
  path: "/webhooks",
  middleware: [...ownerOnly] as const,
  request: { query: cursorQuerySchema },
  responses: { 200: jsonContent(cursorPageSchema(WebhookSchema, "WebhookList"), "A page of endpoints, newest first"), ...errorResponses(400, 401, 403, 404) },
});

const getRouteDef = createRoute({
  ...common,
  method: "get",
  path: "/webhooks/{id}",
  middleware: [...ownerOnly] as const,
  request: { params: IdParams },
  responses: { 200: jsonContent(WebhookSchema, "The endpoint (never its secret)"), ...errorResponses(401, 403, 404) },
});

const updateRouteDef = createRoute({
  ...common,
  method: "patch",
  path: "/webhooks/{id}",
    middleware: [...ownerOnly, requireJsonBody] as const,
  request: { params: IdParams, body: jsonBody(UpdateWebhookSchema) },
  responses: { 200: jsonContent(WebhookSchema, "The endpoint after the change"), ...errorResponses(400, 401, 403, 404, 413, 415) },
});

const deleteRouteDef = createRoute({
  ...common,
  method: "delete",
  path: "/webhooks/{id}",
    middleware: [...ownerOnly] as const,
  request: { params: IdParams },
  responses: { 204: { description: "Deleted" }, ...errorResponses(401, 403, 404) },
});

const rotateRouteDef = createRoute({
  ...common,
  method: "post",
  path: "/webhooks/{id}/rotate-secret",
  middleware: [...ownerOnly] as const,
  request: { params: IdParams },
  responses: { 200: jsonContent(WebhookWithSecretSchema, "The endpoint, with its new secret"), ...errorResponses(401, 403, 404) },
});

const deliveriesRouteDef = createRoute({
  ...common,
  method: "get",
  path: "/webhooks/{id}/deliveries",
  middleware: [...ownerOnly] as const,
  request: { params: IdParams, query: cursorQuerySchema },
  responses: { 200: jsonContent(cursorPageSchema(DeliverySchema, "WebhookDeliveryPage"), "A page of attempts"), ...errorResponses(400, 401, 403, 404) },
});

const redeliverRouteDef = createRoute({
  ...common,
  method: "post",
  path: "/webhooks/{id}/deliveries/{deliveryId}/redeliver",
  middleware: [...ownerOnly] as const,
  request: { params: DeliveryParams },
  responses: { 202: jsonContent(DeliverySchema, "The queued attempt"), ...errorResponses(401, 403, 404, 409) },
});

export const webhookRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createRouteDef, async (c) => {
    const created = await createWebhook(c.env, c.get("caller"), c.req.valid("json"));
    c.header("Location", `/api/v1/webhooks/${created.id}`);
    return c.json(created, 201);
  })
  .openapi(listRouteDef, async (c) => c.json(await listWebhooks(c.env, c.get("caller").tenantId, cursorRequest(c.req.valid("query"), WEBHOOK_LIST)), 200))
  .openapi(getRouteDef, async (c) => c.json(await getWebhook(c.env, c.get("caller").tenantId, c.req.valid("param").id), 200))
  .openapi(updateRouteDef, async (c) => c.json(await updateWebhook(c.env, c.get("caller"), c.req.valid("param").id, c.req.valid("json")), 200))
  .openapi(deleteRouteDef, async (c) => {
    await deleteWebhook(c.env, c.get("caller"), c.req.valid("param").id);
    return c.body(null, 204);
  })
  .openapi(rotateRouteDef, async (c) => c.json(await rotateWebhookSecret(c.env, c.get("caller"), c.req.valid("param").id), 200))
  .openapi(deliveriesRouteDef, async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await listDeliveries(c.env, c.get("caller").tenantId, id, cursorRequest(c.req.valid("query"))), 200);
  })
  .openapi(redeliverRouteDef, async (c) => {
    const { id, deliveryId } = c.req.valid("param");
    return c.json(await redeliver(c.env, c.get("caller").tenantId, id, deliveryId), 202);
  });
