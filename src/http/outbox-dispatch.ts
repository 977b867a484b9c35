import type { MiddlewareHandler } from "hono";
import { outboxMayHaveRows, watchingFanOut } from "../events/record";
import { withBindings } from "../env";
import { dispatchPending } from "../outbox/webhooks";
import type { AppEnv } from "./app-env";

/**
 * First webhook attempt "at once": when a request wrote webhook outbox rows (an event some endpoint
 * is subscribed to, src/events/record.ts), they are handed to the Queue after the response, in
 * waitUntil. If that hand-off is lost, the cron's sweep sends them later; nothing depends on it for
 * correctness. It costs one D1 statement (an UPDATE … RETURNING over the outbox's partial index) after
 * the response, and only on requests that wrote such rows: none in a tenant without webhooks.
 */
export const outboxDispatch: MiddlewareHandler<AppEnv> = async (c, next) => {
  c.env = withBindings(c.env, { DB: watchingFanOut(c.env.DB) });
  await next();
  if (!outboxMayHaveRows(c.env.DB)) return;
  // In the request's own (first-primary) session: its writes are the ones to hand over.
  const dispatch = dispatchPending(c.env).catch((error: unknown) => {
    console.error(JSON.stringify({ msg: "webhook dispatch failed; the cron sweep will retry", requestId: c.get("requestId"), error: String(error) }));
  });
  try {
    c.executionCtx.waitUntil(dispatch);
  } catch {
    await dispatch; // no execution context (app.request in a script): finish before answering
  }
};
