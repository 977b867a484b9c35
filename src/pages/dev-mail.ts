import { Hono } from "hono";
import type { AppEnv } from "../http/app-env";
import { isMailCatcher, listCaughtMail, type CaughtMail } from "../mail/catcher";
import { markup, type Markup } from "../lib/markup";
import { Page } from "./layout";

/**
 * The local mail catcher's views (MAIL_CATCHER = "1", set by `npm run dev`): every mail sent, newest
 * first, as JSON for scripts and black-box tests and as a page for people. Without the var both answer
 * the ordinary 404, and they are not part of the typed or documented API.
 */
export const devMailRoutes = new Hono<AppEnv>()
  .all("/__dev/mail", async (c) => {
    if (!isMailCatcher(c.env) || c.req.method !== "GET") return c.notFound();
    c.header("Cache-Control", "no-store");
    return c.json({ items: await listCaughtMail(c.env) });
  })
  .all("/__dev/mail.html", async (c) => {
    if (!isMailCatcher(c.env) || c.req.method !== "GET") return c.notFound();
    const items = await listCaughtMail(c.env);
    c.header("Cache-Control", "no-store");
    return c.html(`<!doctype html>${String(CaughtMailPage(items))}`);
  });

export function CaughtMailPage(items: CaughtMail[]): Markup {
  return Page({
    locale: "en",
    title: `Caught mail (${items.length})`,
    children: markup`
      <p>Mail sent by this local Worker, newest first. Nothing here left the machine.</p>
      ${items.map(
        (mail) => markup`
          <article class="mail" aria-labelledby="mail-${mail.id}">
            <h2 id="mail-${mail.id}">${mail.subject}</h2>
            <p>To <strong>${mail.to}</strong> · ${mail.sentAt}</p>
            ${mail.link ? markup`<p><a href="${mail.link}">${mail.link}</a></p>` : null}
            <pre>${mail.text}</pre>
            <details>
              <summary>HTML source</summary>
              <pre>${mail.html}</pre>
            </details>
          </article>`,
      )}`,
  });
}
