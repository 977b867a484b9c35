import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RESEND_INTERVAL_MS } from "../../src/features/invites/lifecycle";
import { call, createInvite, expectError, login, newMember, newTenant, register, uniqueEmail } from "../helpers";
import { mailJobOf } from "../mail-helpers";

afterEach(() => {
  vi.useRealTimers();
});

const resend = (token: string, id: string, body?: unknown) => call("POST", `/api/v1/invites/${id}/resend`, { token, ...(body === undefined ? {} : { body }) });
const jobsOf = async (inviteId: string) =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM mail_outbox WHERE subject_id = ?").bind(inviteId).first<{ n: number }>())?.n ?? 0;

describe("POST /invites with email: the mail is part of the create", () => {
  it("delivery and locale on the invite object (create, get, list); pt-BR kept for later mails", async () => {
    const owner = await newTenant("mail-create");
    const invite = await createInvite(owner.token, { email: uniqueEmail("pt"), locale: "pt-BR" });
    expect(invite).toMatchObject({ locale: "pt-BR", delivery: { status: "Queued", attempts: 0, lastAttemptAt: null, sentAt: null, error: null } });
    const listed = await call("GET", "/api/v1/invites", { token: owner.token });
    expect(listed.body.items[0]).toMatchObject({ id: invite.id, locale: "pt-BR", delivery: { status: "Queued" } });
    const job = await env.DB.prepare("SELECT locale FROM mail_outbox WHERE id = ?").bind(await mailJobOf(invite.id)).first<{ locale: string }>();
    expect(job?.locale).toBe("pt-BR");
  });

  it("400 VALIDATION_ERROR for a locale we do not write in, or a notify that is not a boolean; nothing written", async () => {
    const owner = await newTenant("mail-create-400");
    const email = uniqueEmail("bad");
    for (const body of [{ email, locale: "fr" }, { email, notify: "yes" }]) {
      const response = await call("POST", "/api/v1/invites", { token: owner.token, body });
      expect(Object.keys(expectError(response, 400, "VALIDATION_ERROR").details.fields)).toEqual([Object.keys(body)[1]]);
    }
    expect((await call("GET", "/api/v1/invites", { token: owner.token })).body.total).toBe(0);
  });
});

