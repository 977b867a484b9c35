/**
 * Guarantee: events are thin. After every kind of change that writes an event, neither the stored
 * events, nor GET /events, nor any webhook body actually POSTed (to the receiver outside the Worker,
 * through the real Queue) contains an invite token (inv_), a refresh token (rt_), a webhook secret
 * (whsec_), a password used, or a webhook URL.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { operatorStatement } from "../../scripts/lib/operator-sql.mjs";
import { EVENT_TYPES } from "../../src/events/catalogue";
import { call, createInvite, newMember, newTenant, PASSWORD } from "../helpers";
import { createWebhook, eventRows, receivedUntil, verifyWith } from "../webhook-helpers";

describe("guarantee: no secret in any event or webhook body", () => {
  it("every event written by the API, as stored, as listed and as delivered", async () => {
    const owner = await newTenant("payloads");
    const hook = await createWebhook(owner); // every type
    const member = await newMember(owner, "Admin");
    const bound = await createInvite(owner.token, { email: `bound-${crypto.randomUUID()}@example.test` });
    const renewed = await call("POST", `/api/v1/invites/${bound.id}/renew`, { token: owner.token, body: {} });
    await call("DELETE", `/api/v1/invites/${bound.id}`, { token: owner.token });
    const rotated = await call("POST", `/api/v1/webhooks/${hook.id}/rotate-secret`, { token: owner.token });
    await call("PATCH", `/api/v1/webhooks/${hook.id}`, { token: owner.token, body: { events: null } });
    // memberships: accept by an existing account, role and status changes, removal, leaving
    const outsider = await newTenant("payloads-outsider");
    const joinable = await createInvite(owner.token, { role: "Developer" });
    expect((await call("POST", `/api/v1/invites/${joinable.token}/accept`, { token: outsider.token })).status).toBe(201);
    await call("PATCH", `/api/v1/users/${outsider.userId}`, { token: owner.token, body: { role: "Viewer", status: "Inactive" } });
    await call("PATCH", `/api/v1/users/${outsider.userId}`, { token: owner.token, body: { status: "Active" } });
    expect((await call("DELETE", `/api/v1/users/${outsider.userId}`, { token: owner.token })).status).toBe(204);
    expect((await call("DELETE", "/api/v1/users/me", { token: member.token })).status).toBe(204);
    // links and policies: tenant settings, a bulk create (an event per invite), a multi-use link redeemed twice
    expect((await call("PATCH", "/api/v1/tenants/current", { token: owner.token, body: { invitePolicy: "Members", redirectOrigins: ["https://app.payloads.test"] } })).status).toBe(200);
    const bulk = await call("POST", "/api/v1/invites/bulk", {
      token: owner.token,
      body: { invites: [{ email: `bulk-${crypto.randomUUID()}@example.test` }, { maxUses: 3, allowedDomains: ["example.test"], redirectUrl: "https://app.payloads.test/in" }] },
    });
    expect(bulk.status, bulk.text).toBe(201);
    for (let i = 0; i < 2; i++) {
      const redeemed = await call("POST", `/api/v1/invites/${bulk.body.items[1].token}/register`, { body: { email: `link-${crypto.randomUUID()}@example.test`, password: PASSWORD } });
      expect(redeemed.status, redeemed.text).toBe(201);
    }
    // the platform operator's views (the owner made one with the statement `npm run operator -- grant` runs)
    await env.DB.prepare(operatorStatement("grant", owner.email)).run();
    expect((await call("GET", `/api/v1/operator/invites?TenantId=${owner.tenantId}`, { token: owner.token })).status).toBe(200);
    expect((await call("GET", "/api/v1/operator/tenants", { token: owner.token })).status).toBe(200);
    const other = await createWebhook(owner, { url: "https://hooks.example.com/other?token=receiver-own-credential" });
    await call("DELETE", `/api/v1/webhooks/${other.id}`, { token: owner.token });

    const events = await eventRows(owner.tenantId);
    const types = new Set(events.map((e) => e.type));
    for (const type of types) expect(EVENT_TYPES).toContain(type);
    // every type the API writes today (invite.resent and invite.delivery_failed belong to the email work)
    for (const type of EVENT_TYPES.filter((t) => !["invite.resent", "invite.delivery_failed", "webhook.disabled"].includes(t))) expect(types).toContain(type);
    console.log(`event payloads: ${events.length} events of ${types.size} types checked: ${[...types].join(", ")}`);

    // Every event reaches the all-types endpoint through the real Queue (the receiver outside the Worker answers 204).
    const expectedAtHook = events.filter((e) => e.id >= events.find((x) => x.type === "webhook.created")!.id).length;
    const delivered = await receivedUntil(hook.url, expectedAtHook);
    for (const request of delivered) {
      // signed with the secret current at the time (before or after the rotation)
      let verified = false;
      for (const secret of [hook.secret, rotated.body.secret]) {
        try {
          verifyWith(secret, request);
          verified = true;
        } catch {
          // the other secret
        }
      }
      expect(verified).toBe(true);
    }

    const listed = await call("GET", "/api/v1/events?Qt=100", { token: owner.token });
    const haystacks = [JSON.stringify(events), listed.text, JSON.stringify(delivered.map((r) => r.body))];
    const needles = [
      "inv_",
      "rt_",
      "whsec_",
      PASSWORD,
      owner.refreshToken,
      member.refreshToken,
      outsider.refreshToken,
      joinable.token,
      bound.token,
      renewed.body.token,
      bulk.body.items[0].token,
      bulk.body.items[1].token,
      hook.secret,
      rotated.body.secret,
      other.secret,
      "hooks.example.com",
      "receiver-own-credential",
    ];
    for (const haystack of haystacks) for (const needle of needles) expect(haystack.includes(needle), `found ${needle.slice(0, 12)}…`).toBe(false);
    // and the stored rows are only what the catalogue says: no stray columns to leak through
    const columns = Object.keys((await env.DB.prepare("SELECT * FROM events LIMIT 1").first()) ?? {});
    expect(columns.sort()).toEqual(["actor_id", "actor_type", "data", "id", "occurred_at", "tenant_id", "type"]);
  });
});
