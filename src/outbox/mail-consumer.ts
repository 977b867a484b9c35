import type { MailJobRow } from "../db/schema";
import { loadConfig, requireSecret, type Env } from "../env";
import { LOCALES, DEFAULT_LOCALE, type Locale } from "../lib/locale";
import { catchMail, isMailCatcher } from "../mail/catcher";
import { EmailServiceMailer } from "../mail/email-service";
import type { Mailer, SendFailure } from "../mail/mailer";
import { inviteLink, resetPasswordLink, verifyEmailLink } from "../mail/links";
import { renderInviteMail, renderPasswordResetMail, renderVerificationMail, type RenderedMail } from "../mail/templates";
import { accountMailBinding } from "./account-mail";
import { decryptToken, isLegacyCiphertext, loadTokenKeyring, sha256Hex } from "../security/tokens";
import type { MailJobMessage } from "./mail-jobs";
import { systemActor } from "../events/catalogue";
import { eventStatements } from "../events/record";

/** Attempts per job (our count, across Queue redeliveries and cron re-enqueues) before it is marked Failed. */
export const MAX_MAIL_ATTEMPTS = 6;
/** A consumer holds a claimed job this long; a crash mid-send frees it after that. */
export const MAIL_LEASE_MS = 2 * 60 * 1000;
/** The longest delay a Queue message may be retried with (Cloudflare Queues: 12 hours). */
const MAX_RETRY_DELAY_SECONDS = 12 * 60 * 60;

export const defaultMailer = (env: Env): Mailer => new EmailServiceMailer(env.EMAIL);

export type MailJobOutcome =
  | { outcome: "sent"; messageId: string }
  | { outcome: "skipped"; reason: string }
  /** already sent, failed, skipped or being sent by another delivery of the same message */
  | { outcome: "not-claimed" }
  | { outcome: "retry"; delaySeconds: number; error: string }
  | { outcome: "failed"; error: string };

type Prepared = { mail: RenderedMail; onDone: (status: "Sent" | "Failed" | "Queued", fields: DeliveryFields) => D1PreparedStatement[] } | { skip: string; onSkip: D1PreparedStatement[] };

interface DeliveryFields {
  attempts: number;
  lastAttemptAt: number;
  sentAt: number | null;
  error: string | null;
}

const asLocale = (value: string): Locale => ((LOCALES as readonly string[]).includes(value) ? (value as Locale) : DEFAULT_LOCALE);

