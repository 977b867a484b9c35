import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, createInvite, expectError, login, newTenant, PASSWORD, register, uniqueEmail, type Session } from "../helpers";
import { deliver, recordingBinding } from "../mail-helpers";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** The account mails queued for `email`, oldest first, with their job ids. */
async function accountJobs(email: string, kind: "email_verification" | "password_reset") {
  const { results } = await env.DB.prepare("SELECT id FROM mail_outbox WHERE recipient = ? AND kind = ? ORDER BY created_at, id").bind(email, kind).all<{ id: string }>();
  return results.map((r) => r.id);
}

/** Runs the newest job of that kind through the consumer and returns the token its link carries. */
async function mailedToken(email: string, kind: "email_verification" | "password_reset") {
  const jobs = await accountJobs(email, kind);
  expect(jobs.length, `no ${kind} mail for ${email}`).toBeGreaterThan(0);
  const { sent, binding } = recordingBinding();
  await deliver([jobs.at(-1)!], { email: binding });
  expect(sent).toHaveLength(1);
  const match = /\/(?:verify-email|reset-password)\/((?:ev|pr)_[A-Za-z0-9_-]{43})/.exec(sent[0]!.text);
  expect(match, sent[0]!.text).not.toBeNull();
  return { token: match![1]!, mail: sent[0]! };
}

const me = async (session: { token: string }) => (await call("GET", "/api/v1/users/me", { token: session.token })).body;

describe("email ownership", () => {
  it("tenant sign-up mails a verification link; until it is used the account is unverified, yet the seed contract works (login, create invites)", async () => {
    const owner = await newTenant("verify-signup");
    expect((await me(owner)).emailVerified).toBe(false);
    expect((await createInvite(owner.token)).status).toBe("Pending");
    const { token, mail } = await mailedToken(owner.email, "email_verification");
    expect(mail.text).toContain(`https://edge-invites.test/verify-email/${token}`);
    const verified = await call("POST", "/api/v1/auth/verify-email", { body: { token } });
    expect(verified.status, verified.text).toBe(204);
    expect((await me(owner)).emailVerified).toBe(true);
    // single use
    expectError(await call("POST", "/api/v1/auth/verify-email", { body: { token } }), 400, "INVALID_VERIFICATION_TOKEN");
  });

  it("400 INVALID_VERIFICATION_TOKEN for unknown, malformed and expired tokens; only the newest link works", async () => {
    expectError(await call("POST", "/api/v1/auth/verify-email", { body: { token: `ev_${"a".repeat(43)}` } }), 400, "INVALID_VERIFICATION_TOKEN");
    expectError(await call("POST", "/api/v1/auth/verify-email", { body: { token: "nonsense" } }), 400, "INVALID_VERIFICATION_TOKEN");
    const owner = await newTenant("verify-expired");
    const first = await mailedToken(owner.email, "email_verification");
    const resent = await call("POST", "/api/v1/auth/verify-email/resend", { token: owner.token });
    expect(resent.status, resent.text).toBe(202);
    expect(resent.body).toEqual({ queued: true });
    const second = await mailedToken(owner.email, "email_verification");
    expectError(await call("POST", "/api/v1/auth/verify-email", { body: { token: first.token } }), 400, "INVALID_VERIFICATION_TOKEN");
    vi.useFakeTimers({ now: Date.now() + 3 * 24 * 3600_000, toFake: ["Date"] });
    expectError(await call("POST", "/api/v1/auth/verify-email", { body: { token: second.token } }), 400, "INVALID_VERIFICATION_TOKEN");
  });

  it("resend: 401 without a bearer, 429 within a minute, queued:false once verified", async () => {
    expectError(await call("POST", "/api/v1/auth/verify-email/resend"), 401, "UNAUTHORIZED");
    const owner = await newTenant("verify-resend");
    expect((await call("POST", "/api/v1/auth/verify-email/resend", { token: owner.token })).status).toBe(202);
    const again = await call("POST", "/api/v1/auth/verify-email/resend", { token: owner.token });
    expectError(again, 429, "RATE_LIMITED");
    expect(Number(again.headers.get("Retry-After"))).toBeGreaterThan(0);
    const { token } = await mailedToken(owner.email, "email_verification");
    expect((await call("POST", "/api/v1/auth/verify-email", { body: { token } })).status).toBe(204);
    vi.useFakeTimers({ now: Date.now() + 61_000, toFake: ["Date"] });
    const fresh = await login(owner.email);
    const done = await call("POST", "/api/v1/auth/verify-email/resend", { token: fresh.accessToken });
    expect(done.status).toBe(202);
    expect(done.body).toEqual({ queued: false });
  });

  it("an unbound registration mails a verification link; redeeming a mailed email-bound invite verifies at once", async () => {
    const owner = await newTenant("verify-register");
    const open = await createInvite(owner.token);
    const openEmail = uniqueEmail("open");
    expect((await register(open.token, openEmail)).status).toBe(201);
    expect((await me({ token: (await login(openEmail)).accessToken })).emailVerified).toBe(false);
    expect(await accountJobs(openEmail, "email_verification")).toHaveLength(1);

    const boundEmail = uniqueEmail("bound");
    const bound = await createInvite(owner.token, { email: boundEmail });
    const { sent, binding } = recordingBinding();
    const job = (await env.DB.prepare("SELECT last_mail_job_id AS id FROM invites WHERE id = ?").bind(bound.id).first<{ id: string }>())!.id;
    await deliver([job], { email: binding });
    expect(sent).toHaveLength(1);
    expect((await register(bound.token, boundEmail)).status).toBe(201);
    expect((await me({ token: (await login(boundEmail)).accessToken })).emailVerified).toBe(true);
    expect(await accountJobs(boundEmail, "email_verification")).toHaveLength(0);
  });

  it("403 EMAIL_NOT_VERIFIED when an unverified account accepts an email-bound invite (it stays Pending); verified, it joins", async () => {
    const inviter = await newTenant("verify-accept-a");
    const other = await newTenant("verify-accept-b");
    const invite = await createInvite(inviter.token, { email: other.email, role: "Viewer" });
    expectError(await call("POST", `/api/v1/invites/${invite.token}/accept`, { token: other.token }), 403, "EMAIL_NOT_VERIFIED");
    expect((await call("GET", `/api/v1/invites/${invite.id}`, { token: inviter.token })).body.status).toBe("Pending");
    const { token } = await mailedToken(other.email, "email_verification");
    expect((await call("POST", "/api/v1/auth/verify-email", { body: { token } })).status).toBe(204);
    const accepted = await call("POST", `/api/v1/invites/${invite.token}/accept`, { token: other.token });
    expect(accepted.status, accepted.text).toBe(201);
    // An unbound invite never asks for verification.
    const third = await newTenant("verify-accept-c");
    const open = await createInvite(inviter.token);
    expect((await call("POST", `/api/v1/invites/${open.token}/accept`, { token: third.token })).status).toBe(201);
  });
});

