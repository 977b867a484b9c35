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
import { call, createInvite, newMember, newTenant, PASSWORD, register, uniqueEmail } from "./helpers";

const has = (key: string) => apiRoutes().some((route) => routeKey(route) === key);

/** The parts of a secret worth searching for: itself, and its random part without a known prefix. */
const forms = (secret: string) => [secret, secret.replace(/^(inv|rt|whsec)_/, "")];

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

    // Every route that answers 2xx to a write is listed above, so a new writing route shows up here.
    const writeRoutes = apiRoutes().filter((route) => route.method !== "GET").map(routeKey);
    expect(writeRoutes.filter((route) => !exercised.includes(route)), "write routes this test does not exercise yet").toEqual([]);

    const dump = await dumpDatabase();
    expect(dump.tables).toEqual(expect.arrayContaining(["tenants", "accounts", "memberships", "invites", "refresh_tokens"]));
    const secrets = [...passwords, ...inviteTokens, ...refreshTokens, ...accessTokens, ...webhookSecrets];
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
      const match = /^\$pbkdf2-sha256\$i=(\d+),l=32\$[A-Za-z0-9+/=_-]+\$[A-Za-z0-9+/=_-]+$/.exec(password_hash);
      expect(match, password_hash).not.toBeNull();
      expect(Number(match![1]), "the Workers runtime refuses PBKDF2 above 100,000 iterations").toBeLessThanOrEqual(100_000);
    }
    // salted: the same password never produces the same stored string
    expect(new Set(users.map((u) => u.password_hash)).size).toBe(users.length);
    console.log(`secrets at rest: ${dump.tables.length} tables dumped after ${exercised.length} write routes; ${secrets.length} secrets searched (${passwords.length} passwords, ${inviteTokens.length} invite tokens, ${refreshTokens.length} refresh tokens, ${accessTokens.length} access tokens, ${webhookSecrets.length} webhook secrets)`);
  });
});
