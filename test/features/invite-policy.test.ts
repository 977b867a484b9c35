import { describe, expect, it } from "vitest";
import { call, createInvite, expectError, newMember, newTenant, register, uniqueEmail, type Session } from "../helpers";

const setPolicy = async (owner: Session, invitePolicy: "AdminsOnly" | "Members") => {
  const response = await call("PATCH", "/api/v1/tenants/current", { token: owner.token, body: { invitePolicy } });
  expect(response.status, response.text).toBe(200);
};

describe("invitePolicy", () => {
  it("AdminsOnly (the default): Developers and Viewers get 403 FORBIDDEN on create, list and revoke", async () => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token);
    for (const role of ["Developer", "Viewer"] as const) {
      const member = await newMember(owner, role);
      expectError(await call("POST", "/api/v1/invites", { token: member.token, body: {} }), 403, "FORBIDDEN");
      expectError(await call("GET", "/api/v1/invites", { token: member.token }), 403, "FORBIDDEN");
      expectError(await call("DELETE", `/api/v1/invites/${invite.id}`, { token: member.token }), 403, "FORBIDDEN");
    }
  });

  it("Members: a Developer creates Developer/Viewer invites (never Admin), which register as usual", async () => {
    const owner = await newTenant();
    const developer = await newMember(owner, "Developer");
    await setPolicy(owner, "Members");
    const dev = await createInvite(developer.token, { role: "Developer" });
    const viewer = await createInvite(developer.token, { role: "Viewer", privateMetadata: { note: "for admins" } });
    expect(dev).toMatchObject({ createdBy: developer.userId, targetRole: "Developer" });
    // privateMetadata is for Owners and Admins: stored, but never shown to the Developer
    expect((viewer as any).privateMetadata).toBeNull();
    const asOwner = await call("GET", `/api/v1/invites/${viewer.id}`, { token: owner.token });
    expect(asOwner.body.privateMetadata).toEqual({ note: "for admins" });
    expectError(await call("POST", "/api/v1/invites", { token: developer.token, body: { role: "Admin" } }), 403, "ROLE_NOT_ASSIGNABLE");
    const registered = await register(viewer.token);
    expect(registered.status, registered.text).toBe(201);
    expect(registered.body.role).toBe("Viewer");
  });

  it("Members: a Developer lists and revokes only the invites they created; others' are 404 to them", async () => {
    const owner = await newTenant();
    const developer = await newMember(owner, "Developer");
    const other = await newMember(owner, "Developer");
    await setPolicy(owner, "Members");
    const ownersInvite = await createInvite(owner.token);
    const othersInvite = await createInvite(other.token);
    const mine = [await createInvite(developer.token), await createInvite(developer.token, { role: "Viewer" }), await createInvite(developer.token)];

    const page = await call("GET", "/api/v1/invites?Qt=2", { token: developer.token });
    expect(page.status, page.text).toBe(200);
    expect(page.body.total).toBe(3);
    const next = await call("GET", `/api/v1/invites?Qt=2&starting_after=${page.body.nextCursor}`, { token: developer.token });
    const seen = [...page.body.items, ...next.body.items].map((item: { id: string }) => item.id);
    expect(seen).toEqual(mine.map((invite) => invite.id).reverse());
    const filtered = await call("GET", "/api/v1/invites?Status=Pending&Qt=100", { token: developer.token });
    expect(filtered.body.total).toBe(3);
    // the Owner still sees all seven (the two that made the members, too)
    expect((await call("GET", "/api/v1/invites", { token: owner.token })).body.total).toBe(7);

    expect((await call("DELETE", `/api/v1/invites/${mine[0]!.id}`, { token: developer.token })).status).toBe(204);
    expectError(await call("DELETE", `/api/v1/invites/${ownersInvite.id}`, { token: developer.token }), 404, "INVITE_NOT_FOUND");
    expectError(await call("DELETE", `/api/v1/invites/${othersInvite.id}`, { token: developer.token }), 404, "INVITE_NOT_FOUND");
    expect((await call("GET", `/api/v1/invites/${othersInvite.id}`, { token: owner.token })).body.status).toBe("Pending");
  });

  it("Members: Viewers still get 403; renew stays Owner/Admin; a Developer reads their own invite by id (others' are 404)", async () => {
    const owner = await newTenant();
    const viewer = await newMember(owner, "Viewer");
    const developer = await newMember(owner, "Developer");
    await setPolicy(owner, "Members");
    expectError(await call("POST", "/api/v1/invites", { token: viewer.token, body: {} }), 403, "FORBIDDEN");
    expectError(await call("GET", "/api/v1/invites", { token: viewer.token }), 403, "FORBIDDEN");
    const mine = await createInvite(developer.token, { privateMetadata: { note: "for admins" } });
    expectError(await call("DELETE", `/api/v1/invites/${mine.id}`, { token: viewer.token }), 403, "FORBIDDEN");
    expectError(await call("GET", `/api/v1/invites/${mine.id}`, { token: viewer.token }), 403, "FORBIDDEN");
    expectError(await call("POST", `/api/v1/invites/${mine.id}/renew`, { token: developer.token, body: {} }), 403, "FORBIDDEN");
    const read = await call("GET", `/api/v1/invites/${mine.id}`, { token: developer.token });
    expect(read.status, read.text).toBe(200);
    expect(read.body).toMatchObject({ id: mine.id, token: mine.token, privateMetadata: null });
    expectError(await call("GET", `/api/v1/invites/${(await createInvite(owner.token)).id}`, { token: developer.token }), 404, "INVITE_NOT_FOUND");
  });

  it("Members: a Developer resends the bound invites they created (202); another's is 404, a Viewer 403, and under AdminsOnly 403", async () => {
    const owner = await newTenant();
    const developer = await newMember(owner, "Developer");
    const viewer = await newMember(owner, "Viewer");
    await setPolicy(owner, "Members");
    const mine = await createInvite(developer.token, { email: uniqueEmail("dev-resend"), role: "Viewer", notify: false });
    const resent = await call("POST", `/api/v1/invites/${mine.id}/resend`, { token: developer.token });
    expect(resent.status, resent.text).toBe(202);
    expect(resent.body).toMatchObject({ id: mine.id, delivery: { status: "Queued" }, privateMetadata: null });
    const owners = await createInvite(owner.token, { email: uniqueEmail("owner-resend"), notify: false });
    expectError(await call("POST", `/api/v1/invites/${owners.id}/resend`, { token: developer.token }), 404, "INVITE_NOT_FOUND");
    expectError(await call("POST", `/api/v1/invites/${mine.id}/resend`, { token: viewer.token }), 403, "FORBIDDEN");
    // A link has nobody to mail: 409 INVITE_NOT_EMAIL_BOUND, for Developers as for Owners.
    const link = await createInvite(developer.token, { maxUses: 5 });
    expectError(await call("POST", `/api/v1/invites/${link.id}/resend`, { token: developer.token }), 409, "INVITE_NOT_EMAIL_BOUND");
    await setPolicy(owner, "AdminsOnly");
    expectError(await call("POST", `/api/v1/invites/${mine.id}/resend`, { token: developer.token }), 403, "FORBIDDEN");
  });

  it("switching back to AdminsOnly takes effect on the Developer's next request", async () => {
    const owner = await newTenant();
    const developer = await newMember(owner, "Developer");
    await setPolicy(owner, "Members");
    const mine = await createInvite(developer.token);
    await setPolicy(owner, "AdminsOnly");
    expectError(await call("POST", "/api/v1/invites", { token: developer.token, body: {} }), 403, "FORBIDDEN");
    expectError(await call("DELETE", `/api/v1/invites/${mine.id}`, { token: developer.token }), 403, "FORBIDDEN");
    expectError(await call("GET", `/api/v1/invites/${mine.id}`, { token: developer.token }), 403, "FORBIDDEN");
    // The Developer's authority to issue came from the policy: their pending invites lapse with it…
    expectError(await register(mine.token), 409, "INVITE_AUTHORITY_LAPSED");
    // …and work again once it is back.
    await setPolicy(owner, "Members");
    expect((await register(mine.token)).status).toBe(201);
  });
});
