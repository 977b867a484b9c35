import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { checkWebhookUrl, MAX_WEBHOOKS_PER_TENANT } from "../../src/features/webhooks/service";
import { BASE, call, expectError, newMember, newTenant, randomIp } from "../helpers";
import { createWebhook, eventRows } from "../webhook-helpers";

const WEBHOOK_KEYS = ["id", "url", "events", "enabled", "disabledAt", "disabledReason", "failingSince", "previousSecretExpiresAt", "createdAt", "updatedAt"];

describe("POST /api/v1/webhooks", () => {
  it("201: the endpoint, a Location, and its whsec_ secret shown once (never again, never stored in clear)", async () => {
    const owner = await newTenant();
    const response = await call("POST", "/api/v1/webhooks", { token: owner.token, body: { url: "https://hooks.example.com/in", events: ["member.added", "invite.accepted", "member.added"] } });
    expect(response.status, response.text).toBe(201);
    expect(Object.keys(response.body)).toEqual([...WEBHOOK_KEYS, "secret"]);
    expect(response.body).toMatchObject({ url: "https://hooks.example.com/in", events: ["invite.accepted", "member.added"], enabled: true, failingSince: null, previousSecretExpiresAt: null });
    expect(response.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(response.headers.get("Location")).toBe(`/api/v1/webhooks/${response.body.id}`);

    const again = await call("GET", `/api/v1/webhooks/${response.body.id}`, { token: owner.token });
    expect(again.status).toBe(200);
    expect(Object.keys(again.body)).toEqual(WEBHOOK_KEYS);
    expect(again.text).not.toContain("whsec_");
    const stored = await env.DB.prepare("SELECT * FROM webhook_endpoints WHERE id = ?").bind(response.body.id).first();
    expect(JSON.stringify(stored)).not.toContain(response.body.secret.slice(6, 30));

    const [event] = await eventRows(owner.tenantId, "webhook.created");
    expect(event).toMatchObject({ actor_type: "user", actor_id: owner.userId, data: { webhookId: response.body.id, events: ["invite.accepted", "member.added"], enabled: true } });
    expect(event!.data).not.toHaveProperty("url");
  });

  it("events omitted or null = every type", async () => {
    const owner = await newTenant();
    expect((await createWebhook(owner)).events).toBeNull();
    expect((await createWebhook(owner, { events: null })).events).toBeNull();
  });

  it("400 for unknown event types, an empty list, a missing url", async () => {
    const owner = await newTenant();
    const unknown = expectError(await call("POST", "/api/v1/webhooks", { token: owner.token, body: { url: "https://hooks.example.com/a", events: ["invite.exploded"] } }), 400, "VALIDATION_ERROR");
    expect(JSON.stringify(unknown.details)).toContain("invite.exploded");
    expectError(await call("POST", "/api/v1/webhooks", { token: owner.token, body: { url: "https://hooks.example.com/a", events: [] } }), 400, "VALIDATION_ERROR");
    expectError(await call("POST", "/api/v1/webhooks", { token: owner.token, body: {} }), 400, "VALIDATION_ERROR");
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE tenant_id = ?").bind(owner.tenantId).first("n")).toBe(0);
  });

  it.each([
    ["http://hooks.example.com/a", "must be https:"],
    ["https://user:pass@hooks.example.com/a", "credentials"],
    ["https://hooks.example.com/a#frag", "fragment"],
    ["https://10.0.0.8/hook", "IP address"],
    ["https://[fd00::1]/hook", "IP address"],
    ["https://2130706433/hook", "IP address"],
    ["https://localhost/hook", "public host name"],
    ["https://metadata.internal/hook", "public host name"],
    ["https://intranet/hook", "public host name"],
    ["http://localhost:9999/hook", "must be https:"],
    ["http://127.0.0.1:9999/hook", "must be https:"],
    ["ftp://hooks.example.com/", "must be https:"],
    ["not a url", "absolute URL"],
  ])("400 for %s (%s) without ALLOW_LOCAL_WEBHOOKS", async (url, why) => {
    const owner = await newTenant();
    const error = expectError(await call("POST", "/api/v1/webhooks", { token: owner.token, body: { url } }), 400, "VALIDATION_ERROR");
    expect(JSON.stringify(error.details.fields.url)).toContain(why);
  });

  it('with ALLOW_LOCAL_WEBHOOKS = "1" (npm run dev): plain http to localhost / 127.0.0.1 / [::1] only', () => {
    expect(checkWebhookUrl("http://localhost:9999/hook", true)).toBe("http://localhost:9999/hook");
    expect(checkWebhookUrl("http://127.0.0.1:9999/hook", true)).toBe("http://127.0.0.1:9999/hook");
    expect(checkWebhookUrl("http://[::1]:9999/hook", true)).toBe("http://[::1]:9999/hook");
    expect(() => checkWebhookUrl("http://hooks.example.com/a", true)).toThrow();
    expect(() => checkWebhookUrl("http://10.1.2.3/a", true)).toThrow();
    expect(() => checkWebhookUrl("http://user:pw@localhost/a", true)).toThrow();
  });

  it("ALLOW_LOCAL_WEBHOOKS must be exactly \"1\" on the live route too", async () => {
    const owner = await newTenant();
    const send = (value: string | undefined) =>
      app.fetch(
        new Request(`${BASE}/api/v1/webhooks`, {
          method: "POST",
          headers: { Authorization: `Bearer ${owner.token}`, "Content-Type": "application/json", "CF-Connecting-IP": randomIp() },
          body: JSON.stringify({ url: "http://127.0.0.1:9/hook" }),
        }),
        { ...env, ALLOW_LOCAL_WEBHOOKS: value },
      );
    expect((await send("1")).status).toBe(201);
    for (const value of [undefined, "0", "true", ""]) expect((await send(value)).status, String(value)).toBe(400);
  });

  it(`409 WEBHOOK_LIMIT_REACHED beyond ${MAX_WEBHOOKS_PER_TENANT}, also for concurrent creates`, async () => {
    const owner = await newTenant();
    const responses = await Promise.all(
      Array.from({ length: MAX_WEBHOOKS_PER_TENANT + 5 }, () => call("POST", "/api/v1/webhooks", { token: owner.token, body: { url: "https://hooks.example.com/many" } })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(MAX_WEBHOOKS_PER_TENANT);
    for (const refused of responses.filter((r) => r.status !== 201)) expectError(refused, 409, "WEBHOOK_LIMIT_REACHED");
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE tenant_id = ?").bind(owner.tenantId).first("n")).toBe(MAX_WEBHOOKS_PER_TENANT);
    // no event for a refused create
    expect(await eventRows(owner.tenantId, "webhook.created")).toHaveLength(MAX_WEBHOOKS_PER_TENANT);
  });

  it("401 without a token; 413; 415", async () => {
    const owner = await newTenant();
    expectError(await call("POST", "/api/v1/webhooks", { body: { url: "https://hooks.example.com/a" } }), 401, "UNAUTHORIZED");
    expectError(await call("POST", "/api/v1/webhooks", { token: owner.token, body: { url: `https://hooks.example.com/${"a".repeat(17_000)}` } }), 413, "PAYLOAD_TOO_LARGE");
    expectError(await call("POST", "/api/v1/webhooks", { token: owner.token, rawBody: "url=x", headers: { "Content-Type": "text/plain" } }), 415, "UNSUPPORTED_MEDIA_TYPE");
  });
});

describe("Owner only: every webhook route", () => {
  it.each(["Admin", "Developer", "Viewer"] as const)("403 for an %s, with no effect", async (role) => {
    const owner = await newTenant();
    const hook = await createWebhook(owner);
    const member = await newMember(owner, role);
    const [delivery] = (await env.DB.prepare("SELECT id FROM webhook_deliveries WHERE endpoint_id = ?").bind(hook.id).all<{ id: string }>()).results;
    // Its configuration (the failure record may move: the Queue consumer delivers webhook.created in the background).
    const config = () => env.DB.prepare("SELECT url, event_types, enabled, secret_ciphertext, previous_secret_ciphertext, updated_at FROM webhook_endpoints WHERE id = ?").bind(hook.id).first();
    const before = JSON.stringify(await config());
    const routes: Array<[string, string, unknown?]> = [
      ["POST", "/api/v1/webhooks", { url: "https://hooks.example.com/x" }],
      ["GET", "/api/v1/webhooks"],
      ["GET", `/api/v1/webhooks/${hook.id}`],
      ["PATCH", `/api/v1/webhooks/${hook.id}`, { enabled: false }],
      ["DELETE", `/api/v1/webhooks/${hook.id}`],
      ["POST", `/api/v1/webhooks/${hook.id}/rotate-secret`],
      ["GET", `/api/v1/webhooks/${hook.id}/deliveries`],
      ["POST", `/api/v1/webhooks/${hook.id}/deliveries/${delivery!.id}/redeliver`],
    ];
    for (const [method, path, body] of routes) expectError(await call(method, path, { token: member.token, body }), 403, "FORBIDDEN");
    expect(JSON.stringify(await config())).toBe(before);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE tenant_id = ?").bind(owner.tenantId).first("n")).toBe(1);
    expect(await eventRows(owner.tenantId, "webhook.updated")).toEqual([]);
  });
});

describe("GET /api/v1/webhooks and /webhooks/{id}", () => {
  it("lists the tenant's endpoints, newest first, never another tenant's and never a secret", async () => {
    const owner = await newTenant();
    const other = await newTenant();
    const a = await createWebhook(owner);
    const b = await createWebhook(owner, { events: ["invite.created"] });
    await createWebhook(other);
    const response = await call("GET", "/api/v1/webhooks", { token: owner.token });
    expect(response.status).toBe(200);
    expect(response.body.items.map((w: { id: string }) => w.id)).toEqual([b.id, a.id]);
    expect(response.text).not.toContain("whsec_");
  });

  it("404 WEBHOOK_NOT_FOUND for an unknown, malformed or other tenant's id, on every id route", async () => {
    const owner = await newTenant();
    const other = await newTenant();
    const foreign = await createWebhook(other);
    const config = () => env.DB.prepare("SELECT url, event_types, enabled, secret_ciphertext, previous_secret_ciphertext, updated_at FROM webhook_endpoints WHERE id = ?").bind(foreign.id).first();
    const foreignBefore = JSON.stringify(await config());
    for (const id of [foreign.id, crypto.randomUUID(), "not-a-uuid"]) {
      expectError(await call("GET", `/api/v1/webhooks/${id}`, { token: owner.token }), 404, "WEBHOOK_NOT_FOUND");
      expectError(await call("PATCH", `/api/v1/webhooks/${id}`, { token: owner.token, body: { enabled: false } }), 404, "WEBHOOK_NOT_FOUND");
      expectError(await call("DELETE", `/api/v1/webhooks/${id}`, { token: owner.token }), 404, "WEBHOOK_NOT_FOUND");
      expectError(await call("POST", `/api/v1/webhooks/${id}/rotate-secret`, { token: owner.token }), 404, "WEBHOOK_NOT_FOUND");
      expectError(await call("GET", `/api/v1/webhooks/${id}/deliveries`, { token: owner.token }), 404, "WEBHOOK_NOT_FOUND");
      expectError(await call("POST", `/api/v1/webhooks/${id}/deliveries/${crypto.randomUUID()}/redeliver`, { token: owner.token }), 404, "WEBHOOK_NOT_FOUND");
    }
    expect(JSON.stringify(await config())).toBe(foreignBefore);
    expect((await eventRows(owner.tenantId)).filter((e) => e.type.startsWith("webhook."))).toEqual([]);
  });

  it("404 TENANT_NOT_FOUND once the caller's tenant is gone", async () => {
    const owner = await newTenant();
    await env.DB.prepare("DELETE FROM tenants WHERE id = ?").bind(owner.tenantId).run();
    expectError(await call("GET", "/api/v1/webhooks", { token: owner.token }), 404, "TENANT_NOT_FOUND");
  });
});

describe("PATCH /api/v1/webhooks/{id}", () => {
  it("changes url, events and enabled; writes webhook.updated with the changed fields", async () => {
    const owner = await newTenant();
    const hook = await createWebhook(owner);
    const response = await call("PATCH", `/api/v1/webhooks/${hook.id}`, { token: owner.token, body: { url: "https://hooks.example.com/v2", events: ["member.removed"] } });
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({ id: hook.id, url: "https://hooks.example.com/v2", events: ["member.removed"], enabled: true });
    const disabled = await call("PATCH", `/api/v1/webhooks/${hook.id}`, { token: owner.token, body: { enabled: false } });
    expect(disabled.body).toMatchObject({ enabled: false, disabledReason: null });
    expect(disabled.body.disabledAt).not.toBeNull();
    const enabled = await call("PATCH", `/api/v1/webhooks/${hook.id}`, { token: owner.token, body: { enabled: true, events: null } });
    expect(enabled.body).toMatchObject({ enabled: true, disabledAt: null, events: null });
    const updates = await eventRows(owner.tenantId, "webhook.updated");
    expect(updates.map((e) => e.data.changed)).toEqual([["url", "events"], ["enabled"], ["events", "enabled"]]);
  });

  it("re-enabling clears the failure record; disabling cancels pending attempts", async () => {
    const owner = await newTenant();
    const hook = await createWebhook(owner);
    await env.DB.prepare("UPDATE webhook_endpoints SET enabled = 0, failing_since = 1, disabled_at = 2, disabled_reason = 'failing' WHERE id = ?").bind(hook.id).run();
    const response = await call("PATCH", `/api/v1/webhooks/${hook.id}`, { token: owner.token, body: { enabled: true } });
    expect(response.body).toMatchObject({ enabled: true, failingSince: null, disabledAt: null, disabledReason: null });
    await env.DB.prepare("UPDATE webhook_deliveries SET status = 'Pending' WHERE endpoint_id = ?").bind(hook.id).run();
    await call("PATCH", `/api/v1/webhooks/${hook.id}`, { token: owner.token, body: { enabled: false } });
    const statuses = (await env.DB.prepare("SELECT status FROM webhook_deliveries WHERE endpoint_id = ?").bind(hook.id).all<{ status: string }>()).results;
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((row) => row.status === "Cancelled")).toBe(true);
  });

  it("400 for an empty change or a refused url, nothing written", async () => {
    const owner = await newTenant();
    const hook = await createWebhook(owner);
    expectError(await call("PATCH", `/api/v1/webhooks/${hook.id}`, { token: owner.token, body: {} }), 400, "VALIDATION_ERROR");
    expectError(await call("PATCH", `/api/v1/webhooks/${hook.id}`, { token: owner.token, body: { url: "http://hooks.example.com" } }), 400, "VALIDATION_ERROR");
    expect(await eventRows(owner.tenantId, "webhook.updated")).toEqual([]);
  });
});

describe("DELETE /api/v1/webhooks/{id}", () => {
  it("204 removes it and its delivery log; webhook.deleted goes to the other endpoints, not to itself; then 404", async () => {
    const owner = await newTenant();
    const doomed = await createWebhook(owner);
    const survivor = await createWebhook(owner);
    const response = await SELF.fetch(`${BASE}/api/v1/webhooks/${doomed.id}`, { method: "DELETE", headers: { Authorization: `Bearer ${owner.token}`, "CF-Connecting-IP": randomIp() } });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE endpoint_id = ?").bind(doomed.id).first("n")).toBe(0);
    const [deleted] = await eventRows(owner.tenantId, "webhook.deleted");
    expect(deleted!.data).toEqual({ webhookId: doomed.id });
    const fanned = await env.DB.prepare("SELECT endpoint_id FROM webhook_deliveries WHERE event_id = ?").bind(deleted!.id).all<{ endpoint_id: string }>();
    expect(fanned.results.map((r) => r.endpoint_id)).toEqual([survivor.id]);
    expectError(await call("DELETE", `/api/v1/webhooks/${doomed.id}`, { token: owner.token }), 404, "WEBHOOK_NOT_FOUND");
  });
});

describe("POST /api/v1/webhooks/{id}/rotate-secret", () => {
  it("200 with a new secret; the old one signs for 24 hours more (webhook.secret_rotated)", async () => {
    const owner = await newTenant();
    const hook = await createWebhook(owner);
    const before = Date.now();
    const response = await call("POST", `/api/v1/webhooks/${hook.id}/rotate-secret`, { token: owner.token });
    expect(response.status, response.text).toBe(200);
    expect(response.body.secret).toMatch(/^whsec_/);
    expect(response.body.secret).not.toBe(hook.secret);
    const overlapEnd = Date.parse(response.body.previousSecretExpiresAt);
    expect(overlapEnd - before).toBeGreaterThanOrEqual(24 * 3600_000);
    expect(overlapEnd - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
    const [event] = await eventRows(owner.tenantId, "webhook.secret_rotated");
    expect(event!.data).toEqual({ webhookId: hook.id, previousSecretExpiresAt: response.body.previousSecretExpiresAt });
    expect(JSON.stringify(event)).not.toContain("whsec_");
  });
});

describe("OpenAPI", () => {
  it("documents the event payloads: one Event_* and WebhookPayload_* schema per type, and the receiver's side under `webhooks`", async () => {
    const response = await call("GET", "/openapi.json");
    const doc = response.body as { webhooks?: Record<string, Record<string, { requestBody?: unknown }>>; components: { schemas: Record<string, unknown> } };
    expect(doc.webhooks?.event?.post?.requestBody).toBeDefined();
    for (const type of ["invite.created", "invite.accepted", "member.added", "member.removed", "webhook.disabled"]) {
      expect(doc.components.schemas).toHaveProperty(`Event_${type.replace(".", "_")}`);
      expect(doc.components.schemas).toHaveProperty(`WebhookPayload_${type.replace(".", "_")}`);
    }
  });
});
