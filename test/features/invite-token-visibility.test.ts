/**
 * Issue 11 item 1: an Admin could mint Admins by reading the token of an Owner's Admin-role invite
 * (list, GET by id) and redeeming it. Only those who may grant an invite's role see its token.
 */
import { describe, expect, it } from "vitest";
import { call, createInvite, expectError, newMember, newTenant, register, type Session } from "../helpers";

const list = (session: Session, query = "") => call("GET", `/api/v1/invites?Qt=100${query}`, { token: session.token });
const get = (session: Session, id: string) => call("GET", `/api/v1/invites/${id}`, { token: session.token });

describe("Admin-role invite tokens are for Owners only", () => {
  it("an Admin listing or getting an Owner's Admin invite sees token: null; the Owner sees the token, and it registers an Admin", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const adminInvite = await createInvite(owner.token, { role: "Admin" });
    const developerInvite = await createInvite(owner.token, { role: "Developer" });
    const adminsOwn = await createInvite(admin.token, { role: "Viewer" });

    const page = await list(admin);
    expect(page.status, page.text).toBe(200);
    const byId = new Map(page.body.items.map((item: { id: string }) => [item.id, item]));
    expect(byId.get(adminInvite.id)).toMatchObject({ id: adminInvite.id, targetRole: "Admin", status: "Pending", token: null });
    expect(byId.get(developerInvite.id)).toMatchObject({ token: developerInvite.token });
    expect(byId.get(adminsOwn.id)).toMatchObject({ token: adminsOwn.token });
    // nowhere in the Admin's responses, under any filter or sort
    for (const query of ["", "&Status=Pending", "&CpOrd=targetRole&TpOrd=Asc", "&CpOrd=status"]) {
      const response = await list(admin, query);
      expect(response.status).toBe(200);
      expect(response.text).not.toContain(adminInvite.token);
    }
    const single = await get(admin, adminInvite.id);
    expect(single.status, single.text).toBe(200);
    expect(single.body).toMatchObject({ id: adminInvite.id, targetRole: "Admin", token: null });
    expect(single.text).not.toContain(adminInvite.token);

    // the Owner sees it everywhere
    expect((await get(owner, adminInvite.id)).body.token).toBe(adminInvite.token);
    const ownersPage = await list(owner);
    expect(ownersPage.body.items.find((item: { id: string }) => item.id === adminInvite.id).token).toBe(adminInvite.token);
    // and it is a working Admin link (which is why the Admin must not hold it)
    const registered = await register(adminInvite.token);
    expect(registered.status, registered.text).toBe(201);
    expect(registered.body.role).toBe("Admin");
  });

  it("a renewed Admin invite: the Owner's renew response carries the new token, the Admin still sees null", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const adminInvite = await createInvite(owner.token, { role: "Admin" });
    const renewed = await call("POST", `/api/v1/invites/${adminInvite.id}/renew`, { token: owner.token, body: {} });
    expect(renewed.status, renewed.text).toBe(200);
    expect(renewed.body.token).toMatch(/^inv_/);
    expect(renewed.body.token).not.toBe(adminInvite.token);
    // an Admin may not renew it (that would hand them a fresh Admin link)
    expectError(await call("POST", `/api/v1/invites/${adminInvite.id}/renew`, { token: admin.token, body: {} }), 403, "ROLE_NOT_ASSIGNABLE");
    const seen = await get(admin, adminInvite.id);
    expect(seen.body.token).toBeNull();
    expect(seen.text).not.toContain(renewed.body.token);
  });

  it("Owners and Admins both see Developer and Viewer invite tokens; used Admin invites stay hidden from Admins", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin"); // its invite was an Admin invite, now Used
    const page = await list(admin, "&Status=Used");
    expect(page.status).toBe(200);
    expect(page.body.items).toHaveLength(1);
    expect(page.body.items[0]).toMatchObject({ targetRole: "Admin", status: "Used", token: null });
    const viewerInvite = await createInvite(admin.token, { role: "Viewer" });
    expect((await get(owner, viewerInvite.id)).body.token).toBe(viewerInvite.token);
    expect((await get(admin, viewerInvite.id)).body.token).toBe(viewerInvite.token);
  });
});
