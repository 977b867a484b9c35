import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { userActor } from "../../src/events/catalogue";
import { eventStatements } from "../../src/events/record";
import { reencryptWebhookSecrets } from "../../src/features/webhooks/service";
import { DISABLE_AFTER_FAILING_MS, dispatchPending, RETRY_DELAYS_SECONDS, sweepOutbox, SWEEP_GRACE_MS } from "../../src/outbox/webhooks";
import { call, expectError, newTenant, type Session } from "../helpers";
import { createWebhook, deliveryRows, eventRows, receivedUntil, runQueue, verifyWith, webhookReceiver } from "../webhook-helpers";

let receiver: ReturnType<typeof webhookReceiver> | undefined;
afterEach(() => {
  receiver?.restore();
  receiver = undefined;
  vi.useRealTimers();
});

/** Waits for a condition the background Queue consumer brings about (bounded by the test timeout). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * An endpoint subscribed to invite.created only, and an invite.created event written straight into
 * D1 (as a service's batch would) without the HTTP layer's dispatch: the test drives the consumer.
 */
async function quietEndpoint(owner: Session) {
  return createWebhook(owner, { events: ["invite.created"] });
}

async function writeEvent(owner: Session, occurredAt = Date.now()) {
  const inviteId = crypto.randomUUID();
  const event = eventStatements(env.DB, {
    tenantId: owner.tenantId,
    type: "invite.created",
    actor: userActor(owner.userId),
    data: { inviteId, targetRole: "Viewer", email: null, expiresAt: new Date(occurredAt + 86_400_000).toISOString() },
    occurredAt,
  });
  await env.DB.batch(event.statements);
  return { eventId: event.id, inviteId };
}

