import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { loadConfig } from "../../src/env";
import { envWith, headers, ORIGIN } from "../d1-spy";
import { expectError, newTenant, register, uniqueEmail, type ApiResponse, type Session } from "../helpers";

const QUOTA = 5;
const quotaEnv = envWith({ MAX_PENDING_INVITES_PER_TENANT: String(QUOTA) });

async function create(owner: Session, body: Record<string, unknown> = {}): Promise<ApiResponse> {
  const response = await app.request(
    `${ORIGIN}/api/v1/invites`,
    { method: "POST", headers: headers({ Authorization: `Bearer ${owner.token}`, "Content-Type": "application/json" }), body: JSON.stringify(body) },
    quotaEnv,
  );
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text), text };
}

const pendingCount = async (tenantId: string) =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM invites WHERE tenant_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?")
    .bind(tenantId, Date.now())
    .first<{ n: number }>())!.n;

describe("MAX_PENDING_INVITES_PER_TENANT", () => {
  it("defaults to 1000 (wrangler.toml)", () => {
    expect(loadConfig(env).maxPendingInvitesPerTenant).toBe(1000);
  });

  it("12 concurrent creates against a quota of 5: exactly 5 × 201, 7 × 409 INVITE_QUOTA_EXCEEDED, 5 rows", async () => {
    const owner = await newTenant();
    const responses = await Promise.all(Array.from({ length: 12 }, (_, i) => create(owner, i % 2 ? {} : { email: uniqueEmail("q") })));
    const created = responses.filter((response) => response.status === 201);
    expect(created).toHaveLength(QUOTA);
    for (const refused of responses.filter((response) => response.status !== 201)) expectError(refused, 409, "INVITE_QUOTA_EXCEEDED");
    expect(await pendingCount(owner.tenantId)).toBe(QUOTA);
    const { n } = (await env.DB.prepare("SELECT COUNT(*) AS n FROM invites WHERE tenant_id = ?").bind(owner.tenantId).first<{ n: number }>())!;
    expect(n).toBe(QUOTA);
  });

  it("only Pending invites count: a used, revoked or expired one frees its slot", async () => {
    const owner = await newTenant();
    const invites = [];
    for (let i = 0; i < QUOTA; i++) invites.push((await create(owner)).body);
    expectError(await create(owner), 409, "INVITE_QUOTA_EXCEEDED");

    expect((await register(invites[0].token)).status).toBe(201);
    expect((await create(owner)).status).toBe(201);
    expectError(await create(owner), 409, "INVITE_QUOTA_EXCEEDED");

    const revoked = await app.request(`${ORIGIN}/api/v1/invites/${invites[1].id}`, { method: "DELETE", headers: headers({ Authorization: `Bearer ${owner.token}` }) }, quotaEnv);
    expect(revoked.status).toBe(204);
    expect((await create(owner)).status).toBe(201);

    await env.DB.prepare("UPDATE invites SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, invites[2].id).run();
    expect((await create(owner)).status).toBe(201);
    expectError(await create(owner), 409, "INVITE_QUOTA_EXCEEDED");
    expect(await pendingCount(owner.tenantId)).toBe(QUOTA);
  });

  it("a bound invite at the quota is INVITE_QUOTA_EXCEEDED, a second one for a pending email stays INVITE_PENDING_FOR_EMAIL", async () => {
    const owner = await newTenant();
    const email = uniqueEmail("bound");
    expect((await create(owner, { email })).status).toBe(201);
    for (let i = 1; i < QUOTA; i++) expect((await create(owner)).status).toBe(201);
    expectError(await create(owner, { email: uniqueEmail("other") }), 409, "INVITE_QUOTA_EXCEEDED");
    expectError(await create(owner, { email }), 409, "INVITE_PENDING_FOR_EMAIL");
  });

  it("renewing an expired invite needs a free slot (409 INVITE_QUOTA_EXCEEDED), renewing a Pending one does not", async () => {
    const owner = await newTenant();
    const first = (await create(owner)).body;
    for (let i = 1; i < QUOTA; i++) expect((await create(owner)).status).toBe(201);
    const renew = (id: string) =>
      app.request(
        `${ORIGIN}/api/v1/invites/${id}/renew`,
        { method: "POST", headers: headers({ Authorization: `Bearer ${owner.token}`, "Content-Type": "application/json" }), body: "{}" },
        quotaEnv,
      );
    expect((await renew(first.id)).status).toBe(200);
    await env.DB.prepare("UPDATE invites SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, first.id).run();
    expect((await create(owner)).status).toBe(201);
    const refused = await renew(first.id);
    const text = await refused.text();
    expectError({ status: refused.status, headers: refused.headers, body: JSON.parse(text), text }, 409, "INVITE_QUOTA_EXCEEDED");
    expect(await pendingCount(owner.tenantId)).toBe(QUOTA);
  });

  it("the quota is per tenant", async () => {
    const full = await newTenant();
    for (let i = 0; i < QUOTA; i++) expect((await create(full)).status).toBe(201);
    expectError(await create(full), 409, "INVITE_QUOTA_EXCEEDED");
    expect((await create(await newTenant())).status).toBe(201);
  });
});
