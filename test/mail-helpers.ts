import { createExecutionContext, createMessageBatch, env, getQueueResult, SELF } from "cloudflare:test";
import worker from "../src/index";
import type { Env } from "../src/env";
import { MAIL_QUEUE_NAME, type MailJobMessage } from "../src/outbox/mail-jobs";

export interface SentMail {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * Stand-ins for the `[[send_email]]` binding, so the real Email Service adapter runs on top of them:
 * one that records what it was given, one that throws the way Email Service does (an Error with `code`).
 */
export function recordingBinding() {
  const sent: SentMail[] = [];
  const binding = {
    async send(message: SentMail) {
      sent.push(message);
      return { messageId: `<${crypto.randomUUID()}@test>` };
    },
  } as unknown as SendEmail;
  return { sent, binding };
}

export function failingBinding(code: string, message = `provider said ${code}`) {
  let calls = 0;
  const binding = {
    async send() {
      calls++;
      throw Object.assign(new Error(message), { code });
    },
  } as unknown as SendEmail;
  return { binding, calls: () => calls };
}

/** The job id an invite's latest mail was written under. */
export async function mailJobOf(inviteId: string): Promise<string> {
  const row = await env.DB.prepare("SELECT last_mail_job_id AS id FROM invites WHERE id = ?").bind(inviteId).first<{ id: string | null }>();
  if (!row?.id) throw new Error(`invite ${inviteId} has no mail job`);
  return row.id;
}

export async function mailJob(jobId: string) {
  return env.DB.prepare("SELECT * FROM mail_outbox WHERE id = ?").bind(jobId).first<Record<string, any>>();
}

/**
 * Delivers queue messages to the Worker's own `queue()` handler, as Cloudflare Queues would, with the
 * EMAIL binding (and any var) of the test's choosing. Returns the ack/retry outcome per message.
 */
export async function deliver(jobIds: string[], options: { email?: SendEmail; vars?: Partial<Env>; attempts?: number } = {}) {
  const messages = jobIds.map((jobId) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts: options.attempts ?? 1, body: { jobId } }));
  const batch = createMessageBatch<MailJobMessage>(MAIL_QUEUE_NAME, messages);
  // getQueueResult reports which messages were retried, not with what delay: record that here.
  const delays: Array<number | undefined> = [];
  for (const message of batch.messages) {
    const retry = message.retry.bind(message);
    message.retry = (retryOptions?: QueueRetryOptions) => {
      delays.push(retryOptions?.delaySeconds);
      retry(retryOptions);
    };
  }
  const ctx = createExecutionContext();
  const testEnv = { ...(env as unknown as Env), ...(options.email ? { EMAIL: options.email } : {}), ...options.vars };
  await (worker as ExportedHandler<Env>).queue!(batch as MessageBatch<any>, testEnv, ctx);
  const result = await getQueueResult(batch, ctx);
  return { result, delays, messageIds: messages.map((m) => m.id) };
}

/** Proves `email`'s mailbox the way a person does: its newest verification mail, its link's token, POST /auth/verify-email. */
export async function verifyEmailOf(email: string): Promise<void> {
  const job = await env.DB.prepare("SELECT id FROM mail_outbox WHERE recipient = ? AND kind = 'email_verification' ORDER BY created_at DESC, id DESC LIMIT 1")
    .bind(email)
    .first<{ id: string }>();
  if (!job) throw new Error(`no verification mail for ${email}`);
  const { sent, binding } = recordingBinding();
  await deliver([job.id], { email: binding });
  const token = /\/verify-email\/(ev_[A-Za-z0-9_-]{43})/.exec(sent[0]?.text ?? "")?.[1];
  const response = await SELF.fetch("https://edge-invites.test/api/v1/auth/verify-email", {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": "10.250.0.1" },
    body: JSON.stringify({ token }),
  });
  if (response.status !== 204) throw new Error(`verifying ${email}: ${response.status} ${await response.text()}`);
}
