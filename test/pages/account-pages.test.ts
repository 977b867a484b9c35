import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BASE, call, createInvite, newTenant, PASSWORD, uniqueEmail } from "../helpers";
import { deliver, recordingBinding } from "../mail-helpers";

const ORIGIN = new URL(BASE).origin;
const form = (path: string, fields: Record<string, string>, headers: Record<string, string> = { Origin: ORIGIN }) =>
  call("POST", path, { rawBody: new URLSearchParams(fields), headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers } });

async function mailedToken(email: string, kind: "email_verification" | "password_reset") {
  const { results } = await env.DB.prepare("SELECT id FROM mail_outbox WHERE recipient = ? AND kind = ? ORDER BY created_at DESC, id DESC LIMIT 1").bind(email, kind).all<{ id: string }>();
  const { sent, binding } = recordingBinding();
  await deliver([results[0]!.id], { email: binding });
  return /\/(?:verify-email|reset-password)\/((?:ev|pr)_[A-Za-z0-9_-]{43})/.exec(sent[0]!.text)![1]!;
}
const me = async (token: string) => (await call("GET", "/api/v1/users/me", { token })).body;

describe("hosted page: /verify-email/{token}", () => {
  it("GET shows only a button and changes nothing; POST (our Origin) verifies; a foreign Origin is 403 and verifies nothing", async () => {
    const owner = await newTenant("page-verify");
    const token = await mailedToken(owner.email, "email_verification");
    const page = await call("GET", `/verify-email/${token}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`<form method="post" action="/verify-email/${token}">`);
    expect(page.text).not.toMatch(/<script/i);
    expect((await me(owner.token)).emailVerified).toBe(false);
    expect((await form(`/verify-email/${token}`, {}, { Origin: "https://evil.example" })).status).toBe(403);
    expect((await me(owner.token)).emailVerified).toBe(false);
    const done = await form(`/verify-email/${token}`, {});
    expect(done.status, done.text).toBe(200);
    expect(done.text).toContain("Email confirmed");
    expect((await me(owner.token)).emailVerified).toBe(true);
    const again = await form(`/verify-email/${token}`, {});
    expect(again.status).toBe(400);
    expect(again.text).toContain("This confirmation link is not valid any more.");
  });
});

describe("hosted page: /reset-password/{token}", () => {
  it("GET shows a labelled password form; POST sets it (204-equivalent page); errors are shown per field; 403 without our Origin", async () => {
    const owner = await newTenant("page-reset");
    await call("POST", "/api/v1/auth/password-reset", { body: { email: owner.email } });
    const token = await mailedToken(owner.email, "password_reset");
    const page = await call("GET", `/reset-password/${token}`, { headers: { "Accept-Language": "pt-BR" } });
    expect(page.status).toBe(200);
    expect(page.text).toContain('<label for="reset-password">Nova senha</label>');
    expect((await form(`/reset-password/${token}`, { password: `${PASSWORD}!` }, {})).status).toBe(403);
    const short = await form(`/reset-password/${token}`, { password: "short" });
    expect(short.status).toBe(400);
    expect(short.text).toContain('aria-invalid="true"');
    const done = await form(`/reset-password/${token}`, { password: `${PASSWORD} new` });
    expect(done.status, done.text).toBe(200);
    expect(done.text).toContain("Password changed");
    expect((await call("POST", "/api/v1/auth/login", { body: { email: owner.email, password: `${PASSWORD} new` } })).status).toBe(200);
    expect((await form(`/reset-password/${token}`, { password: `${PASSWORD} again` })).status).toBe(400);
  });
});

describe("hosted invite page: I already have an account (sign in + accept)", () => {
  it("a verified account signs in and joins; wrong password is 401-like on the page; unverified + bound invite is 403 EMAIL_NOT_VERIFIED", async () => {
    const inviter = await newTenant("page-accept-a");
    const joiner = await newTenant("page-accept-b");
    const invite = await createInvite(inviter.token, { email: joiner.email, role: "Developer" });

    const page = await call("GET", `/invite/${invite.token}`);
    expect(page.text).toContain("I already have an account");
    for (const id of ["accept-email", "accept-password"]) expect(page.text).toContain(`<label for="${id}">`);

    const wrong = await form(`/invite/${invite.token}`, { intent: "accept", email: joiner.email, password: "wrong password!" });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain("The email or password is not right.");

    const unverified = await form(`/invite/${invite.token}`, { intent: "accept", email: joiner.email, password: PASSWORD });
    expect(unverified.status).toBe(403);
    expect(unverified.text).toContain("Confirm your email address first");

    const token = await mailedToken(joiner.email, "email_verification");
    expect((await call("POST", "/api/v1/auth/verify-email", { body: { token } })).status).toBe(204);
    const joined = await form(`/invite/${invite.token}`, { intent: "accept", email: joiner.email, password: PASSWORD });
    expect(joined.status, joined.text).toBe(200);
    expect(joined.text).toContain(`Welcome to ${inviter.tenantName}`);
    expect((await call("GET", `/api/v1/invites/${invite.id}`, { token: inviter.token })).body.status).toBe("Used");

    const again = await form(`/invite/${invite.token}`, { intent: "accept", email: uniqueEmail("late"), password: PASSWORD });
    expect([401, 409]).toContain(again.status);
  });
});
