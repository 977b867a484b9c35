import { env } from "cloudflare:test";
import { eventRows } from "../webhook-helpers";
import { describe, expect, it } from "vitest";
import backfill from "../../drizzle/0011_invite_uses_backfill.sql?raw";
import { call, createInvite, expectError, newTenant, register, uniqueEmail, unique } from "../helpers";

const invite = async (token: string, id: string) => (await call("GET", `/api/v1/invites/${id}`, { token })).body;

type Redemption = Awaited<ReturnType<typeof register>>;

/** A burst against a link capped at `cap`: exactly `cap` wins, the rest 409 INVITE_USED, and only the winners joined and wrote events. */
async function expectCapHeld(owner: { token: string; tenantId: string }, linkId: string, cap: number, responses: Redemption[]) {
  const won = responses.filter((response) => response.status === 201);
  expect(won).toHaveLength(cap);
  for (const refused of responses.filter((response) => response.status !== 201)) expectError(refused, 409, "INVITE_USED");
  const members = await env.DB.prepare("SELECT COUNT(*) AS n FROM memberships WHERE tenant_id = ?").bind(owner.tenantId).first<{ n: number }>();
  expect(members!.n).toBe(1 + cap);
  expect(await invite(owner.token, linkId)).toMatchObject({ uses: cap, status: "Used" });
  // each redemption writes its own invite.accepted + member.added (in its batch), refused ones none
  const events = await eventRows(owner.tenantId);
  const accepted = events.filter((event) => event.type === "invite.accepted" && event.data.inviteId === linkId);
  const added = events.filter((event) => event.type === "member.added" && event.data.inviteId === linkId);
  const winners = won.map((response) => response.body.id).sort();
  expect(accepted.map((event) => event.data.memberId).sort()).toEqual(winners);
  expect(added.map((event) => event.data.memberId).sort()).toEqual(winners);
}

describe("multi-use links (maxUses)", () => {
  it("each redemption takes one use; the one that takes the last marks the invite Used (usedAt = then)", async () => {
    const owner = await newTenant();
    const link = await createInvite(owner.token, { maxUses: 2, role: "Viewer" });
    const first = await register(link.token);
    expect(first.status, first.text).toBe(201);
    expect(first.body).toMatchObject({ role: "Viewer", redirectUrl: null });
    expect(await invite(owner.token, link.id)).toMatchObject({ uses: 1, maxUses: 2, status: "Pending", usedAt: null });
    const second = await register(link.token);
    expect(second.status, second.text).toBe(201);
    const used = await invite(owner.token, link.id);
    expect(used).toMatchObject({ uses: 2, maxUses: 2, status: "Used" });
    expect(Date.parse(used.usedAt)).toBeGreaterThanOrEqual(Date.parse(second.body.createdAt));
    expectError(await register(link.token), 409, "INVITE_USED");
    expect(await invite(owner.token, link.id)).toMatchObject({ uses: 2 });
  });

  it("cap 3, 15 concurrent registrations: exactly 3 × 201, 12 × 409 INVITE_USED, 3 users, uses = 3", async () => {
    const owner = await newTenant();
    const link = await createInvite(owner.token, { maxUses: 3 });
    const responses = await Promise.all(Array.from({ length: 15 }, () => register(link.token)));
    await expectCapHeld(owner, link.id, 3, responses);
  });

  it("a refused redemption (email taken) takes no use; a partly used link can be revoked", async () => {
    const owner = await newTenant();
    const link = await createInvite(owner.token, { maxUses: 3 });
    expectError(await register(link.token, owner.email), 409, "EMAIL_TAKEN");
    expect((await register(link.token)).status).toBe(201);
    expect(await invite(owner.token, link.id)).toMatchObject({ uses: 1, status: "Pending" });
    expect((await call("DELETE", `/api/v1/invites/${link.id}`, { token: owner.token })).status).toBe(204);
    expectError(await register(link.token), 409, "INVITE_REVOKED");
    expect(await invite(owner.token, link.id)).toMatchObject({ uses: 1, status: "Revoked" });
  });

  it("the migration counts every invite redeemed before maxUses existed as one use", async () => {
    const owner = await newTenant();
    const spent = await createInvite(owner.token);
    const open = await createInvite(owner.token);
    await env.DB.prepare("UPDATE invites SET used_at = ?, uses = 0 WHERE id = ?").bind(Date.now(), spent.id).run();
    for (const statement of backfill.split("--> statement-breakpoint")) await env.DB.prepare(statement).run();
    expect(await invite(owner.token, spent.id)).toMatchObject({ uses: 1, maxUses: 1, status: "Used" });
    expect(await invite(owner.token, open.id)).toMatchObject({ uses: 0, maxUses: 1, status: "Pending" });
  });
});

