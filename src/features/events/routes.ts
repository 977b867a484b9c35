import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import type { AppEnv } from "../../http/app-env";
import { ownerOrAdmin } from "../../http/authenticate";
import { cursorPageSchema, cursorQuerySchema, cursorRequest } from "../../http/cursor";
import { bearerSecurity, errorResponses, jsonContent } from "../../http/openapi";
import { validationHook } from "../../http/validation";
import { EVENT_TYPES, type EventType } from "../../events/catalogue";
import { EventSchema } from "../../events/schemas";
import { listEvents } from "./service";

const EventListQuery = cursorQuerySchema.extend({
  Type: z
    .string()
    .max(64)
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return undefined;
      const wanted = raw.trim().toLowerCase();
      const type = EVENT_TYPES.find((candidate) => candidate === wanted);
      if (!type) {
        ctx.addIssue({ code: "custom", message: `Type must be one of: ${EVENT_TYPES.join(", ")}` });
        return z.NEVER;
      }
      return type as EventType;
    })
    .openapi({ type: "string", enum: [...EVENT_TYPES], description: "Only events of this type (case-insensitive)" }),
});

const EventPageSchema = cursorPageSchema(EventSchema, "EventPage");

const listEventsRoute = createRoute({
  method: "get",
  path: "/events",
  tags: ["Events"],
  security: bearerSecurity,
  middleware: [...ownerOrAdmin] as const,
  request: { query: EventListQuery },
  responses: {
    200: jsonContent(EventPageSchema, "A page of events, newest first"),
    ...errorResponses(400, 401, 403, 404),
  },
});

export const eventRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(listEventsRoute, async (c) => {
  const query = c.req.valid("query");
  const page = await listEvents(c.env, c.get("caller").tenantId, cursorRequest(query), query.Type);
  // Each row's `data` was built from EVENT_DATA[type] when it was written; the union is not re-proven here.
  return c.json(page as unknown as z.infer<typeof EventPageSchema>, 200);
});
