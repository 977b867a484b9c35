import { createExecutionContext, createMessageBatch, createScheduledController, env, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import type { Env } from "../../src/env";
import { MAX_MAIL_ATTEMPTS } from "../../src/outbox/mail-consumer";
import { MAIL_JOB_RETENTION_MS, STUCK_AFTER_MS } from "../../src/outbox/maintenance";
import { call, createInvite, newTenant, register, uniqueEmail, type Session } from "../helpers";
import { deliver, failingBinding, mailJob, mailJobOf, recordingBinding } from "../mail-helpers";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

async function boundInvite(owner: Session, body: Record<string, unknown> = {}) {
  const email = uniqueEmail("invitee");
  const invite = await createInvite(owner.token, { email, role: "Viewer", ...body });
  return { ...invite, email };
}

const getInvite = async (owner: Session, id: string) => (await call("GET", `/api/v1/invites/${id}`, { token: owner.token })).body;

describe("invite mail: outbox + Queue consumer", () => {
  it("create with an email writes the job with the invite and hands its id to the queue; the consumer sends it and the invite shows Sent", async () => {
    const handOver = vi.spyOn(env.MAIL_QUEUE, "sendBatch");
    const owner = await newTenant("mail-happy");
    const invite = await boundInvite(owner);
    expect((invite as any).delivery).toEqual({ status: "Queued", attempts: 0, lastAttemptAt: null, sentAt: null, error: null });
    const jobId = await mailJobOf(invite.id);
    expect(handOver).toHaveBeenCalledWith([{ body: { jobId }, contentType: "json" }]);
    expect(await mailJob(jobId)).toMatchObject({ kind: "invite", subject_id: invite.id, recipient: invite.email, status: "Queued", attempts: 0, locale: "en" });

    const { sent, binding } = recordingBinding();
    const { result, messageIds } = await deliver([jobId], { email: binding });
    expect(result.explicitAcks).toEqual(messageIds);
    expect(result.retryMessages).toEqual([]);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ to: invite.email, from: "invites@edge-invites.example" });
    expect(sent[0]!.text).toContain(`https://edge-invites.test/invite/${invite.token}`);
    expect(sent[0]!.subject).toBe(`${owner.email} invited you to join ${owner.tenantName}`);

    const after = await getInvite(owner, invite.id);
    expect(after.delivery).toEqual({ status: "Sent", attempts: 1, lastAttemptAt: expect.any(String), sentAt: expect.any(String), error: null });
    expect(await mailJob(jobId)).toMatchObject({ status: "Sent", attempts: 1, lease_until: null });
  });

  it("the default EMAIL binding (miniflare's Email Service simulation) through the Worker's queue handler", async () => {
    const owner = await newTenant("mail-binding");
    const invite = await boundInvite(owner);
    const { result } = await deliver([await mailJobOf(invite.id)]);
    expect(result.explicitAcks).toHaveLength(1);
    expect((await getInvite(owner, invite.id)).delivery.status).toBe("Sent");
  });

  it("at-least-once: the same message delivered again, or twice at once, sends one mail", async () => {
    const owner = await newTenant("mail-once");
    const invite = await boundInvite(owner);
    const jobId = await mailJobOf(invite.id);
    const { sent, binding } = recordingBinding();
    const [a, b] = await Promise.all([deliver([jobId], { email: binding }), deliver([jobId], { email: binding })]);
    const again = await deliver([jobId, jobId], { email: binding, attempts: 2 });
    expect(sent).toHaveLength(1);
    for (const { result } of [a, b, again]) expect(result.retryMessages).toEqual([]);
    expect(again.result.explicitAcks).toHaveLength(2);
    expect((await getInvite(owner, invite.id)).delivery).toMatchObject({ status: "Sent", attempts: 1 });
  });

  it("a job for an invite revoked before sending sends nothing; the invite says why", async () => {
    const owner = await newTenant("mail-revoked");
    const invite = await boundInvite(owner);
    const jobId = await mailJobOf(invite.id);
    expect((await call("DELETE", `/api/v1/invites/${invite.id}`, { token: owner.token })).status).toBe(204);
    const { sent, binding } = recordingBinding();
    const { result } = await deliver([jobId], { email: binding });
    expect(sent).toHaveLength(0);
    expect(result.explicitAcks).toHaveLength(1);
    expect(await mailJob(jobId)).toMatchObject({ status: "Skipped", error: expect.stringContaining("revoked") });
    expect((await getInvite(owner, invite.id)).delivery).toMatchObject({ status: "NotRequested", error: "Not sent: the invite was revoked before its mail went out" });
  });

  it("a job for an invite used before sending sends nothing", async () => {
    const owner = await newTenant("mail-used");
    const invite = await boundInvite(owner);
    const jobId = await mailJobOf(invite.id);
    expect((await register(invite.token, invite.email)).status).toBe(201);
    const { sent, binding } = recordingBinding();
    await deliver([jobId], { email: binding });
    expect(sent).toHaveLength(0);
    expect(await mailJob(jobId)).toMatchObject({ status: "Skipped", error: expect.stringContaining("used") });
  });

  it("a job for an invite expired before sending sends nothing", async () => {
    const owner = await newTenant("mail-expired");
    const invite = await boundInvite(owner, { validityDays: 1 });
    const jobId = await mailJobOf(invite.id);
    vi.useFakeTimers({ now: Date.now() + 2 * 24 * 3600_000, toFake: ["Date"] });
    const { sent, binding } = recordingBinding();
    await deliver([jobId], { email: binding });
    expect(sent).toHaveLength(0);
    expect(await mailJob(jobId)).toMatchObject({ status: "Skipped", error: expect.stringContaining("expired") });
  });

  it("renewed before sending: the old job sends nothing, the renewal's job sends the new link", async () => {
    const owner = await newTenant("mail-renewed");
    const invite = await boundInvite(owner);
    const oldJob = await mailJobOf(invite.id);
    const renewed = await call("POST", `/api/v1/invites/${invite.id}/renew`, { token: owner.token, body: { validityDays: 3, locale: "pt-BR" } });
    expect(renewed.status, renewed.text).toBe(200);
    expect(renewed.body.delivery.status).toBe("Queued");
    const newJob = await mailJobOf(invite.id);
    expect(newJob).not.toBe(oldJob);
    const { sent, binding } = recordingBinding();
    await deliver([oldJob, newJob], { email: binding });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.text).toContain(renewed.body.token);
    expect(sent[0]!.text).not.toContain(invite.token);
    expect(sent[0]!.subject).toContain("convidou você");
    expect(await mailJob(oldJob)).toMatchObject({ status: "Skipped", error: expect.stringContaining("superseded") });
  });

  it("notify: false and unbound invites write no job and show NotRequested; renew with notify: false supersedes the pending mail", async () => {
    const owner = await newTenant("mail-optout");
    const handOver = vi.spyOn(env.MAIL_QUEUE, "sendBatch");
    const quiet = await boundInvite(owner, { notify: false });
    const unbound = await createInvite(owner.token, {});
    for (const invite of [quiet, unbound]) {
      expect((invite as any).delivery.status).toBe("NotRequested");
      const row = await env.DB.prepare("SELECT last_mail_job_id AS id FROM invites WHERE id = ?").bind(invite.id).first<{ id: string | null }>();
      expect(row?.id).toBeNull();
    }
    expect(handOver).not.toHaveBeenCalled();

    const loud = await boundInvite(owner);
    const job = await mailJobOf(loud.id);
    const renewed = await call("POST", `/api/v1/invites/${loud.id}/renew`, { token: owner.token, body: { notify: false } });
    expect(renewed.body.delivery.status).toBe("NotRequested");
    const { sent, binding } = recordingBinding();
    await deliver([job], { email: binding });
    expect(sent).toHaveLength(0);
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM mail_outbox WHERE subject_id IN (?, ?)").bind(quiet.id, unbound.id).first<{ n: number }>();
    expect(count?.n).toBe(0);
  });

  it("a refused create (a pending invite for that email exists) leaves no job; concurrent creates for one email: one invite, one job", async () => {
    const owner = await newTenant("mail-atomic");
    const email = uniqueEmail("contested");
    const responses = await Promise.all(Array.from({ length: 6 }, () => call("POST", "/api/v1/invites", { token: owner.token, body: { email } })));
    expect(responses.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    const jobs = await env.DB.prepare("SELECT COUNT(*) AS n FROM mail_outbox WHERE recipient = ?").bind(email).first<{ n: number }>();
    expect(jobs?.n).toBe(1);
  });

  it("a retryable provider error (rate limit) retries the message with backoff; the invite shows Queued with the error", async () => {
    const owner = await newTenant("mail-retry");
    const invite = await boundInvite(owner);
    const jobId = await mailJobOf(invite.id);
    const { binding, calls } = failingBinding("E_RATE_LIMIT_EXCEEDED");
    const { result, delays, messageIds } = await deliver([jobId], { email: binding });
    expect(calls()).toBe(1);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toEqual([{ msgId: messageIds[0] }]);
    expect(delays).toEqual([60]);
    expect((await getInvite(owner, invite.id)).delivery).toMatchObject({ status: "Queued", attempts: 1, error: expect.stringContaining("E_RATE_LIMIT_EXCEEDED") });
    expect(await mailJob(jobId)).toMatchObject({ status: "Queued", attempts: 1, lease_until: null });

    // Then it goes through: Sent, and the error is gone.
    const { sent, binding: working } = recordingBinding();
    await deliver([jobId], { email: working, attempts: 2 });
    expect(sent).toHaveLength(1);
    expect((await getInvite(owner, invite.id)).delivery).toMatchObject({ status: "Sent", attempts: 2, error: null });
  });

  it(`gives up after ${MAX_MAIL_ATTEMPTS} attempts: Failed, with a readable error, and the message is acknowledged`, async () => {
    const owner = await newTenant("mail-giveup");
    const invite = await boundInvite(owner);
    const jobId = await mailJobOf(invite.id);
    const { binding } = failingBinding("E_INTERNAL_SERVER_ERROR", "upstream timeout");
    const delays: number[] = [];
    for (let attempt = 1; attempt < MAX_MAIL_ATTEMPTS; attempt++) {
      const { result, delays: retried } = await deliver([jobId], { email: binding, attempts: attempt });
      expect(result.retryMessages).toHaveLength(1);
      delays.push(...(retried as number[]));
    }
    expect(delays).toEqual([30, 60, 120, 240, 480]);
    const { result } = await deliver([jobId], { email: binding, attempts: MAX_MAIL_ATTEMPTS });
    expect(result.explicitAcks).toHaveLength(1);
    const { delivery } = await getInvite(owner, invite.id);
    expect(delivery).toMatchObject({ status: "Failed", attempts: MAX_MAIL_ATTEMPTS, sentAt: null });
    expect(delivery.error).toBe(
      `E_INTERNAL_SERVER_ERROR: Email Service was temporarily unavailable — upstream timeout (gave up after ${MAX_MAIL_ATTEMPTS} attempts)`,
    );
  });

  it("a permanent provider error (suppressed recipient) is Failed at once, not retried", async () => {
    const owner = await newTenant("mail-suppressed");
    const invite = await boundInvite(owner);
    const jobId = await mailJobOf(invite.id);
    const { binding, calls } = failingBinding("E_RECIPIENT_SUPPRESSED", "address bounced");
    const { result } = await deliver([jobId], { email: binding });
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
    const { delivery } = await getInvite(owner, invite.id);
    expect(delivery).toMatchObject({ status: "Failed", attempts: 1 });
    expect(delivery.error).toMatch(/^E_RECIPIENT_SUPPRESSED: The recipient is on the suppression list/);
    // The audit trail says so, once, with no address or link in it.
    const { results: events } = await env.DB.prepare("SELECT type, data, actor_type FROM events WHERE tenant_id = ? AND type = 'invite.delivery_failed'").bind(owner.tenantId).all<{ type: string; data: string; actor_type: string }>();
    expect(events.map((e) => JSON.parse(e.data))).toEqual([{ inviteId: invite.id, attempts: 1 }]);
    await deliver([jobId], { email: binding, attempts: 2 });
    expect(calls()).toBe(1);
  });

  it("the daily quota waits until the next UTC midnight", async () => {
    const owner = await newTenant("mail-daily");
    const invite = await boundInvite(owner);
    vi.useFakeTimers({ now: Date.UTC(2026, 11, 1, 22, 0, 0), toFake: ["Date"] });
    const { binding } = failingBinding("E_DAILY_LIMIT_EXCEEDED");
    const jobId = await mailJobOf(invite.id);
    const { delays } = await deliver([jobId], { email: binding });
    expect(delays).toEqual([2 * 3600]);
    // The job's hand-over time moves to when the retry is due, so the cron leaves it alone until then.
    const job = await mailJob(jobId);
    expect(job!.enqueued_at - job!.last_attempt_at).toBe(2 * 3600 * 1000);
  });

  it("a crash inside the job (not a provider answer) retries the message with the queue's own delay", async () => {
    const owner = await newTenant("mail-crash");
    const invite = await boundInvite(owner);
    const binding = { send: () => Promise.reject(new Error("boom")) } as unknown as SendEmail;
    // The adapter turns even that into a typed, retryable failure.
    const { result } = await deliver([await mailJobOf(invite.id)], { email: binding });
    expect(result.retryMessages).toHaveLength(1);
    // A broken configuration (no INVITE_TOKEN_KEY) throws before any mail: retried by the queue, nothing sent.
    const other = await boundInvite(owner);
    const { sent, binding: recorder } = recordingBinding();
    const crashed = await deliver([await mailJobOf(other.id)], { email: recorder, vars: { INVITE_TOKEN_KEY: "" } as Partial<Env> });
    expect(crashed.result.retryMessages).toEqual([{ msgId: expect.any(String) }]);
    expect(crashed.delays).toEqual([undefined]);
    expect(sent).toHaveLength(0);
  });

  it("malformed messages are dropped (acknowledged), and a batch from an unknown queue fails (so it is retried)", async () => {
    const batch = createMessageBatch("edge-invites-mail", [{ id: "m1", timestamp: new Date(), attempts: 1, body: { nope: true } }]);
    const ctx = createExecutionContext();
    await (worker as ExportedHandler<Env>).queue!(batch as MessageBatch<any>, env as unknown as Env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["m1"]);

    // A batch from a queue this Worker has no consumer for fails the invocation: the Queue retries it.
    const stray = createMessageBatch("some-other-queue", [{ id: "m2", timestamp: new Date(), attempts: 1, body: {} }]);
    await expect((worker as ExportedHandler<Env>).queue!(stray as MessageBatch<any>, env as unknown as Env, createExecutionContext())).rejects.toThrow(/No consumer for queue some-other-queue/);
  });
});

