import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import type { AppEnv } from "../../http/app-env";
import { ApiError } from "../../http/errors";
import { errorResponses, jsonContent } from "../../http/openapi";
import { validationHook } from "../../http/validation";
import { databaseAnswers } from "./service";

const HealthSchema = z.object({ status: z.literal("ok").openapi({ example: "ok" }) }).openapi("Health");

const healthRoute = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["Health"],
  responses: {
    200: jsonContent(HealthSchema, "The Worker runs and D1 answers"),
    ...errorResponses(503),
  },
});

export const healthRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(healthRoute, async (c) => {
  if (!(await databaseAnswers(c.env))) {
    throw new ApiError(503, "SERVICE_UNAVAILABLE", "The database is not answering", {}, { "Retry-After": "5" });
  }
  c.header("Cache-Control", "no-store");
  return c.json({ status: "ok" as const }, 200);
});
