/**
 * A database written by the previous release (main at migration 0009: accounts, memberships, the email
 * channel's invite columns) upgrades in place to links and policies (0010 adds the columns, 0011
 * backfills `uses`): the old migrations are applied to an empty D1, rows are written in their shape,
 * the new migrations are applied, and the rows are checked through SQL and through the API.
 */
import { applyD1Migrations, env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { passwordPeppers } from "../src/env";
import { inviteKeyring } from "../src/features/invites/service";
import { hashPassword } from "../src/security/passwords";
import { encryptToken, generateInviteToken, sha256Hex } from "../src/security/tokens";
import { PASSWORD } from "./helpers";
import { apiOn } from "./upgrade-helpers";

const PREVIOUS_RELEASE = "0009_tenant_name_rekeys_fill.sql";
const DAY = 24 * 60 * 60 * 1000;
const db = () => env.UPGRADE_LINKS_DB;
const upgradedEnv = () => ({ ...env, DB: env.UPGRADE_LINKS_DB });

const api = apiOn(db);

const now = Date.now();
const tenant = { id: crypto.randomUUID(), name: "Links Upgrade" };
const people = { owner: crypto.randomUUID(), developer: crypto.randomUUID() };
const emails = { owner: "owner@links-upgrade.test", developer: "dev@links-upgrade.test", bound: "bound@links-upgrade.test" };
const tokens = { bound: generateInviteToken(), used: generateInviteToken(), admin: generateInviteToken() };
const ids = { bound: crypto.randomUUID(), used: crypto.randomUUID(), admin: crypto.randomUUID() };
let before: { invites: Array<Record<string, unknown>>; memberships: Array<Record<string, unknown>> };

async function writePreviousReleaseRows() {
  const hash = await hashPassword(PASSWORD, await passwordPeppers(upgradedEnv()));
  const ring = await inviteKeyring(upgradedEnv());
  const statements = [
    db().prepare("INSERT INTO tenants (id, name, name_normalized, created_at, updated_at) VALUES (?, ?, ?, ?, ?)").bind(tenant.id, tenant.name, tenant.name.toLowerCase(), now - 20 * DAY, now - 20 * DAY),
    ...(["owner", "developer"] as const).map((key, i) =>
      db()
        .prepare("INSERT INTO accounts (id, email, password_hash, email_verified_at, last_tenant_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(people[key], emails[key], hash, now - DAY, tenant.id, now - (20 - i) * DAY, now - (20 - i) * DAY),
    ),
    ...(["owner", "developer"] as const).map((key, i) =>
      db()
        .prepare("INSERT INTO memberships (tenant_id, account_id, email, role, status, created_at, updated_at) VALUES (?, ?, ?, ?, 'Active', ?, ?)")
        .bind(tenant.id, people[key], emails[key], key === "owner" ? "Owner" : "Developer", now - (20 - i) * DAY, now - (20 - i) * DAY),
    ),
  ];
  const invite = async (id: string, token: string, role: string, extra: { email?: string; usedAt?: number; usedBy?: string; delivery?: string } = {}) =>
    db()
      .prepare(
        `INSERT INTO invites (id, tenant_id, token_hash, token_ciphertext, target_role, email, created_by, expires_at, used_at, used_by, revoked_at,
                              created_at, updated_at, delivery_status, delivery_attempts, delivery_sent_at, locale)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, 'en')`,
      )
      .bind(id, tenant.id, await sha256Hex(token), await encryptToken(ring, token, { inviteId: id, tenantId: tenant.id }), role, extra.email ?? null, people.owner,
        now + 5 * DAY, extra.usedAt ?? null, extra.usedBy ?? null, now - 2 * DAY, now - 2 * DAY,
        extra.delivery ?? "NotRequested", extra.delivery === "Sent" ? 1 : 0, extra.delivery === "Sent" ? now - 2 * DAY : null);
  statements.push(
    await invite(ids.bound, tokens.bound, "Developer", { email: emails.bound, delivery: "Sent" }),
    await invite(ids.used, tokens.used, "Developer", { usedAt: now - DAY, usedBy: people.developer }),
    await invite(ids.admin, tokens.admin, "Admin"),
  );
  await db().batch(statements);
  before = {
    invites: (await db().prepare("SELECT * FROM invites ORDER BY id").all()).results,
    memberships: (await db().prepare("SELECT * FROM memberships ORDER BY account_id").all()).results,
  };
}

beforeAll(async () => {
  const cut = env.TEST_MIGRATIONS.findIndex((m) => m.name === PREVIOUS_RELEASE);
  expect(cut, "the previous release's last migration is in drizzle/").toBeGreaterThanOrEqual(0);
  expect(env.TEST_MIGRATIONS.slice(cut + 1).map((m) => m.name)).toEqual(expect.arrayContaining(["0010_links_and_policies.sql", "0011_invite_uses_backfill.sql", "0012_operator_flag.sql"]));
  await applyD1Migrations(db(), env.TEST_MIGRATIONS.slice(0, cut + 1));
  await writePreviousReleaseRows();
  await applyD1Migrations(db(), env.TEST_MIGRATIONS);
});

describe("upgrading a 0009 database to links and policies (0010, 0011)", () => {
  it("invites keep every column; link columns take their defaults and a used invite counts its one use; memberships and tenants likewise", async () => {
    const invites = (await db().prepare("SELECT * FROM invites ORDER BY id").all()).results;
    expect(invites).toEqual(
      before.invites.map((old) => ({
        ...old,
        max_uses: 1,
        uses: old.used_at === null ? 0 : 1,
        allowed_domains: null,
        redirect_url: null,
        public_metadata: null,
        private_metadata: null,
        last_redemption_id: null,
      })),
    );
    expect((await db().prepare("SELECT * FROM memberships ORDER BY account_id").all()).results).toEqual(before.memberships.map((old) => ({ ...old, metadata: null })));
    expect(await db().prepare("SELECT invite_policy, redirect_origins FROM tenants WHERE id = ?").bind(tenant.id).first()).toEqual({ invite_policy: "AdminsOnly", redirect_origins: "[]" });
    // 0012: nobody is a platform operator until `npm run operator -- grant` says so
    expect((await db().prepare("SELECT DISTINCT is_operator FROM accounts").all()).results).toEqual([{ is_operator: 0 }]);
  });

  it("through the API: the settings read as defaults, invites list with uses/maxUses, a pending invite registers, the used one stays used", async () => {
    const owner = await api("POST", "/api/v1/auth/login", { body: { email: emails.owner, password: PASSWORD } });
    expect(owner.status, owner.text).toBe(200);
    const token = owner.body.accessToken as string;
    expect((await api("GET", "/api/v1/tenants/current", { token })).body).toMatchObject({ invitePolicy: "AdminsOnly", redirectOrigins: [] });
    const listed = await api("GET", "/api/v1/invites?Qt=100&CpOrd=id&TpOrd=Asc", { token });
    expect(listed.status, listed.text).toBe(200);
    const byId = Object.fromEntries(listed.body.items.map((item: { id: string }) => [item.id, item]));
    expect(byId[ids.used]).toMatchObject({ status: "Used", uses: 1, maxUses: 1 });
    expect(byId[ids.bound]).toMatchObject({ status: "Pending", uses: 0, maxUses: 1, token: tokens.bound, delivery: { status: "Sent" }, publicMetadata: null, privateMetadata: null });
    // a cursor page over the migrated rows
    const first = await api("GET", "/api/v1/invites?Qt=2&CpOrd=id&TpOrd=Asc", { token });
    const rest = await api("GET", `/api/v1/invites?Qt=2&starting_after=${first.body.nextCursor}`, { token });
    expect([...first.body.items, ...rest.body.items].map((item: { id: string }) => item.id)).toEqual([ids.bound, ids.used, ids.admin].sort());

    const registered = await api("POST", `/api/v1/invites/${tokens.bound}/register`, { body: { email: emails.bound, password: PASSWORD } });
    expect(registered.status, registered.text).toBe(201);
    expect(registered.body).toMatchObject({ tenantId: tenant.id, role: "Developer", redirectUrl: null });
    expect((await api("GET", `/api/v1/invites/${ids.bound}`, { token })).body).toMatchObject({ status: "Used", uses: 1 });
    const used = await api("POST", `/api/v1/invites/${tokens.used}/register`, { body: { email: "late@links-upgrade.test", password: PASSWORD } });
    expect(used.status).toBe(409);
    expect(used.body.code).toBe("INVITE_USED");
  });

  it("migrated memberships keep working: the users list, a policy change, and the migrated Developer inviting under Members", async () => {
    const owner = (await api("POST", "/api/v1/auth/login", { body: { email: emails.owner, password: PASSWORD } })).body.accessToken as string;
    const users = await api("GET", "/api/v1/users?CpOrd=createdAt&TpOrd=Asc", { token: owner });
    expect(users.body.items.slice(0, 2).map((user: { id: string; role: string }) => [user.id, user.role])).toEqual([
      [people.owner, "Owner"],
      [people.developer, "Developer"],
    ]);
    expect((await api("PATCH", "/api/v1/tenants/current", { token: owner, body: { invitePolicy: "Members" } })).status).toBe(200);
    const developer = (await api("POST", "/api/v1/auth/login", { body: { email: emails.developer, password: PASSWORD } })).body.accessToken as string;
    const created = await api("POST", "/api/v1/invites", { token: developer, body: { role: "Viewer", maxUses: 2 } });
    expect(created.status, created.text).toBe(201);
    expect((await api("POST", `/api/v1/invites/${created.body.token}/register`, { body: { email: "viewer@links-upgrade.test", password: PASSWORD } })).status).toBe(201);
    // the Admin invite issued before the upgrade still honours its Owner
    expect((await api("POST", `/api/v1/invites/${tokens.admin}/register`, { body: { email: "admin@links-upgrade.test", password: PASSWORD } })).status).toBe(201);
  });
});
