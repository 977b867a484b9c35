/**
 * Guarantee: authority cannot be borrowed (issue 11). An Admin never obtains a link that grants
 * Admin; two tabs of one session racing to refresh never sign the user out.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, createInvite, newMember, newTenant } from "../helpers";

const SORTS = ["id", "createdAt", "expiresAt", "usedAt", "status", "targetRole"];
const STATUSES = ["", "Pending", "Used", "Expired", "Revoked"];
// each round spends two of the family's refreshes per hour; one more is left for the final check
const TAB_ROUNDS = Math.floor((Number(env.REFRESH_LIMIT_PER_HOUR) - 1) / 2);

describe("guarantee: an Admin never sees the token of an Admin-role invite", () => {
  it(`Admin invites in every state × every list filter and sort (${STATUSES.length * SORTS.length * 2} lists) and GET by id → token null for the Admin, the token for the Owner`, async () => {
    const owner = await newTenant("authority");
    const admin = await newMember(owner, "Admin");
    const [pending, expired, revoked] = [await createInvite(owner.token, { role: "Admin" }), await createInvite(owner.token, { role: "Admin" }), await createInvite(owner.token, { role: "Admin" })];
    await env.DB.prepare("UPDATE invites SET expires_at = ? WHERE id = ?").bind(Date.now() - 1000, expired.id).run();
    expect((await call("DELETE", `/api/v1/invites/${revoked.id}`, { token: owner.token })).status).toBe(204);
    const adminInvites = [pending, expired, revoked];
    const tokens = adminInvites.map((invite) => invite.token);

    let listed = 0;
    for (const status of STATUSES) {
      for (const sort of SORTS) {
        for (const direction of ["Asc", "Desc"]) {
          const query = `?Qt=100&CpOrd=${sort}&TpOrd=${direction}${status ? `&Status=${status}` : ""}`;
          const seenByAdmin = await call("GET", `/api/v1/invites${query}`, { token: admin.token });
          expect(seenByAdmin.status, seenByAdmin.text).toBe(200);
          for (const token of tokens) expect(seenByAdmin.text).not.toContain(token);
          for (const item of seenByAdmin.body.items) if (item.targetRole === "Admin") expect(item.token).toBeNull();
          listed += seenByAdmin.body.items.filter((item: { targetRole: string }) => item.targetRole === "Admin").length;
        }
      }
    }
    // every Admin invite (the three above and the Admin's own, now Used) was listed: 4 unfiltered + 1 per status
    expect(listed).toBe((4 + 4) * SORTS.length * 2);
    for (const invite of adminInvites) {
      const asAdmin = await call("GET", `/api/v1/invites/${invite.id}`, { token: admin.token });
      expect(asAdmin.status).toBe(200);
      expect(asAdmin.body.token).toBeNull();
      const asOwner = await call("GET", `/api/v1/invites/${invite.id}`, { token: owner.token });
      expect(asOwner.body.token).toBe(invite.token);
    }
  });
});

describe("guarantee: two tabs refreshing at once stay signed in", () => {
  it(`${TAB_ROUNDS} rounds of two simultaneous refreshes of one session: each round exactly one 200 and one 401, and the session survives every round`, async () => {
    const owner = await newTenant("authority");
    let current = owner.refreshToken;
    for (let round = 0; round < TAB_ROUNDS; round++) {
      const tabs = await Promise.all([current, current].map((refreshToken) => call("POST", "/api/v1/auth/refresh", { body: { refreshToken } })));
      expect(tabs.map((tab) => tab.status).sort(), `round ${round}`).toEqual([200, 401]);
      current = tabs.find((tab) => tab.status === 200)!.body.refreshToken;
    }
    const alive = await call("POST", "/api/v1/auth/refresh", { body: { refreshToken: current } });
    expect(alive.status, alive.text).toBe(200);
  });
});
