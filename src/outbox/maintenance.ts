import type { Env } from "../env";
import { DAY_MS } from "../lib/time";
import { handOver } from "./mail-jobs";

/** A Queued job whose hand-over is older than this was lost on the way (queue send failed, message dead-lettered). */
export const STUCK_AFTER_MS = 5 * 60 * 1000;
/** Finished jobs (Sent, Failed, Skipped) are kept this long for support questions, then purged. */
export const MAIL_JOB_RETENTION_MS = 30 * DAY_MS;
const REENQUEUE_BATCH = 100;

/**
 * Re-enqueues jobs stuck unsent: Queued with an old hand-over, or Sending with an expired lease (the
 * consumer died mid-job). Claiming on the consumer side keeps a re-enqueued job that is also still on
 * the queue from sending twice.
 */
export async function reenqueueStuckMail(env: Env, now = Date.now()): Promise<number> {
  const { results } = await env.DB.prepare(
    `UPDATE mail_outbox SET enqueued_at = ?1, updated_at = ?1
     WHERE id IN (
       SELECT id FROM mail_outbox WHERE status = 'Queued' AND enqueued_at < ?2
       UNION ALL
       SELECT id FROM mail_outbox WHERE status = 'Sending' AND lease_until < ?1
       LIMIT ?3)
     RETURNING id`,
  )
    .bind(now, now - STUCK_AFTER_MS, REENQUEUE_BATCH)
    .all<{ id: string }>();
  await handOver(
    env,
    results.map((row) => row.id),
  );
  return results.length;
}

export async function purgeFinishedMail(env: Env, now = Date.now()): Promise<number> {
  const { results } = await env.DB.prepare(
    `DELETE FROM mail_outbox WHERE id IN (
       SELECT id FROM mail_outbox WHERE updated_at < ?1 AND status IN ('Sent', 'Failed', 'Skipped') LIMIT 1000)
     RETURNING id`,
  )
    .bind(now - MAIL_JOB_RETENTION_MS)
    .all<{ id: string }>();
  return results.length;
}
