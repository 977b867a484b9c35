import { describe, expect, it } from "vitest";
import { call, createInvite, newTenant, register } from "./helpers";

describe("smoke", () => {
  it("signup → login → invite → register → list", async () => {
    const owner = await newTenant();
    const invite = await createInvite(owner.token, { validityDays: 3, role: "Viewer" });
    expect(invite.token).toMatch(/^inv_/);
    const user = await register(invite.token);
    expect(user.status, user.text).toBe(201);
    const list = await call("GET", "/api/v1/invites", { token: owner.token });
    expect(list.status, list.text).toBe(200);
    expect(list.body.total).toBe(1);
    expect(list.body.items[0].status).toBe("Used");
  });
});