describe("webhook delivery through the Queue", () => {
  it("end to end: a change → its event → the Queue → a signed POST that the standardwebhooks package verifies", async () => {
    const owner = await newTenant();
    const hook = await createWebhook(owner); // webhook.created goes to every subscribed endpoint, this one included
    const [request] = await receivedUntil(hook.url, 1);
    expect(request!.url).toBe(hook.url);
    expect(request!.method).toBe("POST");
    expect(request!.headers["content-type"]).toBe("application/json");
    const payload = verifyWith(hook.secret, request!) as { type: string; data: Record<string, unknown> };
    const [event] = await eventRows(owner.tenantId, "webhook.created");
    expect(request!.headers["webhook-id"]).toBe(event!.id);
    expect(payload).toEqual({
      type: "webhook.created",
      timestamp: new Date(event!.occurred_at).toISOString(),
      data: { webhookId: hook.id, events: null, enabled: true, tenantId: owner.tenantId, actor: { type: "user", id: owner.userId } },
    });
    const [row] = await eventually(() => deliveryRows(hook.id), (rows) => rows[0]?.status === "Succeeded");
    expect(row).toMatchObject({ attempt: 1, status: "Succeeded", response_status: 204, error: null });
    expect(row!.duration_ms).toBeGreaterThanOrEqual(0);
  });

  it("success: acked, the attempt logged, the failure record cleared", async () => {
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    await env.DB.prepare("UPDATE webhook_endpoints SET failing_since = ? WHERE id = ?").bind(Date.now() - 1000, hook.id).run();
    const { eventId, inviteId } = await writeEvent(owner);
    receiver = webhookReceiver(() => new Response("ok", { status: 200 }));
    const result = await runQueue([{ endpointId: hook.id, eventId }]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
    expect(receiver.received).toHaveLength(1);
    const payload = verifyWith(hook.secret, receiver.received[0]!) as { data: Record<string, unknown> };
    expect(payload.data).toMatchObject({ inviteId, targetRole: "Viewer", tenantId: owner.tenantId });
    expect((await deliveryRows(hook.id))[0]).toMatchObject({ status: "Succeeded", response_status: 200 });
    expect(await env.DB.prepare("SELECT failing_since FROM webhook_endpoints WHERE id = ?").bind(hook.id).first("failing_since")).toBeNull();
  });

  it("only endpoints subscribed to the type get a delivery; disabled ones none", async () => {
    const owner = await newTenant();
    const all = await createWebhook(owner);
    const invites = await createWebhook(owner, { events: ["invite.created", "invite.revoked"] });
    const members = await createWebhook(owner, { events: ["member.added"] });
    const off = await createWebhook(owner, { enabled: false });
    const { eventId } = await writeEvent(owner);
    const { results } = await env.DB.prepare("SELECT endpoint_id FROM webhook_deliveries WHERE event_id = ? ORDER BY endpoint_id").bind(eventId).all<{ endpoint_id: string }>();
    expect(results.map((r) => r.endpoint_id)).toEqual([all.id, invites.id].sort());
    expect(results.map((r) => r.endpoint_id)).not.toContain(members.id);
    expect(results.map((r) => r.endpoint_id)).not.toContain(off.id);
  });

  it(`failures follow the retry plan ${RETRY_DELAYS_SECONDS.join(", ")} s, one attempt row each, then stop; same webhook-id every time`, async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    let now = Date.UTC(2026, 6, 1, 12, 0, 0);
    vi.setSystemTime(now);
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    const { eventId } = await writeEvent(owner, now);
    receiver = webhookReceiver(() => new Response("nope", { status: 500 }));
    const message = { endpointId: hook.id, eventId };
    for (let attempt = 1; attempt <= RETRY_DELAYS_SECONDS.length + 1; attempt++) {
      const result = await runQueue([message]);
      expect(receiver.received, `attempt ${attempt} sent`).toHaveLength(attempt);
      const delay = RETRY_DELAYS_SECONDS[attempt - 1];
      if (delay === undefined) {
        expect(result.retryMessages).toEqual([]);
        expect(result.explicitAcks).toHaveLength(1);
        break;
      }
      expect(result.delays).toEqual([{ msgId: expect.any(String), delaySeconds: delay }]);
      // Early (a duplicate, or the Queue is ahead): nothing is sent, the message comes back when due.
      vi.setSystemTime((now += (delay * 1000) / 2));
      const early = await runQueue([message]);
      expect(receiver.received).toHaveLength(attempt);
      expect(early.delays[0]!.delaySeconds).toBeGreaterThan(0);
      expect(early.delays[0]!.delaySeconds).toBeLessThanOrEqual(Math.ceil(delay / 2) + 1);
      vi.setSystemTime((now += (delay * 1000) / 2 + 1000));
    }
    const rows = await deliveryRows(hook.id);
    expect(rows.map((r) => [r.attempt, r.status, r.response_status])).toEqual(Array.from({ length: 7 }, (_, i) => [i + 1, "Failed", 500]));
    expect(new Set(receiver.received.map((r) => r.headers["webhook-id"]))).toEqual(new Set([eventId]));
    const timestamps = receiver.received.map((r) => Number(r.headers["webhook-timestamp"]));
    expect(new Set(timestamps).size).toBe(7); // each attempt signs its own time
    for (const request of receiver.received) {
      vi.setSystemTime(Number(request.headers["webhook-timestamp"]) * 1000);
      expect(verifyWith(hook.secret, request)).toBeTruthy();
    }
    // a finished delivery: another message for it is acked without a request
    vi.setSystemTime((now += 86_400_000));
    const late = await runQueue([message]);
    expect(late.explicitAcks).toHaveLength(1);
    expect(receiver.received).toHaveLength(7);
  });

  it("network errors and timeouts are failed attempts (10 s AbortSignal, no redirects followed)", async () => {
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    const first = await writeEvent(owner);
    const second = await writeEvent(owner);
    receiver = webhookReceiver((_, index) => {
      if (index === 0) throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
      return new Response(null, { status: 302, headers: { Location: "https://elsewhere.example.com/" } });
    });
    const result = await runQueue([{ endpointId: hook.id, eventId: first.eventId }]);
    await runQueue([{ endpointId: hook.id, eventId: second.eventId }]);
    expect(result.delays).toEqual([{ msgId: expect.any(String), delaySeconds: 5 }]);
    const [, init] = receiver.spy.mock.calls[0]!;
    expect(init?.signal).toBeInstanceOf(AbortSignal);
    expect(init?.redirect).toBe("manual");
    const rows = await deliveryRows(hook.id);
    const byEvent = (eventId: string) => rows.find((r) => r.event_id === eventId && r.attempt === 1)!;
    expect(byEvent(first.eventId)).toMatchObject({ status: "Failed", response_status: null, error: "timed out after 10 s" });
    expect(byEvent(second.eventId)).toMatchObject({ status: "Failed", response_status: 302, error: "HTTP 302" });
    expect(receiver.received).toHaveLength(2); // the redirect was not followed
  });

  it("duplicate messages send once (the attempt is claimed); a disabled endpoint's attempts are cancelled unsent", async () => {
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    const { eventId } = await writeEvent(owner);
    receiver = webhookReceiver();
    const result = await runQueue([{ endpointId: hook.id, eventId }, { endpointId: hook.id, eventId }, { endpointId: hook.id, eventId }]);
    expect(receiver.received).toHaveLength(1);
    expect(result.retryMessages.length + result.explicitAcks.length).toBe(3);

    const later = await writeEvent(owner);
    await env.DB.prepare("UPDATE webhook_endpoints SET enabled = 0 WHERE id = ?").bind(hook.id).run();
    const ignored = await runQueue([{ endpointId: hook.id, eventId: later.eventId }]);
    expect(ignored.explicitAcks).toHaveLength(1);
    expect(receiver.received).toHaveLength(1);
    expect((await deliveryRows(hook.id)).find((r) => r.event_id === later.eventId)).toMatchObject({ status: "Cancelled" });
  });

  it("after 3 days of failures the endpoint is disabled, once, with a webhook.disabled event (to the other endpoints)", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.UTC(2026, 6, 1, 12, 0, 0);
    vi.setSystemTime(start);
    const owner = await newTenant();
    const failing = await quietEndpoint(owner);
    const watcher = await createWebhook(owner, { events: ["webhook.disabled"] });
    receiver = webhookReceiver((request) => new Response(null, { status: request.url === failing.url ? 503 : 204 }));
    const first = await writeEvent(owner, start);
    await runQueue([{ endpointId: failing.id, eventId: first.eventId }]);
    expect(await env.DB.prepare("SELECT failing_since FROM webhook_endpoints WHERE id = ?").bind(failing.id).first("failing_since")).toBe(start);

    // Failing, but not yet for 3 days: still enabled, still retried.
    vi.setSystemTime(start + DISABLE_AFTER_FAILING_MS - 60_000);
    const second = await writeEvent(owner);
    expect((await runQueue([{ endpointId: failing.id, eventId: second.eventId }])).retryMessages).toHaveLength(1);
    expect(await env.DB.prepare("SELECT enabled FROM webhook_endpoints WHERE id = ?").bind(failing.id).first("enabled")).toBe(1);

    vi.setSystemTime(start + DISABLE_AFTER_FAILING_MS);
    const third = await writeEvent(owner);
    const [a, b] = await Promise.all([
      runQueue([{ endpointId: failing.id, eventId: third.eventId }]),
      runQueue([{ endpointId: failing.id, eventId: first.eventId }]),
    ]);
    expect(a.retryMessages).toEqual([]);
    expect(b.retryMessages).toEqual([]);
    const endpoint = await env.DB.prepare("SELECT enabled, disabled_reason, disabled_at, failing_since FROM webhook_endpoints WHERE id = ?").bind(failing.id).first();
    expect(endpoint).toEqual({ enabled: 0, disabled_reason: "failing", disabled_at: start + DISABLE_AFTER_FAILING_MS, failing_since: start });
    const disabled = await eventRows(owner.tenantId, "webhook.disabled");
    expect(disabled).toHaveLength(1);
    expect(disabled[0]).toMatchObject({ actor_type: "system", actor_id: null, data: { webhookId: failing.id, reason: "failing", failingSince: new Date(start).toISOString() } });
    expect((await deliveryRows(failing.id)).filter((r) => r.status === "Pending")).toEqual([]);
    // the event goes to the watcher, never to the disabled endpoint
    const fanned = await env.DB.prepare("SELECT endpoint_id FROM webhook_deliveries WHERE event_id = ?").bind(disabled[0]!.id).all<{ endpoint_id: string }>();
    expect(fanned.results.map((r) => r.endpoint_id)).toEqual([watcher.id]);
  });

  it("410 Gone disables the endpoint at once (reason gone)", async () => {
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    const { eventId } = await writeEvent(owner);
    receiver = webhookReceiver(() => new Response(null, { status: 410 }));
    const result = await runQueue([{ endpointId: hook.id, eventId }]);
    expect(result.retryMessages).toEqual([]);
    expect((await call("GET", `/api/v1/webhooks/${hook.id}`, { token: owner.token })).body).toMatchObject({ enabled: false, disabledReason: "gone" });
    expect(await eventRows(owner.tenantId, "webhook.disabled")).toHaveLength(1);
  });

  it("after a rotation both secrets sign for 24 h (two signatures), then only the new one", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.UTC(2026, 6, 1, 12, 0, 0);
    vi.setSystemTime(start);
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    const rotated = await call("POST", `/api/v1/webhooks/${hook.id}/rotate-secret`, { token: owner.token });
    receiver = webhookReceiver();
    const { eventId } = await writeEvent(owner);
    await runQueue([{ endpointId: hook.id, eventId }]);
    const [during] = receiver.received;
    expect(during!.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    expect(verifyWith(rotated.body.secret, during!)).toBeTruthy();
    expect(verifyWith(hook.secret, during!)).toBeTruthy(); // a receiver not yet switched still verifies

    vi.setSystemTime(start + 24 * 3600_000 + 1000);
    const later = await writeEvent(owner);
    await runQueue([{ endpointId: hook.id, eventId: later.eventId }]);
    const after = receiver.received[1]!;
    expect(after.headers["webhook-signature"]!.split(" ")).toHaveLength(1);
    expect(verifyWith(rotated.body.secret, after)).toBeTruthy();
    expect(() => verifyWith(hook.secret, after)).toThrow();
  });

  it("after an INVITE_TOKEN_KEY rotation the nightly job re-seals endpoint secrets, so deliveries sign without the old key", async () => {
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    const newKey = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
    const rotated = { ...env, INVITE_TOKEN_KEY: newKey, INVITE_TOKEN_PREVIOUS_KEYS: env.INVITE_TOKEN_KEY };
    const forgotten = { ...env, INVITE_TOKEN_KEY: newKey, INVITE_TOKEN_PREVIOUS_KEYS: "" };
    const result = await reencryptWebhookSecrets(rotated);
    expect(result.reencrypted).toBeGreaterThanOrEqual(1);
    expect(await reencryptWebhookSecrets(rotated)).toEqual({ reencrypted: 0, undecryptable: 0 });
    const { eventId } = await writeEvent(owner);
    receiver = webhookReceiver();
    expect((await runQueue([{ endpointId: hook.id, eventId }], undefined, forgotten)).explicitAcks).toHaveLength(1);
    expect(verifyWith(hook.secret, receiver.received[0]!)).toBeTruthy();
    // Back under the suite's key, so the other endpoints of this file stay deliverable.
    await reencryptWebhookSecrets({ ...env, INVITE_TOKEN_PREVIOUS_KEYS: newKey });
  });

  it("a secret no configured key opens: a failed attempt in the log (retried), never an unsigned request", async () => {
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    const { eventId } = await writeEvent(owner);
    const foreignKey = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
    receiver = webhookReceiver();
    const result = await runQueue([{ endpointId: hook.id, eventId }], undefined, { ...env, INVITE_TOKEN_KEY: foreignKey, INVITE_TOKEN_PREVIOUS_KEYS: "" });
    expect(result.delays).toEqual([{ msgId: expect.any(String), delaySeconds: 5 }]);
    expect(receiver.received).toEqual([]);
    expect((await deliveryRows(hook.id))[0]).toMatchObject({ status: "Failed", response_status: null, error: expect.stringContaining("signing secret") });
  });

  it("a message from an unknown queue is an error, not a silent ack", async () => {
    await expect(runQueue([{ endpointId: crypto.randomUUID(), eventId: crypto.randomUUID() }], "edge-invites-unknown")).rejects.toThrow(/No consumer/);
  });
});

