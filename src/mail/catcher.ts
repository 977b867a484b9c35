import type { Env } from "../env";

/**
 * The local mail catcher (development only, like BENCH_MODE): with MAIL_CATCHER = "1" — which
 * `npm run dev` writes to .dev.vars and wrangler.toml never sets — every mail sent is also kept in D1
 * and listed at /__dev/mail. Any other value, or none, disables it.
 */
export const isMailCatcher = (env: Env): boolean => env.MAIL_CATCHER === "1";

export interface CaughtMail {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  link: string | null;
  sentAt: string;
}

/** For the batch that marks the job Sent. */
export function catchMail(env: Env, mail: { id: string; to: string; subject: string; text: string; html: string; link: string; sentAt: number }): D1PreparedStatement {
  return env.DB.prepare(
    `INSERT INTO dev_caught_mail (id, recipient, subject, text, html, link, sent_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
     ON CONFLICT (id) DO NOTHING`,
  ).bind(mail.id, mail.to, mail.subject, mail.text, mail.html, mail.link, mail.sentAt);
}

/** Newest first. */
export async function listCaughtMail(env: Env, limit = 100): Promise<CaughtMail[]> {
  const { results } = await env.DB.prepare(
    `SELECT id, recipient, subject, text, html, link, sent_at FROM dev_caught_mail ORDER BY sent_at DESC, id DESC LIMIT ?1`,
  )
    .bind(limit)
    .all<{ id: string; recipient: string; subject: string; text: string; html: string; link: string | null; sent_at: number }>();
  return results.map((row) => ({
    id: row.id,
    to: row.recipient,
    subject: row.subject,
    text: row.text,
    html: row.html,
    link: row.link,
    sentAt: new Date(row.sent_at).toISOString(),
  }));
}
