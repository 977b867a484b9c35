import { describe, expect, it } from "vitest";
import { call, createInvite, expectError, login, newMember, newTenant, PASSWORD, register, uniqueEmail } from "../helpers";
import { eventRows } from "../webhook-helpers";

describe("membership changes write their events (same batch)", () => {
  it("tenant sign-up: member.added for the Owner (no invite), by a public actor", async () => {
    const owner = await newTenant();
    const [added] = await eventRows(owner.tenantId, "member.added");
    expect(added).toMatchObject({ actor_type: "public", actor_id: null, data: { memberId: owner.userId, email: owner.email, role: "Owner", inviteId: null } });
  });

  it("register: invite.accepted (via register) and member.added, by a public actor; a refused register writes none", async () => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token, { role: "Viewer" });
    const email = uniqueEmail("joiner");
    const joined = await register(invite.token, email);
    expect(joined.status, joined.text).toBe(201);
    expectError(await register(invite.token, uniqueEmail("late")), 409, "INVITE_USED");
    const accepted = await eventRows(owner.tenantId, "invite.accepted");
    expect(accepted).toHaveLength(1);
    expect(accepted[0]).toMatchObject({ actor_type: "public", data: { inviteId: invite.id, memberId: joined.body.id, role: "Viewer", via: "register" } });
    const added = (await eventRows(owner.tenantId, "member.added")).filter((e) => e.data.inviteId === invite.id);
    expect(added).toHaveLength(1);
    expect(added[0]!.data).toEqual({ memberId: joined.body.id, email, role: "Viewer", inviteId: invite.id });
  });

  it("accept by an existing account: invite.accepted (via accept) and member.added, by that user; concurrent accepts write one pair", async () => {
    const home = await newTenant("home");
    const other = await newTenant("other");
    const invite = await createInvite(other.token, { role: "Developer" });
    const responses = await Promise.all(Array.from({ length: 5 }, () => call("POST", `/api/v1/invites/${invite.token}/accept`, { token: home.token })));
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    const accepted = await eventRows(other.tenantId, "invite.accepted");
    expect(accepted).toHaveLength(1);
    expect(accepted[0]).toMatchObject({ actor_type: "user", actor_id: home.userId, data: { inviteId: invite.id, memberId: home.userId, role: "Developer", via: "accept" } });
    expect((await eventRows(other.tenantId, "member.added")).filter((e) => e.data.memberId === home.userId)).toHaveLength(1);
    expect((await eventRows(home.tenantId)).filter((e) => e.type === "invite.accepted")).toEqual([]);
  });

  it("PATCH: member.role_changed, member.deactivated, member.reactivated (one per change, none for a refused one)", async () => {
    const owner = await newTenant();
    const dev = await newMember(owner, "Developer");
    const patch = (body: unknown) => call("PATCH", `/api/v1/users/${dev.userId}`, { token: owner.token, body });
    expect((await patch({ role: "Admin" })).status).toBe(200);
    expect((await patch({ role: "Viewer", status: "Inactive" })).status).toBe(200);
    expect((await patch({ status: "Active" })).status).toBe(200);
    expect((await patch({ status: "Active" })).status).toBe(200); // no change: no event
    expectError(await call("PATCH", `/api/v1/users/${owner.userId}`, { token: owner.token, body: { status: "Inactive" } }), 409, "LAST_OWNER");
    const events = (await eventRows(owner.tenantId)).filter((e) => e.type.startsWith("member.") && e.type !== "member.added");
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ["member.role_changed", { memberId: dev.userId, previousRole: "Developer", role: "Admin" }],
      ["member.role_changed", { memberId: dev.userId, previousRole: "Admin", role: "Viewer" }],
      ["member.deactivated", { memberId: dev.userId }],
      ["member.reactivated", { memberId: dev.userId }],
    ]);
    for (const event of events) expect(event).toMatchObject({ actor_type: "user", actor_id: owner.userId });
  });

  it("DELETE /users/{id} and DELETE /users/me: member.removed, by the remover or the member", async () => {
    const owner = await newTenant();
    const removed = await newMember(owner, "Viewer");
    const leaver = await newMember(owner, "Developer");
    expect((await call("DELETE", `/api/v1/users/${removed.userId}`, { token: owner.token })).status).toBe(204);
    expect((await call("DELETE", "/api/v1/users/me", { token: leaver.token })).status).toBe(204);
    expectError(await call("DELETE", "/api/v1/users/me", { token: owner.token }), 409, "LAST_OWNER");
    const events = await eventRows(owner.tenantId, "member.removed");
    expect(events.map((e) => [e.actor_id, e.data])).toEqual([
      [owner.userId, { memberId: removed.userId, role: "Viewer" }],
      [leaver.userId, { memberId: leaver.userId, role: "Developer" }],
    ]);
    // the password used never reaches an event
    expect(JSON.stringify(await eventRows(owner.tenantId))).not.toContain(PASSWORD);
    void login;
  });
});