describe("password reset", () => {
  const requestReset = (email: string, ip?: string) => call("POST", "/api/v1/auth/password-reset", { body: { email }, ...(ip ? { ip } : {}) });

  it("202 for known and unknown emails alike; the known one gets a single-use link; confirm sets the password, verifies, ends every session", async () => {
    const owner = await newTenant("reset");
    const unknown = await requestReset(uniqueEmail("nobody"));
    expect(unknown.status).toBe(202);
    expect(unknown.body).toEqual({});
    expect((await requestReset(owner.email)).status).toBe(202);
    const { token, mail } = await mailedToken(owner.email, "password_reset");
    expect(mail.text).toContain(`https://edge-invites.test/reset-password/${token}`);
    const stored = await env.DB.prepare("SELECT token_hash FROM account_tokens WHERE purpose = 'password_reset' AND token_hash = ?").bind(await sha(token)).first();
    expect(stored).not.toBeNull();

    const newPassword = `${PASSWORD} renewed`;
    expect((await call("POST", "/api/v1/auth/password-reset/confirm", { body: { token, password: newPassword } })).status).toBe(204);
    expectError(await call("POST", "/api/v1/auth/refresh", { body: { refreshToken: owner.refreshToken } }), 401, "INVALID_REFRESH_TOKEN");
    expect((await call("POST", "/api/v1/auth/login", { body: { email: owner.email, password: PASSWORD } })).status).toBe(401);
    const fresh = await login(owner.email, newPassword);
    expect((await me({ token: fresh.accessToken })).emailVerified).toBe(true);
    expectError(await call("POST", "/api/v1/auth/password-reset/confirm", { body: { token, password: "another password" } }), 400, "INVALID_RESET_TOKEN");
  });

  it("400 INVALID_RESET_TOKEN after 30 minutes, for unknown or malformed tokens; 400 VALIDATION_ERROR for a short password", async () => {
    const owner = await newTenant("reset-expiry");
    await requestReset(owner.email);
    const { token } = await mailedToken(owner.email, "password_reset");
    expectError(await call("POST", "/api/v1/auth/password-reset/confirm", { body: { token, password: "short" } }), 400, "VALIDATION_ERROR");
    expectError(await call("POST", "/api/v1/auth/password-reset/confirm", { body: { token: `pr_${"x".repeat(43)}`, password: PASSWORD } }), 400, "INVALID_RESET_TOKEN");
    expectError(await call("POST", "/api/v1/auth/password-reset/confirm", { body: { token: "garbage", password: PASSWORD } }), 400, "INVALID_RESET_TOKEN");
    vi.useFakeTimers({ now: Date.now() + 31 * 60_000, toFake: ["Date"] });
    expectError(await call("POST", "/api/v1/auth/password-reset/confirm", { body: { token, password: PASSWORD } }), 400, "INVALID_RESET_TOKEN");
  });

  it("the same statements run for unknown emails (nothing is written for them) and the queue gets a job id either way", async () => {
    const handOver = vi.spyOn(env.MAIL_QUEUE, "sendBatch");
    const ghost = uniqueEmail("ghost");
    expect((await requestReset(ghost)).status).toBe(202);
    expect(handOver).toHaveBeenCalledTimes(1);
    expect(await accountJobs(ghost, "password_reset")).toEqual([]);
  });

  it("429 per email and per client IP (limits from vars); 400 for a malformed email", async () => {
    expectError(await call("POST", "/api/v1/auth/password-reset", { body: { email: "not-an-email" } }), 400, "VALIDATION_ERROR");
    const email = uniqueEmail("flood");
    const perEmail = Number(env.PASSWORD_RESET_LIMIT_PER_HOUR_PER_EMAIL ?? 3);
    for (let i = 0; i < perEmail; i++) expect((await requestReset(email)).status).toBe(202);
    const refused = await requestReset(email);
    expectError(refused, 429, "RATE_LIMITED");
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);

    const ip = `10.77.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    const perIp = Number(env.PASSWORD_RESET_LIMIT_PER_HOUR_PER_IP ?? 10);
    for (let i = 0; i < perIp; i++) expect((await requestReset(uniqueEmail(`ip${i}`), ip)).status).toBe(202);
    expectError(await requestReset(uniqueEmail("ip-over"), ip), 429, "RATE_LIMITED");
  });
});

async function sha(value: string) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
