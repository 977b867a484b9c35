/**
 * Guarantee: one invite, one membership — accepts racing accepts, registers, revokes and removals.
 * Concurrent requests through the Worker (SELF.fetch), each from its own client IP, on the real D1.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, createInvite, newMember, newTenant, register, uniqueEmail, type Session } from "../helpers";

const ROUNDS = 2;

const members = async (tenantId: string) =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM memberships WHERE tenant_id = ?").bind(tenantId).first<{ n: number }>())!.n;
const inviteRow = (id: string) =>
  env.DB.prepare("SELECT used_at, used_by, revoked_at FROM invites WHERE id = ?").bind(id).first<{ used_at: number | null; used_by: string | null; revoked_at: number | null }>();
const isMember = async (tenantId: string, accountId: string) =>
  (await env.DB.prepare("SELECT 1 AS x FROM memberships WHERE tenant_id = ? AND account_id = ?").bind(tenantId, accountId).first()) !== null;
const accept = (session: Session, token: string) => call("POST", `/api/v1/invites/${token}/accept`, { token: session.token });

describe("guarantee: concurrent accepts", () => {
  it("10 accounts accepting one token at once → exactly 1 member; the other 9 are 409 INVITE_USED", async () => {
    const host = await newTenant("race-host");
    const joiners = await Promise.all(Array.from({ length: 10 }, (_, i) => newTenant(`race-joiner-${i}`)));
    const invite = await createInvite(host.token, { role: "Viewer" });
    const before = await members(host.tenantId);
    const responses = await Promise.all(joiners.map((joiner) => accept(joiner, invite.token)));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses, responses.map((r) => r.text).join("\n")).toEqual([201, ...Array(9).fill(409)]);
    for (const r of responses.filter((r) => r.status === 409)) expect(r.body.code).toBe("INVITE_USED");
    expect(await members(host.tenantId)).toBe(before + 1);
    const winner = responses.find((r) => r.status === 201)!.body.id as string;
    expect((await inviteRow(invite.id))!.used_by).toBe(winner);
    expect(await isMember(host.tenantId, winner)).toBe(true);
  });

  it("5 accepts + 5 registers of one token at once → exactly 1 success, 1 new member, the invite used by the winner", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const host = await newTenant("mixed-host");
      const joiners = await Promise.all(Array.from({ length: 5 }, (_, i) => newTenant(`mixed-joiner-${i}`)));
      const invite = await createInvite(host.token);
      const before = await members(host.tenantId);
      const accountsBefore = (await env.DB.prepare("SELECT COUNT(*) AS n FROM accounts").first<{ n: number }>())!.n;
      const responses = await Promise.all([
        ...joiners.map((joiner) => accept(joiner, invite.token)),
        ...Array.from({ length: 5 }, () => register(invite.token, uniqueEmail("mixed"))),
      ]);
      const winners = responses.filter((r) => r.status === 201);
      expect(winners, responses.map((r) => `${r.status} ${r.text}`).join("\n")).toHaveLength(1);
      for (const r of responses.filter((r) => r.status !== 201)) {
        expect(r.status).toBe(409);
        expect(r.body.code).toBe("INVITE_USED");
      }
      expect(await members(host.tenantId)).toBe(before + 1);
      const winner = winners[0]!.body.id as string;
      expect((await inviteRow(invite.id))!.used_by).toBe(winner);
      const accountsAfter = (await env.DB.prepare("SELECT COUNT(*) AS n FROM accounts").first<{ n: number }>())!.n;
      // a register that won created one account; an accept that won created none
      expect(accountsAfter - accountsBefore).toBe(joiners.some((j) => j.userId === winner) ? 0 : 1);
    }
  });

  it("accept racing revoke: exactly one takes effect (revoked and no member, or used and a member that revoke reports 409 for)", async () => {
    const outcomes = new Set<string>();
    for (let round = 0; round < ROUNDS * 2; round++) {
      const host = await newTenant("revoke-host");
      const joiner = await newTenant("revoke-joiner");
      const invite = await createInvite(host.token);
      const [accepted, revoked] = await Promise.all([accept(joiner, invite.token), call("DELETE", `/api/v1/invites/${invite.id}`, { token: host.token })]);
      const row = (await inviteRow(invite.id))!;
      const member = await isMember(host.tenantId, joiner.userId);
      if (accepted.status === 201) {
        expect(revoked.status, revoked.text).toBe(409);
        expect(revoked.body.code).toBe("INVITE_NOT_REVOCABLE");
        expect(row).toMatchObject({ used_by: joiner.userId, revoked_at: null });
        expect(member).toBe(true);
        outcomes.add("accepted");
      } else {
        expect(accepted.status, accepted.text).toBe(409);
        expect(accepted.body.code).toBe("INVITE_REVOKED");
        expect(revoked.status).toBe(204);
        expect(row.used_at).toBeNull();
        expect(member).toBe(false);
        outcomes.add("revoked");
      }
    }
    console.log(`accept vs revoke outcomes: ${[...outcomes].join(", ")}`);
  });

  it("removal racing an accept into the same tenant: the invite is used exactly when the account ends up a member through it", async () => {
    for (let round = 0; round < ROUNDS * 2; round++) {
      const host = await newTenant("remove-host");
      const joiner = await newTenant("remove-joiner");
      const first = await createInvite(host.token, { role: "Developer" });
      expect((await accept(joiner, first.token)).status).toBe(201);
      const second = await createInvite(host.token, { role: "Viewer" });
      const [removed, accepted] = await Promise.all([call("DELETE", `/api/v1/users/${joiner.userId}`, { token: host.token }), accept(joiner, second.token)]);
      expect(removed.status, removed.text).toBe(204);
      const row = (await inviteRow(second.id))!;
      const role = await env.DB.prepare("SELECT role FROM memberships WHERE tenant_id = ? AND account_id = ?").bind(host.tenantId, joiner.userId).first<{ role: string }>();
      if (accepted.status === 201) {
        // removed first, then joined again through the second invite
        expect(row.used_by).toBe(joiner.userId);
        expect(role).toEqual({ role: "Viewer" });
      } else {
        expect(accepted.status, accepted.text).toBe(409);
        expect(accepted.body.code).toBe("ALREADY_MEMBER");
        expect(row.used_at).toBeNull();
        expect(role).toBeNull();
      }
    }
  });

  it("two invites of one tenant accepted at once by one account → one membership; the other invite stays Pending", async () => {
    const host = await newTenant("double-host");
    const joiner = await newTenant("double-joiner");
    const [x, y] = [await createInvite(host.token, { role: "Viewer" }), await createInvite(host.token, { role: "Developer" })];
    const responses = await Promise.all([accept(joiner, x.token), accept(joiner, y.token)]);
    expect(responses.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(responses.find((r) => r.status === 409)!.body.code).toBe("ALREADY_MEMBER");
    const used = [(await inviteRow(x.id))!.used_at, (await inviteRow(y.id))!.used_at].filter((v) => v !== null);
    expect(used).toHaveLength(1);
    expect(await isMember(host.tenantId, joiner.userId)).toBe(true);
  });

  it("an Owner leaving while being demoted elsewhere does not touch the other tenant", async () => {
    const a = await newTenant("leave-a");
    const b = await newTenant("leave-b");
    const admin = await newMember(b, "Admin");
    const invite = await createInvite(b.token, { role: "Developer" });
    expect((await accept(a, invite.token)).status).toBe(201);
    const inB = await call("POST", "/api/v1/auth/switch-tenant", { token: a.token, body: { tenantId: b.tenantId } });
    const [left, demoted] = await Promise.all([
      call("DELETE", "/api/v1/users/me", { token: inB.body.accessToken }),
      call("PATCH", `/api/v1/users/${a.userId}`, { token: admin.token, body: { role: "Viewer" } }),
    ]);
    expect(left.status).toBe(204);
    expect([200, 404]).toContain(demoted.status);
    expect(await isMember(b.tenantId, a.userId)).toBe(false);
    expect(await env.DB.prepare("SELECT role, status FROM memberships WHERE tenant_id = ? AND account_id = ?").bind(a.tenantId, a.userId).first()).toEqual({
      role: "Owner",
      status: "Active",
    });
  });
});
