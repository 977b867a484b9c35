import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { expect, vi } from "vitest";
import worker from "../src/index";
import type { Env } from "../src/env";
import type { WebhookMessage } from "../src/outbox/webhooks";
import { call, type Session } from "./helpers";

export interface Received {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A webhook receiver in the test: intercepts the Worker's OUTBOUND fetch to `https://hooks.…` hosts
 * (the network, not our storage) and answers with `respond`. Requests to anything else pass through.
 */
export function webhookReceiver(respond: (request: Received, index: number) => Response | Promise<Response> = () => new Response(null, { status: 204 })) {
  const received: Received[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const original = globalThis.fetch;
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (!new URL(request.url).hostname.startsWith("hooks.")) return original(input, init);
    const entry: Received = { url: request.url, method: request.method, headers: Object.fromEntries(request.headers), body: await request.text() };
    received.push(entry);
    for (const waiter of waiters.filter((w) => received.length >= w.count)) waiter.resolve();
    return respond(entry, received.length - 1);
  });
  return {
    received,
    spy,
    /** resolves once `count` requests have arrived (bounded by the test's timeout, never by a sleep) */
    until(count: number): Promise<void> {
      if (received.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    restore: () => spy.mockRestore(),
  };
}

/**
 * What the receiver outside the Worker (vitest.config.ts `outboundService`, in Node) got at `url`:
 * the requests the Queue consumer sent in the background, over the Worker's real outbound fetch.
 */
export async function receivedAt(url: string): Promise<Received[]> {
  const response = await fetch(`https://receiver.control/log?path=${encodeURIComponent(new URL(url).pathname)}`);
  return (await response.json()) as Received[];
}

/** Waits until the outside receiver has `count` requests for `url` (bounded by the test timeout). */
export async function receivedUntil(url: string, count: number): Promise<Received[]> {
  for (;;) {
    const requests = await receivedAt(url);
    if (requests.length >= count) return requests;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Verifies a captured request exactly as a receiver would, with the standardwebhooks package. */
export function verifyWith(secret: string, request: Received): unknown {
  return new Webhook(secret).verify(request.body, request.headers);
}

export async function createWebhook(owner: Session, body: Record<string, unknown> = {}) {
  const response = await call("POST", "/api/v1/webhooks", { token: owner.token, body: { url: `https://hooks.example.com/${crypto.randomUUID()}`, ...body } });
  expect(response.status, response.text).toBe(201);
  return response.body as { id: string; url: string; secret: string; events: string[] | null; enabled: boolean };
}

/** Runs the Worker's queue() handler on one batch, as the Queue would, and returns what it acked/retried. */
export async function runQueue(messages: WebhookMessage[], queue = "edge-invites-webhooks", testEnv: Env = env) {
  const batch = createMessageBatch<WebhookMessage>(
    queue,
    messages.map((body, i) => ({ id: `m-${i}-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body })),
  );
  // getQueueResult reports which messages were retried, not the delay asked for: record it here.
  const delays: Array<{ msgId: string; delaySeconds: number | undefined }> = [];
  for (const message of batch.messages) {
    const retry = message.retry.bind(message);
    vi.spyOn(message, "retry").mockImplementation((options?: QueueRetryOptions) => {
      delays.push({ msgId: message.id, delaySeconds: options?.delaySeconds });
      retry(options);
    });
  }
  const ctx = createExecutionContext();
  await (worker as ExportedHandler<Env>).queue!(batch as MessageBatch<unknown>, testEnv, ctx);
  return { ...(await getQueueResult(batch, ctx)), delays };
}

export async function deliveryRows(endpointId: string) {
  const { results } = await env.DB.prepare(
    "SELECT id, event_id, attempt, manual, status, scheduled_at, enqueued_at, attempted_at, response_status, duration_ms, error FROM webhook_deliveries WHERE endpoint_id = ? ORDER BY created_at, attempt, id",
  )
    .bind(endpointId)
    .all<{ id: string; event_id: string; attempt: number; manual: number; status: string; scheduled_at: number; enqueued_at: number | null; attempted_at: number | null; response_status: number | null; duration_ms: number | null; error: string | null }>();
  return results;
}

export async function eventRows(tenantId: string, type?: string) {
  const { results } = await env.DB.prepare(`SELECT * FROM events WHERE tenant_id = ? ${type ? "AND type = ?" : ""} ORDER BY id`)
    .bind(...(type ? [tenantId, type] : [tenantId]))
    .all<{ id: string; type: string; actor_type: string; actor_id: string | null; data: string; occurred_at: number }>();
  return results.map((row) => ({ ...row, data: JSON.parse(row.data) as Record<string, unknown> }));
}