describe("domain-restricted links (allowedDomains)", () => {
  it("only emails at exactly one of the domains redeem; others get 409 EMAIL_DOMAIN_NOT_ALLOWED and take no use", async () => {
    const owner = await newTenant();
    const domain = `${unique("acme").toLowerCase()}.test`;
    const link = await createInvite(owner.token, { maxUses: 5, allowedDomains: [domain, "other.test"] });
    for (const email of [`dev@${domain}.evil.test`, `dev@eu.${domain}`, `dev@${domain.replace(".test", ".tes")}`, uniqueEmail()]) {
      const refused = expectError(await register(link.token, email), 409, "EMAIL_DOMAIN_NOT_ALLOWED");
      expect(refused.details.allowedDomains).toEqual([domain, "other.test"]);
    }
    expect(await invite(owner.token, link.id)).toMatchObject({ uses: 0 });
    const ok = await register(link.token, `Dev-${crypto.randomUUID().slice(0, 8)}@${domain.toUpperCase()}`);
    expect(ok.status, ok.text).toBe(201);
    expect(await invite(owner.token, link.id)).toMatchObject({ uses: 1, status: "Pending" });
  });
});

describe("redirectUrl on redemption", () => {
  it("register returns the invite's redirectUrl", async () => {
    const owner = await newTenant();
    await call("PATCH", "/api/v1/tenants/current", { token: owner.token, body: { redirectOrigins: ["https://app.initech.test"] } });
    const link = await createInvite(owner.token, { redirectUrl: "https://app.initech.test/welcome?team=1" });
    const registered = await register(link.token);
    expect(registered.status, registered.text).toBe(201);
    expect(Object.keys(registered.body)).toEqual(["id", "tenantId", "email", "status", "role", "createdAt", "updatedAt", "redirectUrl"]);
    expect(registered.body.redirectUrl).toBe("https://app.initech.test/welcome?team=1");
  });
});

describe("accepting multi-use and domain links (existing accounts)", () => {
  const accept = (inviteToken: string, token: string) => call("POST", `/api/v1/invites/${inviteToken}/accept`, { token });

  it("cap 3, 15 concurrent redemptions mixing register and accept: exactly 3 win, whatever the mix", async () => {
    const owner = await newTenant();
    const link = await createInvite(owner.token, { maxUses: 3, role: "Viewer" });
    const others = await Promise.all(Array.from({ length: 7 }, () => newTenant("joiner")));
    const responses = await Promise.all([
      ...Array.from({ length: 8 }, () => register(link.token)),
      ...others.map((other) => accept(link.token, other.token)),
    ]);
    await expectCapHeld(owner, link.id, 3, responses);
  });

  it("accept honours allowedDomains (409 EMAIL_DOMAIN_NOT_ALLOWED, no use taken), returns redirectUrl and copies publicMetadata onto the membership", async () => {
    const owner = await newTenant();
    await call("PATCH", "/api/v1/tenants/current", { token: owner.token, body: { redirectOrigins: ["https://app.initech.test"] } });
    const other = await newTenant("joiner");
    const restricted = await createInvite(owner.token, { maxUses: 2, allowedDomains: ["acme.test"] });
    expectError(await accept(restricted.token, other.token), 409, "EMAIL_DOMAIN_NOT_ALLOWED");
    expect(await invite(owner.token, restricted.id)).toMatchObject({ uses: 0 });

    const link = await createInvite(owner.token, { maxUses: 2, redirectUrl: "https://app.initech.test/joined", publicMetadata: { team: "platform" }, privateMetadata: { internal: 1 } });
    const accepted = await accept(link.token, other.token);
    expect(accepted.status, accepted.text).toBe(201);
    expect(accepted.body).toMatchObject({ tenantId: owner.tenantId, redirectUrl: "https://app.initech.test/joined" });
    expect(await invite(owner.token, link.id)).toMatchObject({ uses: 1, status: "Pending", usedAt: null });
    // the same account again: already a member, and no second use is taken
    expectError(await accept(link.token, other.token), 409, "ALREADY_MEMBER");
    expect(await invite(owner.token, link.id)).toMatchObject({ uses: 1 });

    const registered = await register(link.token);
    expect(registered.status).toBe(201);
    const stored = await env.DB.prepare("SELECT account_id, metadata FROM memberships WHERE tenant_id = ? AND account_id IN (?, ?) ORDER BY account_id")
      .bind(owner.tenantId, other.userId, registered.body.id)
      .all<{ account_id: string; metadata: string }>();
    expect(stored.results.map((row) => JSON.parse(row.metadata))).toEqual([{ team: "platform" }, { team: "platform" }]);
    expect(await invite(owner.token, link.id)).toMatchObject({ uses: 2, status: "Used" });
  });
});
