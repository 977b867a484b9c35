/**
 * Issue 11 item 4: invites of an Admin or Owner who is then deactivated, demoted or removed stop
 * working, for every target role, on register and accept alike (409 INVITE_AUTHORITY_LAPSED),
 * re-checked inside the redemption batch. The offboarding goes through the API as it would in use.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, createInvite, expectError, newMember, newTenant, register, type Session } from "../helpers";

const patchUser = (actor: Session, id: string, body: unknown) => call("PATCH", `/api/v1/users/${id}`, { token: actor.token, body });
const removeUser = (actor: Session, id: string) => call("DELETE", `/api/v1/users/${id}`, { token: actor.token });
const accept = (joiner: Session, token: string) => call("POST", `/api/v1/invites/${token}/accept`, { token: joiner.token });
const usedAt = async (inviteId: string) =>
  (await env.DB.prepare("SELECT used_at FROM invites WHERE id = ?").bind(inviteId).first<{ used_at: number | null }>())!.used_at;

/** Both ways into a tenant through an invite refuse it; the invite stays Pending. */
async function expectLapsed(invite: { id: string; token: string }) {
  expectError(await register(invite.token), 409, "INVITE_AUTHORITY_LAPSED");
  expectError(await accept(await newTenant("joiner"), invite.token), 409, "INVITE_AUTHORITY_LAPSED");
  expect(await usedAt(invite.id)).toBeNull();
}

describe("invites stop working when their creator loses the authority to issue them", () => {
  it("an Admin demoted to Developer: their Developer invite → 409 on register and accept; honoured again if they are made Admin again", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const invite = await createInvite(admin.token, { role: "Developer" });
    expect((await patchUser(owner, admin.userId, { role: "Developer" })).status).toBe(200);
    await expectLapsed(invite);
    // authority is judged at redemption: restored authority, working invite
    expect((await patchUser(owner, admin.userId, { role: "Admin" })).status).toBe(200);
    const registered = await register(invite.token);
    expect(registered.status, registered.text).toBe(201);
    expect(registered.body.role).toBe("Developer");
  });

  it("an Admin deactivated: their Viewer and Developer invites → 409", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const [viewer, developer] = [await createInvite(admin.token, { role: "Viewer" }), await createInvite(admin.token, { role: "Developer" })];
    expect((await patchUser(owner, admin.userId, { status: "Inactive" })).status).toBe(200);
    await expectLapsed(viewer);
    await expectLapsed(developer);
  });

  it("an Admin removed from the tenant: their invites → 409", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const invite = await createInvite(admin.token, { role: "Viewer" });
    expect((await removeUser(owner, admin.userId)).status).toBe(204);
    await expectLapsed(invite);
  });

  it("an Owner deactivated or leaving: their invites of every role → 409", async () => {
    const owner = await newTenant();
    const coOwnerInvite = await createInvite(owner.token, { role: "Admin" });
    // a second Owner cannot be invited; make one in the database so the first may be offboarded
    const second = await newMember(owner, "Admin");
    await env.DB.prepare("UPDATE memberships SET role = 'Owner' WHERE tenant_id = ? AND account_id = ?").bind(owner.tenantId, second.userId).run();
    const invites = [coOwnerInvite, await createInvite(owner.token, { role: "Developer" }), await createInvite(owner.token, { role: "Viewer" })];
    expect((await patchUser(second, owner.userId, { status: "Inactive" })).status).toBe(200);
    for (const invite of invites) await expectLapsed(invite);
    // the remaining Owner's invites are unaffected
    expect((await register((await createInvite(second.token, { role: "Admin" })).token)).status).toBe(201);
    // leaving the tenant (DELETE /users/me) lapses the leaver's invites too
    const leaverInvite = await createInvite(second.token, { role: "Viewer" });
    expect((await patchUser(second, owner.userId, { status: "Active" })).status).toBe(200);
    expect((await call("DELETE", "/api/v1/users/me", { token: second.token })).status).toBe(204);
    await expectLapsed(leaverInvite);
  });

  it("an Owner's Admin invite lapses when the Owner is no longer an Owner; an Admin's own Developer invites need only Admin", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const adminInvite = await createInvite(owner.token, { role: "Admin" });
    await env.DB.prepare("UPDATE memberships SET role = 'Admin' WHERE tenant_id = ? AND account_id = ?").bind(owner.tenantId, owner.userId).run();
    await expectLapsed(adminInvite);
    // control: an Admin's Developer invite, the Admin still an Admin, is honoured
    expect((await register((await createInvite(admin.token, { role: "Developer" })).token)).status).toBe(201);
  });

  it("renewing a lapsed invite is refused the same way (the renewed link could never be redeemed)", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const invite = await createInvite(admin.token, { role: "Viewer" });
    expect((await patchUser(owner, admin.userId, { role: "Viewer" })).status).toBe(200);
    expectError(await call("POST", `/api/v1/invites/${invite.id}/renew`, { token: owner.token, body: {} }), 409, "INVITE_AUTHORITY_LAPSED");
    // nothing changed: the same token still answers with the lapse
    expectError(await register(invite.token), 409, "INVITE_AUTHORITY_LAPSED");
  });
});
