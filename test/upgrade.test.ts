/**
 * A database written by the previous release (migrations 0000–0002: one `users` table, a user per
 * tenant) upgrades in place with nothing lost: the old migrations are applied to an empty D1, rows
 * are written in the old shape (invite ciphertexts in its format: no key id, no row binding), the new migrations are applied, and every row is checked — through
 * SQL and through the API running on the upgraded database.
 */
import { applyD1Migrations, env } from "cloudflare:test";
import { decodeJwt } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { loadKeyRing, signAccessToken } from "../src/security/jwt";
import { hashPassword, loadPepperRing } from "../src/security/passwords";
import { generateInviteToken, generateRefreshToken, sha256Hex } from "../src/security/tokens";
import { PASSWORD } from "./helpers";
import { apiOn } from "./upgrade-helpers";
import { legacyEncrypt } from "./token-keys";

/** The last migration of the previous release. */
const PREVIOUS_RELEASE = "0002_invite_count_triggers.sql";
const DAY = 24 * 60 * 60 * 1000;
const db = () => env.UPGRADE_DB;

const api = apiOn(db);

interface OldUser {
  id: string;
  tenantId: string;
  email: string;
  role: string;
  status: string;
  createdAt: number;
  updatedAt: number;
  passwordHash: string;
}

const now = Date.now();
const tenantA = { id: crypto.randomUUID(), name: "Upgrade Alpha", createdAt: now - 50 * DAY };
const tenantB = { id: crypto.randomUUID(), name: "Upgrade Beta", createdAt: now - 40 * DAY };
const users: Record<string, OldUser> = {};
const tokens = { liveRefresh: generateRefreshToken(), spentRefresh: generateRefreshToken(), inactiveRefresh: generateRefreshToken() };
const invitesPlain = { pending: generateInviteToken(), adminPending: generateInviteToken(), used: generateInviteToken() };
const inviteIds = { pending: crypto.randomUUID(), adminPending: crypto.randomUUID(), used: crypto.randomUUID() };
let oldAccessToken: string;
let oldSnapshot: { users: unknown[]; refreshTokens: unknown[]; invites: unknown[] };