describe("the outbox: dispatch and the cron sweep", () => {
  it("the sweep re-sends attempts whose hand-off was lost, once they are overdue", async () => {
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    const { eventId } = await writeEvent(owner);
    expect((await deliveryRows(hook.id))[0]).toMatchObject({ status: "Pending", enqueued_at: null });
    // Not overdue yet: the sweep leaves it to the dispatcher.
    await sweepOutbox(env, Date.now());
    expect((await deliveryRows(hook.id))[0]).toMatchObject({ enqueued_at: null });

    const swept = await sweepOutbox(env, Date.now() + SWEEP_GRACE_MS + 1000);
    expect(swept).toBeGreaterThanOrEqual(1);
    const [request] = await receivedUntil(hook.url, 1);
    expect(request!.headers["webhook-id"]).toBe(eventId);
    expect(verifyWith(hook.secret, request!)).toBeTruthy();
    const [row] = await eventually(() => deliveryRows(hook.id), (rows) => rows[0]?.status === "Succeeded");
    expect(row!.enqueued_at).not.toBeNull();
  });

  it("a failed hand-off leaves the rows to be dispatched again (no event lost)", async () => {
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    await writeEvent(owner);
    const broken = { ...env, WEBHOOK_QUEUE: { sendBatch: () => Promise.reject(new Error("queue unavailable")) } as unknown as Queue };
    await expect(dispatchPending(broken)).rejects.toThrow("queue unavailable");
    expect((await deliveryRows(hook.id))[0]).toMatchObject({ status: "Pending", enqueued_at: null });
  });
});