describe("POST /invites/{id}/resend", () => {
  it("202 with the invite: a new job for the current token, counted when accepted", async () => {
    const handOver = vi.spyOn(env.MAIL_QUEUE, "sendBatch");
    const owner = await newTenant("resend");
    const invite = await createInvite(owner.token, { email: uniqueEmail("r"), notify: false });
    const response = await resend(owner.token, invite.id);
    expect(response.status, response.text).toBe(202);
    expect(response.body).toMatchObject({ id: invite.id, token: invite.token, status: "Pending", delivery: { status: "Queued", attempts: 0 } });
    const jobId = await mailJobOf(invite.id);
    expect(handOver).toHaveBeenCalledWith([{ body: { jobId }, contentType: "json" }]);
    expect(await jobsOf(invite.id)).toBe(1);
    handOver.mockRestore();
    const events = await env.DB.prepare("SELECT COUNT(*) AS n FROM events WHERE tenant_id = ? AND type = 'invite.resent'").bind(owner.tenantId).first<{ n: number }>();
    expect(events?.n).toBe(1);
  });

  it("429 RATE_LIMITED with Retry-After within 60 s of the last accepted mail (create, renew or resend); 202 again after it", async () => {
    const start = Date.now();
    vi.useFakeTimers({ now: start, toFake: ["Date"] });
    const owner = await newTenant("resend-429");
    const invite = await createInvite(owner.token, { email: uniqueEmail("r") });
    vi.setSystemTime(start + 20_000);
    const refused = await resend(owner.token, invite.id);
    expectError(refused, 429, "RATE_LIMITED");
    expect(refused.headers.get("Retry-After")).toBe("40");
    expect(refused.body.details.retryAfterSeconds).toBe(40);
    vi.setSystemTime(start + RESEND_INTERVAL_MS + 1);
    expect((await resend(owner.token, invite.id)).status).toBe(202);

    // a renewal counts too
    vi.setSystemTime(start + 3 * RESEND_INTERVAL_MS);
    expect((await call("POST", `/api/v1/invites/${invite.id}/renew`, { token: owner.token, body: {} })).status).toBe(200);
    expectError(await resend(owner.token, invite.id), 429, "RATE_LIMITED");
    expect(await jobsOf(invite.id)).toBe(3);
  });

  it("a double click: concurrent resends queue one mail, the rest are 429", async () => {
    const owner = await newTenant("resend-race");
    const invite = await createInvite(owner.token, { email: uniqueEmail("r"), notify: false });
    const responses = await Promise.all(Array.from({ length: 5 }, () => resend(owner.token, invite.id)));
    expect(responses.map((r) => r.status).sort()).toEqual([202, 429, 429, 429, 429]);
    expect(await jobsOf(invite.id)).toBe(1);
    // one accepted resend, one invite.resent event
    const events = await env.DB.prepare("SELECT COUNT(*) AS n FROM events WHERE tenant_id = ? AND type = 'invite.resent'").bind(owner.tenantId).first<{ n: number }>();
    expect(events?.n).toBe(1);
  });

  it("409 INVITE_NOT_PENDING for used, revoked and expired invites; 409 INVITE_NOT_EMAIL_BOUND without an email", async () => {
    const owner = await newTenant("resend-409");
    const used = await createInvite(owner.token, { email: uniqueEmail("used") });
    expect((await register(used.token, (used as any).email)).status).toBe(201);
    const revoked = await createInvite(owner.token, { email: uniqueEmail("revoked") });
    expect((await call("DELETE", `/api/v1/invites/${revoked.id}`, { token: owner.token })).status).toBe(204);
    const expiring = await createInvite(owner.token, { email: uniqueEmail("expired"), validityDays: 1 });
    const unbound = await createInvite(owner.token);
    expectError(await resend(owner.token, unbound.id), 409, "INVITE_NOT_EMAIL_BOUND");
    vi.useFakeTimers({ now: Date.now() + 2 * 24 * 3600_000, toFake: ["Date"] });
    const { accessToken } = await login(owner.email);
    for (const invite of [used, revoked, expiring]) {
      const body = expectError(await resend(accessToken, invite.id), 409, "INVITE_NOT_PENDING");
      expect(body.message).toMatch(/Used|Revoked|Expired/);
    }
  });

  it("400 for an unknown locale, 415 for a non-JSON body; an empty body is fine", async () => {
    const owner = await newTenant("resend-400");
    const invite = await createInvite(owner.token, { email: uniqueEmail("r"), notify: false });
    expectError(await resend(owner.token, invite.id, { locale: "de" }), 400, "VALIDATION_ERROR");
    expectError(await call("POST", `/api/v1/invites/${invite.id}/resend`, { token: owner.token, rawBody: "locale=en", headers: { "Content-Type": "text/plain" } }), 415, "UNSUPPORTED_MEDIA_TYPE");
    const ok = await resend(owner.token, invite.id, { locale: "pt-BR" });
    expect(ok.status, ok.text).toBe(202);
    expect(ok.body.locale).toBe("pt-BR");
  });

  it("401 without a token, 403 FORBIDDEN for a Developer, 403 ROLE_NOT_ASSIGNABLE for an Admin resending an Admin invite, 404 for another tenant's invite", async () => {
    const owner = await newTenant("resend-auth");
    const admin = await newMember(owner, "Admin");
    const developer = await newMember(owner, "Developer");
    const adminInvite = await createInvite(owner.token, { email: uniqueEmail("a"), role: "Admin", notify: false });
    const plain = await createInvite(owner.token, { email: uniqueEmail("p"), notify: false });
    expectError(await call("POST", `/api/v1/invites/${plain.id}/resend`), 401, "UNAUTHORIZED");
    expectError(await resend(developer.token, plain.id), 403, "FORBIDDEN");
    expectError(await resend(admin.token, adminInvite.id), 403, "ROLE_NOT_ASSIGNABLE");
    expect((await resend(admin.token, plain.id)).status).toBe(202);
    const stranger = await newTenant("resend-stranger");
    expectError(await resend(stranger.token, plain.id), 404, "INVITE_NOT_FOUND");
    expectError(await resend(owner.token, "not-a-uuid"), 404, "INVITE_NOT_FOUND");
    expect(await jobsOf(adminInvite.id)).toBe(0);
  });
});