async function writePreviousReleaseRows() {
  // As the previous release wrote them: no pepper id in the PHC string.
  const hash = (await hashPassword(PASSWORD, await loadPepperRing(env.PASSWORD_PEPPER))).replace(/,p=[^$]+\$/, "$");
  const user = (key: string, tenantId: string, role: string, status: string, ageDays: number) => {
    users[key] = {
      id: crypto.randomUUID(),
      tenantId,
      email: `${key}@upgrade.test`,
      role,
      status,
      createdAt: now - ageDays * DAY,
      updatedAt: now - ageDays * DAY + 1000,
      passwordHash: hash,
    };
  };
  user("owner", tenantA.id, "Owner", "Active", 50);
  user("admin", tenantA.id, "Admin", "Active", 45);
  user("inactive", tenantA.id, "Developer", "Inactive", 44);
  user("viewer", tenantA.id, "Viewer", "Active", 30);
  user("ownerb", tenantB.id, "Owner", "Active", 40);

  const statements = [
    ...[tenantA, tenantB].map((t) =>
      db().prepare("INSERT INTO tenants (id, name, name_normalized, created_at, updated_at) VALUES (?, ?, ?, ?, ?)").bind(t.id, t.name, t.name.toLowerCase(), t.createdAt, t.createdAt),
    ),
    ...Object.values(users).map((u) =>
      db()
        .prepare("INSERT INTO users (id, tenant_id, email, password_hash, role, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(u.id, u.tenantId, u.email, u.passwordHash, u.role, u.status, u.createdAt, u.updatedAt),
    ),
  ];
  const refresh = async (token: string, userId: string, spentAt: number | null) =>
    db()
      .prepare("INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, spent_at, revoked_at, created_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)")
      .bind(crypto.randomUUID(), userId, crypto.randomUUID(), await sha256Hex(token), now + 6 * DAY, spentAt, now - DAY);
  statements.push(
    await refresh(tokens.liveRefresh, users.admin!.id, null),
    await refresh(tokens.spentRefresh, users.owner!.id, now - DAY / 2),
    await refresh(tokens.inactiveRefresh, users.inactive!.id, null),
  );
  const invite = async (id: string, plain: string, role: string, extra: { usedAt?: number; usedBy?: string; email?: string } = {}) =>
    db()
      .prepare(
        `INSERT INTO invites (id, tenant_id, token_hash, token_ciphertext, target_role, email, created_by, expires_at, used_at, used_by, revoked_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)`,
      )
      .bind(id, tenantA.id, await sha256Hex(plain), await legacyEncrypt(env.INVITE_TOKEN_KEY!, plain), role, extra.email ?? null, users.owner!.id, now + 5 * DAY, extra.usedAt ?? null, extra.usedBy ?? null, now - 2 * DAY, now - 2 * DAY);
  statements.push(
    await invite(inviteIds.pending, invitesPlain.pending, "Developer", { email: "newcomer@upgrade.test" }),
    await invite(inviteIds.adminPending, invitesPlain.adminPending, "Admin"),
    await invite(inviteIds.used, invitesPlain.used, "Viewer", { usedAt: now - 30 * DAY, usedBy: users.viewer!.id }),
  );
  await db().batch(statements);

  // An access token the previous release issued (sub = user id, tenant_id = the user's tenant).
  const ring = await loadKeyRing(env.JWT_PRIVATE_KEY!, env.JWT_PREVIOUS_PUBLIC_KEYS);
  const admin = users.admin!;
  oldAccessToken = (await signAccessToken(ring, { userId: admin.id, tenantId: admin.tenantId, email: admin.email, role: "Admin" }, { issuer: env.JWT_ISSUER!, audience: env.JWT_AUDIENCE! })).token;

  oldSnapshot = {
    users: (await db().prepare("SELECT * FROM users ORDER BY id").all()).results,
    refreshTokens: (await db().prepare("SELECT * FROM refresh_tokens ORDER BY id").all()).results,
    invites: (await db().prepare("SELECT * FROM invites ORDER BY id").all()).results,
  };
}

beforeAll(async () => {
  const cut = env.TEST_MIGRATIONS.findIndex((m) => m.name === PREVIOUS_RELEASE);
  expect(cut, "the previous release's last migration is in drizzle/").toBeGreaterThanOrEqual(0);
  expect(env.TEST_MIGRATIONS.length, "this release adds migrations after it").toBeGreaterThan(cut + 1);
  await applyD1Migrations(env.UPGRADE_DB, env.TEST_MIGRATIONS.slice(0, cut + 1));
  await writePreviousReleaseRows();
  await applyD1Migrations(env.UPGRADE_DB, env.TEST_MIGRATIONS);
});

describe("upgrading a previous release's database in place", () => {
  it("every user is an account (same id, email, password hash, unverified) plus one membership (same tenant, role, status, timestamps); users is gone", async () => {
    const tables = (await db().prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all<{ name: string }>()).results.map((r) => r.name);
    expect(tables).not.toContain("users");
    const accounts = (await db().prepare("SELECT * FROM accounts ORDER BY id").all()).results;
    const memberships = (await db().prepare("SELECT * FROM memberships ORDER BY account_id").all()).results;
    expect(accounts).toHaveLength(oldSnapshot.users.length);
    expect(memberships).toHaveLength(oldSnapshot.users.length);
    for (const old of oldSnapshot.users as Array<Record<string, unknown>>) {
      expect(accounts).toContainEqual({
        id: old.id,
        email: old.email,
        password_hash: old.password_hash,
        email_verified_at: null,
        last_tenant_id: old.tenant_id,
        is_operator: 0,
        created_at: old.created_at,
        updated_at: old.updated_at,
      });
      expect(memberships).toContainEqual({
        tenant_id: old.tenant_id,
        account_id: old.id,
        email: old.email,
        role: old.role,
        status: old.status,
        created_at: old.created_at,
        updated_at: old.updated_at,
        metadata: null,
      });
    }
  });

  it("refresh tokens keep every column and now name their (account, tenant) session; invites are untouched; invite counts stay trigger-kept", async () => {
    const refreshTokens = (await db().prepare("SELECT * FROM refresh_tokens ORDER BY id").all()).results as Array<Record<string, unknown>>;
    expect(refreshTokens).toHaveLength(oldSnapshot.refreshTokens.length);
    for (const old of oldSnapshot.refreshTokens as Array<Record<string, unknown>>) {
      const owner = Object.values(users).find((u) => u.id === old.user_id)!;
      const { user_id, ...rest } = old;
      expect(refreshTokens).toContainEqual({ ...rest, account_id: user_id, tenant_id: owner.tenantId });
    }
    // Every old column keeps its value; the email channel's columns (drizzle/0007) and the link columns
    // (drizzle/0010) start at their defaults, and an invite used before maxUses existed counts as its one use (drizzle/0011).
    const linkDefaults = { allowed_domains: null, redirect_url: null, public_metadata: null, private_metadata: null, last_redemption_id: null, max_uses: 1 };
    expect((await db().prepare("SELECT * FROM invites ORDER BY id").all()).results).toEqual(
      (oldSnapshot.invites as Array<Record<string, unknown>>).map((invite) => ({
        ...invite,
        delivery_status: "NotRequested",
        delivery_attempts: 0,
        delivery_last_attempt_at: null,
        delivery_sent_at: null,
        delivery_error: null,
        last_mail_requested_at: null,
        last_mail_job_id: null,
        locale: "en",
        ...linkDefaults,
        uses: invite.used_at === null ? 0 : 1,
      })),
    );
    expect((oldSnapshot.invites as Array<Record<string, unknown>>).some((old) => old.used_at !== null)).toBe(true);
    expect(await db().prepare("SELECT invite_count FROM tenants WHERE id = ?").bind(tenantA.id).first("invite_count")).toBe(3);
  });

  it("logins work with the old passwords, roles and statuses; the inactive user stays refused", async () => {
    for (const key of ["owner", "admin", "viewer", "ownerb"]) {
      const u = users[key]!;
      const response = await api("POST", "/api/v1/auth/login", { body: { email: u.email, password: PASSWORD } });
      expect(response.status, `${key}: ${response.text}`).toBe(200);
      expect(response.body.tenantId).toBe(u.tenantId);
      expect(decodeJwt(response.body.accessToken)).toMatchObject({ sub: u.id, tenant_id: u.tenantId, role: u.role });
      const me = await api("GET", "/api/v1/users/me", { token: response.body.accessToken });
      expect(me.body).toEqual({
        id: u.id,
        tenantId: u.tenantId,
        email: u.email,
        status: u.status,
        role: u.role,
        createdAt: new Date(u.createdAt).toISOString(),
        updatedAt: new Date(u.updatedAt).toISOString(),
        // Nobody had proved a mailbox before the email channel existed.
        emailVerified: false,
      });
    }
    const inactive = await api("POST", "/api/v1/auth/login", { body: { email: users.inactive!.email, password: PASSWORD } });
    expect(inactive.status).toBe(401);
    expect(inactive.body.code).toBe("INVALID_CREDENTIALS");
  });

  it("access tokens issued before the upgrade keep working; the users list shows every member as before", async () => {
    const list = await api("GET", "/api/v1/users?Qt=100&CpOrd=createdAt&TpOrd=Asc", { token: oldAccessToken });
    expect(list.status, list.text).toBe(200);
    const tenantAUsers = Object.values(users).filter((u) => u.tenantId === tenantA.id).sort((a, b) => a.createdAt - b.createdAt);
    expect(list.body.total).toBe(tenantAUsers.length);
    expect(list.body.items.map((i: { id: string; role: string; status: string }) => [i.id, i.role, i.status])).toEqual(
      tenantAUsers.map((u) => [u.id, u.role, u.status]),
    );
  });

  it("refresh tokens refresh (once); a token spent before the upgrade still trips reuse detection; the inactive user's is refused", async () => {
    const refreshed = await api("POST", "/api/v1/auth/refresh", { body: { refreshToken: tokens.liveRefresh } });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(decodeJwt(refreshed.body.accessToken)).toMatchObject({ sub: users.admin!.id, tenant_id: tenantA.id });
    expect((await api("POST", "/api/v1/auth/refresh", { body: { refreshToken: tokens.liveRefresh } })).status).toBe(401);
    expect((await api("POST", "/api/v1/auth/refresh", { body: { refreshToken: tokens.spentRefresh } })).status).toBe(401);
    expect((await api("POST", "/api/v1/auth/refresh", { body: { refreshToken: tokens.inactiveRefresh } })).status).toBe(401);
  });

  it("pending invites keep their tokens (listed decrypted, and they register); an Admin invite still honours its Owner; a used one stays used", async () => {
    const owner = await api("POST", "/api/v1/auth/login", { body: { email: users.owner!.email, password: PASSWORD } });
    const listed = await api("GET", "/api/v1/invites?Qt=100&Status=Pending", { token: owner.body.accessToken });
    expect(listed.body.items.map((i: { id: string; token: string }) => [i.id, i.token]).sort()).toEqual(
      [
        [inviteIds.pending, invitesPlain.pending],
        [inviteIds.adminPending, invitesPlain.adminPending],
      ].sort(),
    );
    const registered = await api("POST", `/api/v1/invites/${invitesPlain.pending}/register`, { body: { email: "newcomer@upgrade.test", password: PASSWORD } });
    expect(registered.status, registered.text).toBe(201);
    expect(registered.body).toMatchObject({ tenantId: tenantA.id, role: "Developer", status: "Active" });
    const admin = await api("POST", `/api/v1/invites/${invitesPlain.adminPending}/register`, { body: { email: "second-admin@upgrade.test", password: PASSWORD } });
    expect(admin.status, admin.text).toBe(201);
    expect(admin.body.role).toBe("Admin");
    const used = await api("POST", `/api/v1/invites/${invitesPlain.used}/register`, { body: { email: "late@upgrade.test", password: PASSWORD } });
    expect(used.status).toBe(409);
    expect(used.body.code).toBe("INVITE_USED");
    // The trigger-kept count follows new invites after the upgrade too.
    const created = await api("POST", "/api/v1/invites", { token: owner.body.accessToken, body: {} });
    expect(created.status).toBe(201);
    expect(await db().prepare("SELECT invite_count FROM tenants WHERE id = ?").bind(tenantA.id).first("invite_count")).toBe(4);
    expect((await api("GET", "/api/v1/invites", { token: owner.body.accessToken })).body.total).toBe(4);
  });

  it("a migrated account joins a second tenant by accepting an invite", async () => {
    const ownerB = await api("POST", "/api/v1/auth/login", { body: { email: users.ownerb!.email, password: PASSWORD } });
    const invite = await api("POST", "/api/v1/invites", { token: ownerB.body.accessToken, body: { role: "Viewer" } });
    const viewer = await api("POST", "/api/v1/auth/login", { body: { email: users.viewer!.email, password: PASSWORD } });
    const accepted = await api("POST", `/api/v1/invites/${invite.body.token}/accept`, { token: viewer.body.accessToken });
    expect(accepted.status, accepted.text).toBe(201);
    expect(accepted.body).toMatchObject({ id: users.viewer!.id, tenantId: tenantB.id, role: "Viewer" });
  });
});