describe("POST /api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver and GET …/deliveries", () => {
  it("202 queues one manual attempt of the same event (same webhook-id), tried once, no automatic retry", async () => {
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    const { eventId } = await writeEvent(owner);
    receiver = webhookReceiver(() => new Response(null, { status: 500 }));
    await runQueue([{ endpointId: hook.id, eventId }]);
    // the automatic retry is pending: redeliver returns it rather than adding another
    const [firstAttempt] = await deliveryRows(hook.id);
    const same = await call("POST", `/api/v1/webhooks/${hook.id}/deliveries/${firstAttempt!.id}/redeliver`, { token: owner.token });
    expect(same.status, same.text).toBe(202);
    expect(same.body).toMatchObject({ attempt: 2, manual: false, status: "Pending" });
    await env.DB.prepare("UPDATE webhook_deliveries SET status = 'Failed' WHERE endpoint_id = ? AND status = 'Pending'").bind(hook.id).run();

    receiver.restore(); // from here the receiver outside the Worker answers (204)
    const response = await call("POST", `/api/v1/webhooks/${hook.id}/deliveries/${firstAttempt!.id}/redeliver`, { token: owner.token });
    expect(response.status, response.text).toBe(202);
    expect(response.body).toMatchObject({ webhookId: hook.id, eventId, eventType: "invite.created", attempt: 3, manual: true, status: "Pending" });
    // The manual attempt goes through the real Queue (the receiver outside the Worker answers 204).
    const [redelivered] = await receivedUntil(hook.url, 1);
    expect(redelivered!.headers["webhook-id"]).toBe(eventId);
    const rows = await eventually(() => deliveryRows(hook.id), (all) => all.every((r) => r.status !== "Pending"));
    expect(rows.map((r) => [r.attempt, r.status, r.manual])).toEqual([[1, "Failed", 0], [2, "Failed", 0], [3, "Succeeded", 1]]);

    const log = await call("GET", `/api/v1/webhooks/${hook.id}/deliveries?Qt=2`, { token: owner.token });
    expect(log.status).toBe(200);
    expect(log.body.items.map((d: { attempt: number; status: string; manual: boolean }) => [d.attempt, d.status, d.manual])).toEqual([
      [3, "Succeeded", true],
      [2, "Failed", false],
    ]);
    expect(log.body.prevCursor).toBeNull();
    expect(log.body.nextCursor).toEqual(expect.any(String));
    const older = await call("GET", `/api/v1/webhooks/${hook.id}/deliveries?Qt=2&starting_after=${log.body.nextCursor}`, { token: owner.token });
    expect(older.body.items.map((d: { attempt: number }) => d.attempt)).toEqual([1]);
    expect(older.body.nextCursor).toBeNull();
    expect(older.body.items[0]).toMatchObject({ status: "Failed", responseStatus: 500, error: "HTTP 500", durationMs: expect.any(Number), attemptedAt: expect.any(String) });
    expectError(await call("GET", `/api/v1/webhooks/${hook.id}/deliveries?starting_after=nope`, { token: owner.token }), 400, "INVALID_CURSOR");
  });

  it("a failed manual attempt schedules no retry", async () => {
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    const { eventId } = await writeEvent(owner);
    await env.DB.prepare("UPDATE webhook_deliveries SET manual = 1 WHERE endpoint_id = ?").bind(hook.id).run();
    receiver = webhookReceiver(() => new Response(null, { status: 500 }));
    const result = await runQueue([{ endpointId: hook.id, eventId }]);
    expect(result.delays).toEqual([]);
    expect(result.explicitAcks).toHaveLength(1);
    expect((await deliveryRows(hook.id)).map((r) => [r.attempt, r.status])).toEqual([[1, "Failed"]]);
  });

  it("404 DELIVERY_NOT_FOUND (unknown, malformed, another endpoint's); 409 WEBHOOK_DISABLED", async () => {
    const owner = await newTenant();
    const hook = await quietEndpoint(owner);
    const other = await quietEndpoint(owner);
    await writeEvent(owner);
    const [otherDelivery] = await deliveryRows(other.id);
    for (const id of [crypto.randomUUID(), "nope", otherDelivery!.id]) {
      expectError(await call("POST", `/api/v1/webhooks/${hook.id}/deliveries/${id}/redeliver`, { token: owner.token }), 404, "DELIVERY_NOT_FOUND");
    }
    const [own] = await deliveryRows(hook.id);
    await call("PATCH", `/api/v1/webhooks/${hook.id}`, { token: owner.token, body: { enabled: false } });
    expectError(await call("POST", `/api/v1/webhooks/${hook.id}/deliveries/${own!.id}/redeliver`, { token: owner.token }), 409, "WEBHOOK_DISABLED");
  });
});
