/**
 * Guarantee: a copy of the database alone reveals no credential. vitest-pool-workers gives every
 * test file its own storage, so "after the whole suite" is this file: it drives every write path
 * the API has (sign-up, login — failed too —, refresh, logout, invite create/renew/revoke,
 * register, accept, switch-tenant, users PATCH/DELETE, leave, webhooks), then dumps every D1 table and looks for every secret it handled.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { apiRoutes, dumpDatabase, routeKey } from "./guarantees/surface";
import { sha256Hex } from "../src/security/tokens";
import { deliver, recordingBinding } from "./mail-helpers";
import { BASE, call, createInvite, newMember, newTenant, PASSWORD, register, uniqueEmail } from "./helpers";

const has = (key: string) => apiRoutes().some((route) => routeKey(route) === key);

/** The parts of a secret worth searching for: itself, and its random part without a known prefix. */
const forms = (secret: string) => [secret, secret.replace(/^(inv|rt|whsec|ev|pr)_/, "")];

describe("guarantee: secrets at rest", () => {
  it("after every write path, a dump of every D1 table holds no plaintext password, invite token, refresh or access token", async () => {
    const passwords: string[] = [];
    const inviteTokens: string[] = [];
    const refreshTokens: string[] = [];
    const accessTokens: string[] = [];
    const webhookSecrets: string[] = [];
    const exercised: string[] = [];

    // sign-up + login
    const owner = await newTenant("at-rest");
    passwords.push(owner.password);
    refreshTokens.push(owner.refreshToken);
    accessTokens.push(owner.token);
    exercised.push("POST /api/v1/tenants", "POST /api/v1/auth/login");

    // a failed login: the attempted password must not be written anywhere either
    const wrongPassword = `not the password ${crypto.randomUUID()}`;
    expect((await call("POST", "/api/v1/auth/login", { body: { email: owner.email, password: wrongPassword } })).status).toBe(401);
    passwords.push(wrongPassword);

    // invite create (plain, bound, Admin) + register
    const member = await newMember(owner, "Admin");
    refreshTokens.push(member.refreshToken);
    accessTokens.push(member.token);
    for (const body of [{}, { role: "Admin" }, { email: uniqueEmail("bound"), role: "Viewer" }]) inviteTokens.push((await createInvite(owner.token, body)).token);
    const redeemed = await createInvite(owner.token, { email: uniqueEmail("redeemer") });
    inviteTokens.push(redeemed.token);
    const memberPassword = `${PASSWORD} but different ${crypto.randomUUID()}`;
    const registered = await register(redeemed.token, (redeemed as { email?: string }).email!, memberPassword);
    expect(registered.status, registered.text).toBe(201);
    passwords.push(memberPassword);
    exercised.push("POST /api/v1/invites", "POST /api/v1/invites/:token/register");

    // renew: both the retired and the new token
    if (has("POST /api/v1/invites/:id/renew")) {
      const renewable = await createInvite(owner.token);
      inviteTokens.push(renewable.token);
      const renewed = await call("POST", `/api/v1/invites/${renewable.id}/renew`, { token: owner.token, body: { validityDays: 3 } });
      expect(renewed.status, renewed.text).toBe(200);
      inviteTokens.push(renewed.body.token);
      exercised.push("POST /api/v1/invites/:id/renew");
    }
    if (has("POST /api/v1/invites/:id/resend")) {
      const bound = await createInvite(owner.token, { email: uniqueEmail("resent"), notify: false });
      inviteTokens.push(bound.token);
      const resent = await call("POST", `/api/v1/invites/${bound.id}/resend`, { token: owner.token });
      expect(resent.status, resent.text).toBe(202);
      exercised.push("POST /api/v1/invites/:id/resend");
    }
    // the hosted invite page's form post (not part of the JSON API, so not in apiRoutes): it writes a password too
    const viaPage = await createInvite(owner.token);
    inviteTokens.push(viaPage.token);
    const pagePassword = `${PASSWORD} typed in a form ${crypto.randomUUID()}`;
    const posted = await call("POST", `/invite/${viaPage.token}`, {
      rawBody: new URLSearchParams({ intent: "register", email: uniqueEmail("page"), password: pagePassword }),
      headers: { Origin: new URL(BASE).origin, "Content-Type": "application/x-www-form-urlencoded" },
    });
    expect(posted.status, posted.text).toBe(200);
    passwords.push(pagePassword);
    if (has("DELETE /api/v1/invites/:id")) {
      const revocable = await createInvite(owner.token);
      inviteTokens.push(revocable.token);
      expect((await call("DELETE", `/api/v1/invites/${revocable.id}`, { token: owner.token })).status).toBe(204);
      exercised.push("DELETE /api/v1/invites/:id");
    }

    // refresh (rotation: the spent token and the new one) + logout
    if (has("POST /api/v1/auth/refresh")) {
      const rotated = await call("POST", "/api/v1/auth/refresh", { body: { refreshToken: member.refreshToken } });
      expect(rotated.status, rotated.text).toBe(200);
      refreshTokens.push(rotated.body.refreshToken);
      accessTokens.push(rotated.body.accessToken);
      exercised.push("POST /api/v1/auth/refresh");
      if (has("POST /api/v1/auth/logout")) {
        expect((await call("POST", "/api/v1/auth/logout", { body: { refreshToken: rotated.body.refreshToken } })).status).toBe(204);
        exercised.push("POST /api/v1/auth/logout");
      }
    }
    const second = await call("POST", "/api/v1/auth/login", { body: { email: owner.email, password: PASSWORD } });
    refreshTokens.push(second.body.refreshToken);
    accessTokens.push(second.body.accessToken);

    // users PATCH
    if (has("PATCH /api/v1/users/:id")) {
      const changed = await call("PATCH", `/api/v1/users/${registered.body.id}`, { token: owner.token, body: { role: "Developer", status: "Inactive" } });
      expect(changed.status, changed.text).toBe(200);
      exercised.push("PATCH /api/v1/users/:id");
    }

    // accept + switch-tenant + remove + leave: an Owner of another tenant joins this one
    if (has("POST /api/v1/invites/:token/accept")) {
      const other = await newTenant("at-rest-other");
      passwords.push(other.password);
      refreshTokens.push(other.refreshToken);
      accessTokens.push(other.token);
      const joinable = await createInvite(owner.token, { role: "Developer" });
      inviteTokens.push(joinable.token);
      const accepted = await call("POST", `/api/v1/invites/${joinable.token}/accept`, { token: other.token });
      expect(accepted.status, accepted.text).toBe(201);
      exercised.push("POST /api/v1/invites/:token/accept");
      const switched = await call("POST", "/api/v1/auth/switch-tenant", { token: other.token, body: { tenantId: owner.tenantId } });
      expect(switched.status, switched.text).toBe(200);
      refreshTokens.push(switched.body.refreshToken);
      accessTokens.push(switched.body.accessToken);
      exercised.push("POST /api/v1/auth/switch-tenant");
      expect((await call("DELETE", "/api/v1/users/me", { token: switched.body.accessToken })).status).toBe(204);
      exercised.push("DELETE /api/v1/users/me");
      const again = await createInvite(owner.token, { role: "Viewer" });
      inviteTokens.push(again.token);
      expect((await call("POST", `/api/v1/invites/${again.token}/accept`, { token: other.token })).status).toBe(201);
      expect((await call("DELETE", `/api/v1/users/${other.userId}`, { token: owner.token })).status).toBe(204);
      exercised.push("DELETE /api/v1/users/:id");
    }
    if (has("PATCH /api/v1/tenants/current")) {
      const settings = await call("PATCH", "/api/v1/tenants/current", { token: owner.token, body: { invitePolicy: "Members", redirectOrigins: ["https://app.example.test"] } });
      expect(settings.status, settings.text).toBe(200);
      exercised.push("PATCH /api/v1/tenants/current");
    }
    if (has("POST /api/v1/invites/bulk")) {
      const created = await call("POST", "/api/v1/invites/bulk", { token: owner.token, body: { invites: [{}, { role: "Viewer", maxUses: 5 }] } });
      expect(created.status, created.text).toBe(201);
      for (const invite of created.body.items) inviteTokens.push(invite.token);
      exercised.push("POST /api/v1/invites/bulk");
    }

    // webhooks: the signing secrets (created and rotated away) are stored encrypted, never in clear
    const hook = await call("POST", "/api/v1/webhooks", { token: owner.token, body: { url: "https://hooks.example.com/at-rest" } });
    expect(hook.status, hook.text).toBe(201);
    webhookSecrets.push(hook.body.secret);
    const rotated = await call("POST", `/api/v1/webhooks/${hook.body.id}/rotate-secret`, { token: owner.token });
    webhookSecrets.push(rotated.body.secret);
    expect((await call("PATCH", `/api/v1/webhooks/${hook.body.id}`, { token: owner.token, body: { enabled: true } })).status).toBe(200);
    const [delivery] = (await env.DB.prepare("SELECT id FROM webhook_deliveries WHERE endpoint_id = ?").bind(hook.body.id).all<{ id: string }>()).results;
    expect((await call("POST", `/api/v1/webhooks/${hook.body.id}/deliveries/${delivery!.id}/redeliver`, { token: owner.token })).status).toBe(202);
    const doomed = await call("POST", "/api/v1/webhooks", { token: owner.token, body: { url: "https://hooks.example.com/doomed" } });
    webhookSecrets.push(doomed.body.secret);
    expect((await call("DELETE", `/api/v1/webhooks/${doomed.body.id}`, { token: owner.token })).status).toBe(204);
    exercised.push(
      "POST /api/v1/webhooks",
      "POST /api/v1/webhooks/:id/rotate-secret",
      "PATCH /api/v1/webhooks/:id",
      "POST /api/v1/webhooks/:id/deliveries/:deliveryId/redeliver",
      "DELETE /api/v1/webhooks/:id",
    );

    // email verification and password reset: link tokens live only as SHA-256 (account_tokens) and, until
    // mailed, as the outbox job's AES-GCM ciphertext — one resent link is left unsent on purpose
    const linkTokens: string[] = [];
    if (has("POST /api/v1/auth/password-reset/confirm")) {
      const resetter = await newTenant("at-rest-reset");
      passwords.push(resetter.password);
      refreshTokens.push(resetter.refreshToken);
      accessTokens.push(resetter.token);
      const mailedLink = async (kind: string) => {
        const job = await env.DB.prepare("SELECT id FROM mail_outbox WHERE recipient = ? AND kind = ? ORDER BY created_at DESC, id DESC LIMIT 1").bind(resetter.email, kind).first<{ id: string }>();
        const { sent, binding } = recordingBinding();
        await deliver([job!.id], { email: binding });
        const token = /\/(?:verify-email|reset-password)\/((?:ev|pr)_[A-Za-z0-9_-]{43})/.exec(sent[0]!.text)![1]!;
        linkTokens.push(token);
        return token;
      };
      const verification = await mailedLink("email_verification");
      expect((await call("POST", "/api/v1/auth/verify-email", { body: { token: verification } })).status).toBe(204);
      exercised.push("POST /api/v1/auth/verify-email");
      expect((await call("POST", "/api/v1/auth/password-reset", { body: { email: resetter.email } })).status).toBe(202);
      exercised.push("POST /api/v1/auth/password-reset");
      const reset = await mailedLink("password_reset");
      const resetPassword = `${PASSWORD} reset ${crypto.randomUUID()}`;
      expect((await call("POST", "/api/v1/auth/password-reset/confirm", { body: { token: reset, password: resetPassword } })).status).toBe(204);
      passwords.push(resetPassword);
      exercised.push("POST /api/v1/auth/password-reset/confirm");
      // a verification link still waiting in the outbox (not mailed): only its ciphertext is stored
      const other = await newTenant("at-rest-unsent");
      expect((await call("POST", "/api/v1/auth/verify-email/resend", { token: other.token })).status).toBe(202);
      exercised.push("POST /api/v1/auth/verify-email/resend");
      const { results: pending } = await env.DB.prepare("SELECT secret_ciphertext FROM mail_outbox WHERE recipient = ? AND status = 'Queued'").bind(other.email).all<{ secret_ciphertext: string }>();
      expect(pending.length).toBeGreaterThan(0);
      for (const row of pending) expect(row.secret_ciphertext).toMatch(/^v2\./);
      const { results: done } = await env.DB.prepare("SELECT secret_ciphertext FROM mail_outbox WHERE recipient = ? AND status = 'Sent'").bind(resetter.email).all<{ secret_ciphertext: string | null }>();
      expect(done.map((row) => row.secret_ciphertext)).toEqual(done.map(() => null));
      for (const token of linkTokens) expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM account_tokens WHERE token_hash = ?").bind(await sha256Hex(token)).first<{ n: number }>()).toEqual({ n: 1 });
    }

    // Every route that answers 2xx to a write is listed above, so a new writing route shows up here.
    const writeRoutes = apiRoutes().filter((route) => route.method !== "GET").map(routeKey);
    expect(writeRoutes.filter((route) => !exercised.includes(route)), "write routes this test does not exercise yet").toEqual([]);

    const dump = await dumpDatabase();
    expect(dump.tables).toEqual(expect.arrayContaining(["tenants", "accounts", "memberships", "invites", "refresh_tokens"]));
    const secrets = [...passwords, ...inviteTokens, ...refreshTokens, ...accessTokens, ...webhookSecrets, ...linkTokens];
    for (const secret of secrets) {
      for (const form of forms(secret)) expect(dump.text.includes(form), `plaintext secret in the dump: ${form.slice(0, 10)}…`).toBe(false);
    }
    // the server's own keys are not in the data either
    const signingKey = JSON.parse(env.JWT_PRIVATE_KEY!) as { d: string };
    for (const key of [signingKey.d, env.INVITE_TOKEN_KEY!, env.PASSWORD_PEPPER!].filter(Boolean)) expect(dump.text.includes(key)).toBe(false);

    // what is stored instead: SHA-256 digests (lookups), AES-GCM ciphertext (invite links), PHC hashes
    const stored = async (sql: string, value: string) => (await env.DB.prepare(sql).bind(value).first<{ n: number }>())!.n;
    for (const token of refreshTokens) expect(await stored("SELECT COUNT(*) AS n FROM refresh_tokens WHERE token_hash = ?", await sha256Hex(token)), "refresh token stored as its SHA-256").toBe(1);
    const { results: inviteRows } = await env.DB.prepare("SELECT token_hash, token_ciphertext FROM invites").all<{ token_hash: string; token_ciphertext: string }>();
    for (const row of inviteRows) {
      expect(row.token_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(row.token_ciphertext).not.toMatch(/^inv_/);
    }
    const { results: users } = await env.DB.prepare("SELECT password_hash FROM accounts").all<{ password_hash: string }>();
    expect(users.length).toBeGreaterThanOrEqual(3);
    for (const { password_hash } of users) {
      const match = /^\$pbkdf2-sha256\$i=(\d+),l=32,p=[0-9a-f]{8}\$[A-Za-z0-9+/=_-]+\$[A-Za-z0-9+/=_-]+$/.exec(password_hash);
      expect(match, password_hash).not.toBeNull();
      expect(Number(match![1]), "the Workers runtime refuses PBKDF2 above 100,000 iterations").toBeLessThanOrEqual(100_000);
    }
    // salted: the same password never produces the same stored string
    expect(new Set(users.map((u) => u.password_hash)).size).toBe(users.length);
    console.log(`secrets at rest: ${dump.tables.length} tables dumped after ${exercised.length} write routes; ${secrets.length} secrets searched (${passwords.length} passwords, ${inviteTokens.length} invite tokens, ${refreshTokens.length} refresh tokens, ${accessTokens.length} access tokens, ${webhookSecrets.length} webhook secrets)`);
  });
});
