import { sql, type SQL } from "drizzle-orm";
import type { MailKind } from "../db/schema";
import type { Env } from "../env";
import type { Locale } from "../lib/locale";

/** What travels on the Queue: only the outbox row's id. The row in D1 is the truth (and holds no plaintext secret). */
export interface MailJobMessage {
  jobId: string;
}

export const MAIL_QUEUE_NAME = "edge-invites-mail";

export interface NewMailJob {
  id: string;
  kind: MailKind;
  subjectId: string;
  /** SHA-256 of the token the mail will carry */
  version: string;
  recipient: string;
  locale: Locale;
  payload?: Record<string, string>;
  /** the payload as a SQL expression read in the insert itself (instead of `payload`) */
  payloadSql?: SQL;
  /** AES-GCM ciphertext of a token stored nowhere else in plaintext (verification, reset links) */
  secretCiphertext?: string | null;
  now: number;
}

/**
 * The outbox row of an invite mail, for the same D1 batch as the invite write that sets
 * `invites.last_mail_job_id` to this job: it is only inserted if that write happened, so a refused
 * create, renew or resend leaves no job, and no job exists without its invite.
 */
export function inviteMailJobInsert(job: NewMailJob): SQL {
  return sql`
    INSERT INTO mail_outbox (id, kind, subject_id, version, recipient, locale, payload, secret_ciphertext,
                             status, attempts, enqueued_at, created_at, updated_at)
    SELECT ${job.id}, ${job.kind}, ${job.subjectId}, ${job.version}, ${job.recipient}, ${job.locale},
           ${job.payloadSql ?? JSON.stringify(job.payload ?? {})}, ${job.secretCiphertext ?? null}, 'Queued', 0, ${job.now}, ${job.now}, ${job.now}
    WHERE EXISTS (SELECT 1 FROM invites WHERE id = ${job.subjectId} AND last_mail_job_id = ${job.id} AND token_hash = ${job.version})`;
}

/**
 * Hands committed jobs to the Queue. A failure here loses nothing: the job is in D1, Queued, and the
 * cron re-enqueues it (src/outbox/maintenance.ts), so the request that wrote it still succeeds.
 */
export async function handOver(env: Env, jobIds: string[]): Promise<void> {
  if (jobIds.length === 0) return;
  try {
    await env.MAIL_QUEUE.sendBatch(jobIds.map((jobId) => ({ body: { jobId }, contentType: "json" as const })));
  } catch (error) {
    console.error(JSON.stringify({ msg: "mail queue hand-over failed; the cron will re-enqueue", jobs: jobIds.length, error: String(error) }));
  }
}
