import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { purgeExpired } from "../../src/features/maintenance/service";
import { call, createInvite, newTenant, register } from "../helpers";

const total = async (token: string, query = "") => (await call("GET", `/api/v1/invites?Qt=1${query}`, { token })).body.total as number;
const counted = async (tenantId: string) =>
  (await env.DB.prepare("SELECT invite_count AS n FROM tenants WHERE id = ?").bind(tenantId).first<{ n: number }>())!.n;

describe("list totals at scale", () => {
  it("the unfiltered total is the trigger-kept count, and follows inserts and deletes on every path", async () => {
    const owner = await newTenant();
    for (let i = 0; i < 4; i++) await createInvite(owner.token);
    await createInvite(owner.token, { email: `bound-${crypto.randomUUID()}@example.test` });
    expect(await counted(owner.tenantId)).toBe(5);
    expect(await total(owner.token)).toBe(5);
    // a refused conditional insert (second pending invite for one email) counts nothing
    const email = `twice-${crypto.randomUUID()}@example.test`;
    await createInvite(owner.token, { email });
    expect((await call("POST", "/api/v1/invites", { token: owner.token, body: { email } })).status).toBe(409);
    expect(await total(owner.token)).toBe(6);
    // deletes outside the API (purge, operators) keep it right too
    await env.DB.prepare("DELETE FROM invites WHERE id IN (SELECT id FROM invites WHERE tenant_id = ? LIMIT 2)").bind(owner.tenantId).run();
    expect(await total(owner.token)).toBe(4);
    const { n } = (await env.DB.prepare("SELECT COUNT(*) AS n FROM invites WHERE tenant_id = ?").bind(owner.tenantId).first<{ n: number }>())!;
    expect(n).toBe(4);
  });

  it("the purge reports exactly the invites it deleted (not the trigger's extra writes) and the total follows", async () => {
    const owner = await newTenant();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await createInvite(owner.token)).id);
    await createInvite(owner.token);
    const longAgo = Date.now() - 40 * 24 * 60 * 60 * 1000;
    await env.DB.prepare(`UPDATE invites SET expires_at = ? WHERE id IN (?, ?, ?)`).bind(longAgo, ...ids).run();
    const result = await purgeExpired(env, Date.now(), { batchSize: 2, maxBatches: 5 });
    expect(result.invites).toBe(3);
    expect(result.complete).toBe(true);
    expect(await total(owner.token)).toBe(1);
  });

  it("filtered totals still count the matching rows, and agree with the unfiltered one", async () => {
    const owner = await newTenant();
    const [a, b, c] = [await createInvite(owner.token), await createInvite(owner.token), await createInvite(owner.token)];
    expect((await register(a.token)).status).toBe(201);
    await env.DB.prepare("UPDATE invites SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, b.id).run();
    expect((await call("DELETE", `/api/v1/invites/${c.id}`, { token: owner.token })).status).toBe(204);
    await createInvite(owner.token);
    const byStatus = await Promise.all([0, 1, 2, 3].map((status) => total(owner.token, `&Status=${status}`)));
    expect(byStatus).toEqual([1, 1, 1, 1]);
    expect(await total(owner.token)).toBe(4);
  });

  it("counting Pending or Expired invites reads the partial index of open invites", async () => {
    const plan = await env.DB.prepare(
      `EXPLAIN QUERY PLAN SELECT count(*) FROM invites
       WHERE tenant_id = ?1 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > ?2`,
    )
      .bind("t", Date.now())
      .all<{ detail: string }>();
    expect(plan.results.map((row) => row.detail).join("\n")).toMatch(/invites_tenant_open_idx/);
  });

  it("deep pages return the same rows as shallow ones would, in order", async () => {
    const owner = await newTenant();
    const created = [];
    for (let i = 0; i < 7; i++) created.push((await createInvite(owner.token, { validityDays: 7 - i })).id);
    const pages = [];
    for (let page = 1; page <= 3; page++) {
      pages.push(...(await call("GET", `/api/v1/invites?Qt=3&Pg=${page}&CpOrd=expiresAt&TpOrd=Asc`, { token: owner.token })).body.items.map((i: { id: string }) => i.id));
    }
    expect(pages).toEqual([...created].reverse());
  });
});