describe("cron: stuck mail", () => {
  async function runCron(cron: string, scheduledTime: number) {
    const ctx = createExecutionContext();
    await (worker as ExportedHandler<Env>).scheduled!(createScheduledController({ cron, scheduledTime }), env as unknown as Env, ctx);
    await waitOnExecutionContext(ctx);
  }

  it("re-enqueues Queued jobs whose hand-over is old and Sending jobs whose lease expired; leaves fresh ones", async () => {
    const owner = await newTenant("mail-stuck");
    const stuck = await boundInvite(owner);
    const crashed = await boundInvite(owner);
    const fresh = await boundInvite(owner);
    const [stuckJob, crashedJob, freshJob] = await Promise.all([stuck, crashed, fresh].map((i) => mailJobOf(i.id)));
    const now = Date.now() + STUCK_AFTER_MS + 60_000;
    await env.DB.prepare("UPDATE mail_outbox SET enqueued_at = ? WHERE id = ?").bind(now - STUCK_AFTER_MS - 1, stuckJob).run();
    await env.DB.prepare("UPDATE mail_outbox SET status = 'Sending', lease_until = ?, enqueued_at = ? WHERE id = ?").bind(now - 1, now, crashedJob).run();
    await env.DB.prepare("UPDATE mail_outbox SET enqueued_at = ? WHERE id = ?").bind(now - 1000, freshJob).run();

    const handOver = vi.spyOn(env.MAIL_QUEUE, "sendBatch");
    await runCron("*/5 * * * *", now);
    const ids = handOver.mock.calls.flatMap(([messages]) => [...messages].map((m) => (m.body as { jobId: string }).jobId));
    expect(ids).toEqual(expect.arrayContaining([stuckJob, crashedJob]));
    expect(ids).not.toContain(freshJob);

    // The crashed one is claimable again (its lease expired) and sends once.
    const { sent, binding } = recordingBinding();
    vi.useFakeTimers({ now, toFake: ["Date"] });
    await deliver([crashedJob!, stuckJob!], { email: binding });
    expect(sent.map((m) => m.to).sort()).toEqual([crashed.email, stuck.email].sort());
  });

  it("the daily run purges finished jobs past their retention, never unfinished ones", async () => {
    const owner = await newTenant("mail-purge");
    const sentInvite = await boundInvite(owner);
    const waiting = await boundInvite(owner);
    const sentJob = await mailJobOf(sentInvite.id);
    await deliver([sentJob], { email: recordingBinding().binding });
    const waitingJob = await mailJobOf(waiting.id);
    const later = Date.now() + MAIL_JOB_RETENTION_MS + 60_000;
    await env.DB.prepare("UPDATE mail_outbox SET enqueued_at = ? WHERE id = ?").bind(later, waitingJob).run();
    await runCron("17 3 * * *", later);
    expect(await mailJob(sentJob)).toBeNull();
    expect(await mailJob(waitingJob)).not.toBeNull();
  });
});
