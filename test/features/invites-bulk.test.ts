import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { envWith, headers, ORIGIN } from "../d1-spy";
import { call, createInvite, expectError, newMember, newTenant, uniqueEmail, type Session } from "../helpers";
import { eventRows } from "../webhook-helpers";

const bulk = (session: Session, invites: unknown, token = session.token) => call("POST", "/api/v1/invites/bulk", { token, body: { invites } });
const rows = async (tenantId: string) => {
  const counted = await env.DB.prepare("SELECT COUNT(*) AS n FROM invites WHERE tenant_id = ?").bind(tenantId).first<{ n: number }>();
  const kept = await env.DB.prepare("SELECT invite_count AS n FROM tenants WHERE id = ?").bind(tenantId).first<{ n: number }>();
  expect(kept!.n, "trigger-kept count agrees").toBe(counted!.n);
  return counted!.n;
};

describe("POST /api/v1/invites/bulk", () => {
  it("201: every invite, in request order, each with its token and options", async () => {
    const owner = await newTenant();
    const email = uniqueEmail("bulk");
    const response = await bulk(owner, [{ role: "Viewer" }, { email, validityDays: 3 }, { maxUses: 20, allowedDomains: ["acme.com"] }]);
    expect(response.status, response.text).toBe(201);
    expect(Object.keys(response.body)).toEqual(["items"]);
    expect(response.body.items).toHaveLength(3);
    expect(response.body.items[0]).toMatchObject({ targetRole: "Viewer", status: "Pending", token: expect.stringMatching(/^inv_/) });
    expect(response.body.items[1]).toMatchObject({ email, targetRole: "Developer" });
    expect(response.body.items[2]).toMatchObject({ maxUses: 20, allowedDomains: ["acme.com"] });
    expect(await rows(owner.tenantId)).toBe(3);
    const preview = await call("GET", `/api/v1/invites/${response.body.items[1].token}`);
    expect(preview.status).toBe(200);
  });

  it("400 VALIDATION_ERROR naming each invalid item's fields; nothing is written", async () => {
    const owner = await newTenant();
    const error = expectError(await bulk(owner, [{}, { validityDays: 0 }, { role: "Owner", maxUses: 0 }, "nope"]), 400, "VALIDATION_ERROR");
    expect(error.details.items).toHaveLength(4);
    expect(error.details.items[0]).toBeNull();
    expect(Object.keys(error.details.items[1].fields)).toEqual(["validityDays"]);
    expect(Object.keys(error.details.items[2].fields).sort()).toEqual(["maxUses", "role"]);
    expect(error.details.items[3].fields).toHaveProperty("_");
    expect(await rows(owner.tenantId)).toBe(0);
  });

  it.each([
    [{}, "invites"],
    [{ invites: [] }, "invites"],
    [{ invites: {} }, "invites"],
    [{ invites: Array.from({ length: 101 }, () => ({})) }, "invites"],
  ])("400 VALIDATION_ERROR for the envelope %#", async (body, field) => {
    const owner = await newTenant();
    const error = expectError(await call("POST", "/api/v1/invites/bulk", { token: owner.token, body }), 400, "VALIDATION_ERROR");
    expect(Object.keys(error.details.fields)).toEqual([field]);
  });

  it("400 REDIRECT_NOT_ALLOWED with the item's field; nothing is written", async () => {
    const owner = await newTenant();
    await call("PATCH", "/api/v1/tenants/current", { token: owner.token, body: { redirectOrigins: ["https://app.initech.test"] } });
    const error = expectError(
      await bulk(owner, [{ redirectUrl: "https://app.initech.test/ok" }, { redirectUrl: "https://evil.test/" }]),
      400,
      "REDIRECT_NOT_ALLOWED",
    );
    expect(error.details.items[0]).toBeNull();
    expect(error.details.items[1]).toMatchObject({ code: "REDIRECT_NOT_ALLOWED", fields: { redirectUrl: expect.any(Array) } });
    expect(await rows(owner.tenantId)).toBe(0);
  });

  it("403 ROLE_NOT_ASSIGNABLE per item for an Admin inviting Admins; 403 FORBIDDEN for a Viewer; 401 without a token", async () => {
    const owner = await newTenant();
    const admin = await newMember(owner, "Admin");
    const viewer = await newMember(owner, "Viewer");
    const before = await rows(owner.tenantId);
    const error = expectError(await bulk(admin, [{ role: "Developer" }, { role: "Admin" }]), 403, "ROLE_NOT_ASSIGNABLE");
    expect(error.details.items).toEqual([null, { code: "ROLE_NOT_ASSIGNABLE", message: expect.any(String) }]);
    expectError(await bulk(viewer, [{}]), 403, "FORBIDDEN");
    expectError(await call("POST", "/api/v1/invites/bulk", { body: { invites: [{}] } }), 401, "UNAUTHORIZED");
    expect(await rows(owner.tenantId)).toBe(before);
  });

  it("409 INVITE_PENDING_FOR_EMAIL per item — a pending invite, or the same email twice in the request — and nothing is written", async () => {
    const owner = await newTenant();
    const pending = uniqueEmail("pending");
    await createInvite(owner.token, { email: pending });
    const twice = uniqueEmail("twice");
    const error = expectError(await bulk(owner, [{}, { email: pending }, { email: twice }, { email: twice.toUpperCase() }]), 409, "INVITE_PENDING_FOR_EMAIL");
    expect(error.details.items.map((item: { code: string } | null) => item?.code ?? null)).toEqual([null, "INVITE_PENDING_FOR_EMAIL", null, "INVITE_PENDING_FOR_EMAIL"]);
    expect(await rows(owner.tenantId)).toBe(1);
  });

  it("409 INVITE_QUOTA_EXCEEDED for the items beyond the quota; nothing is written", async () => {
    const owner = await newTenant();
    for (let i = 0; i < 3; i++) await createInvite(owner.token);
    const response = await app.request(
      `${ORIGIN}/api/v1/invites/bulk`,
      { method: "POST", headers: headers({ Authorization: `Bearer ${owner.token}`, "Content-Type": "application/json" }), body: JSON.stringify({ invites: [{}, {}, {}] }) },
      envWith({ MAX_PENDING_INVITES_PER_TENANT: "5" }),
    );
    const text = await response.text();
    const error = expectError({ status: response.status, headers: response.headers, body: JSON.parse(text), text }, 409, "INVITE_QUOTA_EXCEEDED");
    expect(error.details.items.map((item: { code: string } | null) => item?.code ?? null)).toEqual([null, null, "INVITE_QUOTA_EXCEEDED"]);
    expect(await rows(owner.tenantId)).toBe(3);
  });

  it("two concurrent bulks claiming one email: exactly one is written, whole", async () => {
    const owner = await newTenant();
    const email = uniqueEmail("race");
    const [a, b] = await Promise.all([bulk(owner, [{}, { email }, {}]), bulk(owner, [{ email }, {}])]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
    const winner = a.status === 201 ? a : b;
    expect(await rows(owner.tenantId)).toBe(winner.body.items.length);
  });

  it("bodies up to 256 KiB (100 invites with metadata); 413 above", async () => {
    const owner = await newTenant();
    const big = Array.from({ length: 100 }, (_, i) => ({ publicMetadata: { i, pad: "p".repeat(1000) } }));
    const response = await bulk(owner, big);
    expect(response.status, response.text.slice(0, 300)).toBe(201);
    expect(response.body.items).toHaveLength(100);
    const tooBig = Array.from({ length: 100 }, () => ({ publicMetadata: { pad: "p".repeat(2700) } }));
    expectError(await bulk(owner, tooBig), 413, "PAYLOAD_TOO_LARGE");
    // the single-create route keeps its 16 KiB limit
    expectError(await call("POST", "/api/v1/invites", { token: owner.token, body: { pad: "p".repeat(17_000) } }), 413, "PAYLOAD_TOO_LARGE");
  });
});

describe("POST /api/v1/invites/bulk: mail, events and the create limit", () => {
  it("each bound item gets its mail job in the same batch (delivery Queued), links none (NotRequested); each invite its own invite.created event", async () => {
    const owner = await newTenant();
    const emails = [uniqueEmail("bulk-mail"), uniqueEmail("bulk-mail")];
    const response = await bulk(owner, [{ email: emails[0] }, { maxUses: 10 }, { email: emails[1], locale: "pt-BR" }, { email: uniqueEmail("quiet"), notify: false }, { allowedDomains: ["acme.test"] }]);
    expect(response.status, response.text).toBe(201);
    const items = response.body.items as Array<{ id: string; delivery: { status: string } }>;
    expect(items.map((item) => item.delivery.status)).toEqual(["Queued", "NotRequested", "Queued", "NotRequested", "NotRequested"]);
    const jobs = await env.DB.prepare("SELECT subject_id, recipient, locale, payload FROM mail_outbox WHERE subject_id IN (SELECT id FROM invites WHERE tenant_id = ?) ORDER BY recipient")
      .bind(owner.tenantId)
      .all<{ subject_id: string; recipient: string; locale: string; payload: string }>();
    expect(jobs.results.map((job) => [job.subject_id, job.recipient, job.locale]).sort()).toEqual(
      [
        [items[0]!.id, emails[0], "en"],
        [items[2]!.id, emails[1], "pt-BR"],
      ].sort(),
    );
    for (const job of jobs.results) expect(JSON.parse(job.payload)).toEqual({ inviterEmail: owner.email });
    const created = await eventRows(owner.tenantId, "invite.created");
    expect(created.map((event) => event.data.inviteId).sort()).toEqual(items.map((item) => item.id).sort());
  });

  it("a refused bulk writes no invite, no event and no mail job", async () => {
    const owner = await newTenant();
    const taken = uniqueEmail("taken");
    await createInvite(owner.token, { email: taken });
    const before = { events: (await eventRows(owner.tenantId)).length };
    expectError(await bulk(owner, [{ email: uniqueEmail("fresh") }, { email: taken }]), 409, "INVITE_PENDING_FOR_EMAIL");
    expect(await rows(owner.tenantId)).toBe(1);
    expect((await eventRows(owner.tenantId)).length).toBe(before.events);
    const jobs = await env.DB.prepare("SELECT COUNT(*) AS n FROM mail_outbox WHERE subject_id IN (SELECT id FROM invites WHERE tenant_id = ?)").bind(owner.tenantId).first<{ n: number }>();
    expect(jobs!.n).toBe(1);
  });

  it("the tenant's create limit counts every invite of a bulk: at a limit of 10, 6 then 5 (429, nothing written) then 4, then a single create is 429", async () => {
    const owner = await newTenant();
    const vars = { INVITE_CREATE_LIMIT_PER_HOUR: "10" };
    const send = (count: number) => call("POST", "/api/v1/invites/bulk", { vars, token: owner.token, body: { invites: Array.from({ length: count }, () => ({})) } });
    const first = await send(6);
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get("RateLimit")).toMatch(/"invite-create";r=4;/);
    const refused = await send(5);
    expectError(refused, 429, "RATE_LIMITED");
    expect(refused.headers.get("Retry-After")).toMatch(/^\d+$/);
    expect(await rows(owner.tenantId)).toBe(6);
    expect((await send(4)).status).toBe(201);
    expectError(await call("POST", "/api/v1/invites", { vars, token: owner.token, body: {} }), 429, "RATE_LIMITED");
    expect(await rows(owner.tenantId)).toBe(10);
  });

  it("a caller the batch refuses (a Developer under AdminsOnly) gives the slots back", async () => {
    const owner = await newTenant();
    const developer = await newMember(owner, "Developer");
    const vars = { INVITE_CREATE_LIMIT_PER_HOUR: "10" };
    for (let i = 0; i < 3; i++) expectError(await call("POST", "/api/v1/invites/bulk", { vars, token: developer.token, body: { invites: Array.from({ length: 8 }, () => ({})) } }), 403, "FORBIDDEN");
    const allowed = await call("POST", "/api/v1/invites/bulk", { vars, token: owner.token, body: { invites: Array.from({ length: 9 }, () => ({})) } });
    expect(allowed.status, allowed.text).toBe(201);
  });
});