function payloadOf(job: MailJobRow): Record<string, string> {
  try {
    const parsed = JSON.parse(job.payload) as unknown;
    return parsed && typeof parsed === "object" ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

interface InviteForMail {
  tenant_id: string;
  token_ciphertext: string;
  token_hash: string;
  target_role: string;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
  last_mail_job_id: string | null;
  tenant_name: string | null;
}

/**
 * An invite mail is still wanted only while its job is the invite's latest (no renew or resend since)
 * for the same token, and the invite can still be redeemed. The delivery the invite shows is only ever
 * written by that latest job.
 */
async function prepareInviteMail(env: Env, job: MailJobRow, now: number): Promise<Prepared> {
  const invite = await env.DB.prepare(
    `SELECT i.tenant_id, i.token_ciphertext, i.token_hash, i.target_role, i.expires_at, i.used_at, i.revoked_at, i.last_mail_job_id,
            t.name AS tenant_name
     FROM invites i LEFT JOIN tenants t ON t.id = i.tenant_id WHERE i.id = ?1`,
  )
    .bind(job.subjectId)
    .first<InviteForMail>();
  const delivery = (status: "NotRequested" | "Sent" | "Failed" | "Queued", fields: DeliveryFields) =>
    env.DB.prepare(
      `UPDATE invites SET delivery_status = ?1, delivery_attempts = ?2, delivery_last_attempt_at = ?3, delivery_sent_at = ?4, delivery_error = ?5
       WHERE id = ?6 AND last_mail_job_id = ?7`,
    ).bind(status, fields.attempts, fields.lastAttemptAt, fields.sentAt, fields.error, job.subjectId, job.id);
  const skipFields = (error: string): DeliveryFields => ({ attempts: job.attempts, lastAttemptAt: now, sentAt: null, error });

  if (!invite || invite.tenant_name === null) return { skip: "the invite no longer exists", onSkip: [] };
  if (invite.last_mail_job_id !== job.id || invite.token_hash !== job.version) {
    return { skip: "superseded by a later mail of this invite (renewed or resent)", onSkip: [] };
  }
  const unsendable =
    invite.revoked_at !== null ? "the invite was revoked" : invite.used_at !== null ? "the invite was used" : invite.expires_at <= now ? "the invite expired" : null;
  if (unsendable) {
    const reason = `Not sent: ${unsendable} before its mail went out`;
    return { skip: reason, onSkip: [delivery("NotRequested", skipFields(reason))] };
  }

  // A token that does not open (a key retired too early, say) throws: the queue retries, then dead-letters it.
  const ring = await loadTokenKeyring(requireSecret(env, "INVITE_TOKEN_KEY"), env.INVITE_TOKEN_PREVIOUS_KEYS);
  const token = await decryptToken(ring, invite.token_ciphertext, { inviteId: job.subjectId, tenantId: invite.tenant_id });
  if (isLegacyCiphertext(invite.token_ciphertext) && (await sha256Hex(token)) !== invite.token_hash) {
    throw new Error(`invite ${job.subjectId}: its legacy token ciphertext belongs to another row`);
  }
  const mail = renderInviteMail({
    locale: asLocale(job.locale),
    tenantName: invite.tenant_name,
    role: invite.target_role,
    inviterEmail: payloadOf(job).inviterEmail ?? "",
    expiresAt: invite.expires_at,
    link: inviteLink(loadConfig(env).mail, token),
  });
  const failedEvent = (fields: DeliveryFields) =>
    eventStatements(
      env.DB,
      { tenantId: invite.tenant_id, type: "invite.delivery_failed", actor: systemActor, data: { inviteId: job.subjectId, attempts: fields.attempts }, occurredAt: now },
      { sql: "EXISTS (SELECT 1 FROM invites WHERE id = ? AND last_mail_job_id = ?)", params: [job.subjectId, job.id] },
    ).statements;
  return { mail, onDone: (status, fields) => [delivery(status, fields), ...(status === "Failed" ? failedEvent(fields) : [])] };
}

/**
 * A verification or reset mail is still wanted while its token (the job's `version`) is unused and
 * unexpired — a newer link of the same kind spends the older ones — and, for verification, while the
 * account is unverified. Its link's token exists only as the job's ciphertext, erased once the job is done.
 */
async function prepareAccountMail(env: Env, job: MailJobRow, now: number): Promise<Prepared> {
  const row = await env.DB.prepare(
    `SELECT t.expires_at, t.used_at, a.email, a.email_verified_at
     FROM account_tokens t JOIN accounts a ON a.id = t.account_id
     WHERE t.token_hash = ?1 AND t.account_id = ?2 AND t.purpose = ?3`,
  )
    .bind(job.version, job.subjectId, job.kind)
    .first<{ expires_at: number; used_at: number | null; email: string; email_verified_at: number | null }>();
  const unsendable = !row
    ? "the account no longer exists"
    : row.used_at !== null
      ? "the link was used or replaced by a newer one"
      : row.expires_at <= now
        ? "the link expired"
        : job.kind === "email_verification" && row.email_verified_at !== null
          ? "the email is already verified"
          : null;
  if (unsendable || !row || !job.secretCiphertext) return { skip: `Not sent: ${unsendable ?? "its link is gone"}`, onSkip: [] };
  const ring = await loadTokenKeyring(requireSecret(env, "INVITE_TOKEN_KEY"), env.INVITE_TOKEN_PREVIOUS_KEYS);
  const token = await decryptToken(ring, job.secretCiphertext, accountMailBinding(job.id));
  const config = loadConfig(env).mail;
  const input = { locale: asLocale(job.locale), email: row.email, expiresAt: row.expires_at };
  const mail =
    job.kind === "email_verification"
      ? renderVerificationMail({ ...input, link: verifyEmailLink(config, token) })
      : renderPasswordResetMail({ ...input, link: resetPasswordLink(config, token) });
  return { mail, onDone: () => [] };
}

const PREPARERS: Record<MailJobRow["kind"], (env: Env, job: MailJobRow, now: number) => Promise<Prepared>> = {
  invite: prepareInviteMail,
  email_verification: prepareAccountMail,
  password_reset: prepareAccountMail,
};

/** Exponential from 30 s, or the provider's own hint; never past what a Queue retry allows. */
export function retryDelaySeconds(failure: SendFailure, attempts: number): number {
  const backoff = 30 * 2 ** Math.max(0, attempts - 1);
  return Math.min(MAX_RETRY_DELAY_SECONDS, Math.max(failure.retryAfterSeconds ?? 0, backoff));
}

/**
 * Runs one job at most once per claim. The claim (Queued, or Sending with an expired lease → Sending)
 * is one conditional UPDATE, so concurrent or repeated deliveries of the same message — at-least-once
 * Queues do that — find nothing to claim and send nothing. A mail goes out twice only if the Worker dies
 * between the provider accepting it and the Sent write, which no provider API can make atomic.
 */
export async function runMailJob(env: Env, jobId: string, mailer: Mailer, now = Date.now()): Promise<MailJobOutcome> {
  const job = await env.DB.prepare(
    `UPDATE mail_outbox SET status = 'Sending', attempts = attempts + 1, last_attempt_at = ?2, lease_until = ?3, updated_at = ?2
     WHERE id = ?1 AND (status = 'Queued' OR (status = 'Sending' AND lease_until < ?2))
     RETURNING id, kind, subject_id AS subjectId, version, recipient, locale, payload, secret_ciphertext AS secretCiphertext,
               status, attempts, lease_until AS leaseUntil, last_attempt_at AS lastAttemptAt, sent_at AS sentAt, error,
               enqueued_at AS enqueuedAt, created_at AS createdAt, updated_at AS updatedAt`,
  )
    .bind(jobId, now, now + MAIL_LEASE_MS)
    .first<MailJobRow>();
  if (!job) return { outcome: "not-claimed" };

  const finish = (status: "Sent" | "Failed" | "Skipped" | "Queued", fields: { error: string | null; sentAt?: number; enqueuedAt?: number }) =>
    env.DB.prepare(
      `UPDATE mail_outbox SET status = ?2, error = ?3, sent_at = ?4, lease_until = NULL, updated_at = ?5,
              enqueued_at = COALESCE(?6, enqueued_at),
              secret_ciphertext = CASE WHEN ?2 = 'Queued' THEN secret_ciphertext ELSE NULL END
       WHERE id = ?1`,
    ).bind(job.id, status, fields.error, fields.sentAt ?? null, now, fields.enqueuedAt ?? null);

  const prepare = PREPARERS[job.kind];
  const prepared: Prepared = prepare ? await prepare(env, job, now) : { skip: `Not sent: unknown mail kind ${job.kind}`, onSkip: [] };
  if ("skip" in prepared) {
    await env.DB.batch([finish("Skipped", { error: prepared.skip }), ...prepared.onSkip]);
    return { outcome: "skipped", reason: prepared.skip };
  }

  const { mail } = prepared;
  const result = await mailer.send({ to: job.recipient, from: loadConfig(env).mail.from, subject: mail.subject, text: mail.text, html: mail.html });
  if (result.ok) {
    await env.DB.batch([
      finish("Sent", { error: null, sentAt: now }),
      ...prepared.onDone("Sent", { attempts: job.attempts, lastAttemptAt: now, sentAt: now, error: null }),
      ...(isMailCatcher(env) ? [catchMail(env, { id: job.id, to: job.recipient, ...mail, sentAt: now })] : []),
    ]);
    return { outcome: "sent", messageId: result.messageId };
  }

  const delivery = { attempts: job.attempts, lastAttemptAt: now, sentAt: null, error: result.message };
  if (result.retryable && job.attempts < MAX_MAIL_ATTEMPTS) {
    const delaySeconds = retryDelaySeconds(result, job.attempts);
    // enqueued_at moves to when the retry is due, so the cron does not take a waiting job for a stuck one.
    await env.DB.batch([finish("Queued", { error: result.message, enqueuedAt: now + delaySeconds * 1000 }), ...prepared.onDone("Queued", delivery)]);
    return { outcome: "retry", delaySeconds, error: result.message };
  }
  const error = result.retryable ? `${result.message} (gave up after ${job.attempts} attempts)` : result.message;
  await env.DB.batch([finish("Failed", { error }), ...prepared.onDone("Failed", { ...delivery, error })]);
  return { outcome: "failed", error };
}

/**
 * The Queue consumer. Each message is acknowledged once its job reached an outcome, or retried with the
 * job's backoff; an unexpected error (D1 unavailable, say) retries with the queue's retry_delay, and a
 * message that keeps failing that way ends in the dead-letter queue after max_retries.
 */
export async function handleMailBatch(batch: MessageBatch<MailJobMessage>, env: Env, mailer: Mailer = defaultMailer(env)): Promise<void> {
  for (const message of batch.messages) {
    const jobId = (message.body as Partial<MailJobMessage> | null)?.jobId;
    if (typeof jobId !== "string") {
      console.error(JSON.stringify({ msg: "mail queue: malformed message dropped", id: message.id }));
      message.ack();
      continue;
    }
    try {
      const result = await runMailJob(env, jobId, mailer);
      if (result.outcome === "retry") message.retry({ delaySeconds: result.delaySeconds });
      else message.ack();
      if (result.outcome === "failed" || result.outcome === "retry") {
        console.warn(JSON.stringify({ msg: "mail not sent", jobId, outcome: result.outcome, error: result.error }));
      }
    } catch (error) {
      console.error(JSON.stringify({ msg: "mail job crashed; the queue retries it", jobId, error: String(error) }));
      message.retry();
    }
  }
}
