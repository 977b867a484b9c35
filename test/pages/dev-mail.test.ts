import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import type { Env } from "../../src/env";
import { BASE, call, createInvite, expectError, newTenant, uniqueEmail } from "../helpers";
import { deliver, mailJobOf } from "../mail-helpers";

const CATCHER = { MAIL_CATCHER: "1" } as Partial<Env>;

/** The worker as `npm run dev` runs it: the same app with MAIL_CATCHER set. */
async function callWithCatcher(path: string, method = "GET") {
  const ctx = createExecutionContext();
  const response = await app.fetch(new Request(`${BASE}${path}`, { method }), { ...(env as unknown as Env), ...CATCHER }, ctx);
  await waitOnExecutionContext(ctx);
  return { status: response.status, type: response.headers.get("Content-Type") ?? "", text: await response.text() };
}

describe("local mail catcher (/__dev/mail)", () => {
  it("404 NOT_FOUND for both views and every method without MAIL_CATCHER (as in production), and mail sent then is not kept", async () => {
    const owner = await newTenant("catcher-off");
    const invite = await createInvite(owner.token, { email: uniqueEmail("nobody-keeps") });
    await deliver([await mailJobOf(invite.id)]);
    for (const [method, path] of [["GET", "/__dev/mail"], ["GET", "/__dev/mail.html"], ["POST", "/__dev/mail"]] as const) {
      const response = await call(method, path);
      expectError(response, 404, "NOT_FOUND");
    }
    const kept = await env.DB.prepare("SELECT COUNT(*) AS n FROM dev_caught_mail").first<{ n: number }>();
    expect(kept?.n).toBe(0);
    // Any other value than "1" disables it too.
    const ctx = createExecutionContext();
    const other = await app.fetch(new Request(`${BASE}/__dev/mail`), { ...(env as unknown as Env), MAIL_CATCHER: "true" }, ctx);
    expect(other.status).toBe(404);
  });

  it("with MAIL_CATCHER=1 lists every mail sent, newest first, with its link; and as a page", async () => {
    const owner = await newTenant("catcher-on");
    const first = await createInvite(owner.token, { email: uniqueEmail("first") });
    const second = await createInvite(owner.token, { email: uniqueEmail("second"), locale: "pt-BR" });
    await deliver([await mailJobOf(first.id)], { vars: CATCHER });
    await deliver([await mailJobOf(second.id)], { vars: CATCHER });

    const listed = await callWithCatcher("/__dev/mail");
    expect(listed.status).toBe(200);
    const { items } = JSON.parse(listed.text);
    expect(items.slice(0, 2).map((m: { to: string }) => m.to)).toEqual([(second as any).email ?? expect.any(String), expect.any(String)]);
    const [newest, older] = items;
    expect(newest).toMatchObject({ id: expect.any(String), subject: expect.stringContaining("convidou você"), link: `https://edge-invites.test/invite/${second.token}`, sentAt: expect.any(String) });
    expect(newest.text).toContain(second.token);
    expect(newest.html).toContain("<!doctype html>");
    expect(older.link).toBe(`https://edge-invites.test/invite/${first.token}`);

    const page = await callWithCatcher("/__dev/mail.html");
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/^text\/html/);
    expect(page.text).toContain(`href="https://edge-invites.test/invite/${first.token}"`);
    expect(page.text).not.toMatch(/<script/i);
  });
});
