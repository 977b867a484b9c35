/**
 * Guarantee: one invite, one user — whatever runs at the same time. Requests go through the
 * Worker over HTTP (SELF.fetch, or app.request where a competing request is injected at a chosen
 * point), each from its own client IP so the limiter stays out of the way. Storage is the real D1.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { apiRoutes } from "./surface";
import { call, createInvite, expectError, newMember, newTenant, PASSWORD, randomIp, register, uniqueEmail, type ApiResponse, type Session } from "../helpers";

const SIMULTANEOUS_REDEMPTIONS = 25;
const RACE_ROUNDS = 10;

async function inviteRow(id: string) {
  return env.DB.prepare("SELECT used_at, used_by, revoked_at FROM invites WHERE id = ?")
    .bind(id)
    .first<{ used_at: number | null; used_by: string | null; revoked_at: number | null }>();
}

const count = async (sql: string, value: string) => (await env.DB.prepare(sql).bind(value).first<{ n: number }>())!.n;
const usersWithEmail = (email: string) => count("SELECT COUNT(*) AS n FROM accounts WHERE email = ?", email);
const usersInTenant = (tenantId: string) => count("SELECT COUNT(*) AS n FROM memberships WHERE tenant_id = ?", tenantId);

async function statusOf(owner: Session, inviteId: string) {
  const response = await call("GET", `/api/v1/invites/${inviteId}`, { token: owner.token });
  expect(response.status, response.text).toBe(200);
  return response.body.status as string;
}

const hasRoute = (method: string, path: string) => apiRoutes().some((r) => r.method === method && r.path === path);
const revokeRoutePresent = hasRoute("DELETE", "/api/v1/invites/:id");
const renewRoutePresent = hasRoute("POST", "/api/v1/invites/:id/renew");

/** Where in a registration a competing request is let loose. */
type Point = "first-query" | "write";

/**
 * Bindings whose DB is the real D1, except that the first time the registration reaches `point`
 * (its first query, or its write batch) `intruder` — a whole competing request — is started:
 * awaited (it lands entirely inside the window) or not (it races the registration from there).
 */
function intrude(point: Point, intruder: () => Promise<ApiResponse>, wait: boolean) {
  let started: Promise<ApiResponse> | undefined;
  const start = () => (started ??= intruder());
  // Requests reach D1 through the binding or through a Sessions API session opened on it: hook both.
  const hooked = <T extends D1Database | D1DatabaseSession>(db: T): T =>
    new Proxy(db, {
      get(target, property) {
        if (point === "first-query" && property === "prepare") start();
        if (point === "write" && property === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            const competitor = start();
            if (wait) await competitor;
            return target.batch(statements);
          };
        }
        if (property === "withSession") {
          return (constraint?: string) => hooked((target as D1Database).withSession(constraint));
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const DB = hooked(env.DB);
  return {
    bindings: { ...env, DB },
    competitor: () => {
      expect(started, `the competing request was started at ${point}`).toBeDefined();
      return started!;
    },
  };
}

async function registerThrough(bindings: object, inviteToken: string, email = uniqueEmail("interleaved")): Promise<ApiResponse> {
  const response = await app.request(
    `/api/v1/invites/${inviteToken}/register`,
    { method: "POST", headers: { "Content-Type": "application/json", "CF-Connecting-IP": randomIp() }, body: JSON.stringify({ email, password: PASSWORD }) },
    bindings,
  );
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: JSON.parse(text) };
}

async function acceptThrough(bindings: object, inviteToken: string, joiner: Session): Promise<ApiResponse> {
  const response = await app.request(
    `/api/v1/invites/${inviteToken}/accept`,
    { method: "POST", headers: { Authorization: `Bearer ${joiner.token}`, "CF-Connecting-IP": randomIp() } },
    bindings,
  );
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: JSON.parse(text) };
}

describe("guarantee: one invite, one user — under concurrency", () => {
  it(`${SIMULTANEOUS_REDEMPTIONS} simultaneous HTTP redemptions of one token: exactly 1 user, ${SIMULTANEOUS_REDEMPTIONS - 1} × 409 INVITE_USED, invite used once by the winner`, async () => {
    const owner = await newTenant("concurrency");
    const invite = await createInvite(owner.token, { role: "Viewer" });
    const emails = Array.from({ length: SIMULTANEOUS_REDEMPTIONS }, () => uniqueEmail("simultaneous"));

    const responses = await Promise.all(emails.map((email) => register(invite.token, email)));

    const winners = responses.filter((r) => r.status === 201);
    expect(winners, responses.map((r) => r.status).join(",")).toHaveLength(1);
    const losers = responses.filter((r) => r.status !== 201);
    expect(losers).toHaveLength(SIMULTANEOUS_REDEMPTIONS - 1);
    for (const loser of losers) expectError(loser, 409, "INVITE_USED");

    const winner = winners[0]!.body;
    expect(winner).toMatchObject({ tenantId: owner.tenantId, role: "Viewer", status: "Active" });
    expect(await usersInTenant(owner.tenantId)).toBe(2); // the Owner and the winner, nobody else
    for (const email of emails) expect(await usersWithEmail(email)).toBe(email === winner.email ? 1 : 0);
    const row = await inviteRow(invite.id);
    expect(row?.used_by).toBe(winner.id);
    expect(row?.used_at).toBe(Date.parse(winner.createdAt));
    expect(await statusOf(owner, invite.id)).toBe("Used");
  });

  it("one email racing on two invites: one user; the losing invite stays Pending and redeemable", async () => {
    const owner = await newTenant("concurrency");
    const [first, second] = await Promise.all([createInvite(owner.token), createInvite(owner.token)]);
    const email = uniqueEmail("two-invites");

    const responses = await Promise.all([register(first!.token, email), register(second!.token, email)]);

    expect(responses.map((r) => r.status).sort()).toEqual([201, 409]);
    const loserIndex = responses.findIndex((r) => r.status === 409);
    expectError(responses[loserIndex]!, 409, "EMAIL_TAKEN");
    expect(await usersWithEmail(email)).toBe(1);
    const [won, lost] = loserIndex === 1 ? [first!, second!] : [second!, first!];
    expect(await statusOf(owner, won.id)).toBe("Used");
    expect(await statusOf(owner, lost.id)).toBe("Pending");
    expect((await inviteRow(lost.id))?.used_by).toBeNull();
    // Pending means usable: the losing invite still registers someone else.
    expect((await register(lost.token)).status).toBe(201);
  });

  it.skipIf(!revokeRoutePresent)(
    `revoke (DELETE /api/v1/invites/{id}) racing register, ${RACE_ROUNDS} rounds: never both succeed, and D1 agrees with the answers`,
    async () => {
      const owner = await newTenant("concurrency");
      const revoke = (inviteId: string) => () => call("DELETE", `/api/v1/invites/${inviteId}`, { token: owner.token });
      const tally: Record<string, number> = {};
      for (let round = 0; round < RACE_ROUNDS; round++) {
        const invite = await createInvite(owner.token);
        const email = uniqueEmail("revoke-race");
        // Vary where the two requests meet: sent together, or the revoke let loose when the
        // registration first queries D1, or when it issues its write — never awaited, always racing.
        const start = (["together", "first-query", "write"] as const)[round % 3]!;
        let revoked: ApiResponse;
        let registered: ApiResponse;
        if (start === "together") {
          [revoked, registered] = await Promise.all([revoke(invite.id)(), register(invite.token, email)]);
        } else {
          const race = intrude(start, revoke(invite.id), false);
          registered = await registerThrough(race.bindings, invite.token, email);
          revoked = await race.competitor();
        }
        const context = `round ${round} (${start}): revoke ${revoked.status} ${revoked.text} / register ${registered.status} ${registered.text}`;
        const row = await inviteRow(invite.id);
        if (registered.status === 201) {
          expectError(revoked, 409, "INVITE_NOT_REVOCABLE");
          expect(row, context).toMatchObject({ used_by: registered.body.id, revoked_at: null });
          expect(await usersWithEmail(email), context).toBe(1);
        } else {
          expect(revoked.status, context).toBe(204);
          expectError(registered, 409, "INVITE_REVOKED");
          expect(row, context).toMatchObject({ used_at: null, used_by: null });
          expect(row?.revoked_at, context).not.toBeNull();
          expect(await usersWithEmail(email), context).toBe(0);
        }
        const outcome = `${start}: ${registered.status === 201 ? "registered, revoke 409" : "revoked, register 409"}`;
        tally[outcome] = (tally[outcome] ?? 0) + 1;
      }
      console.log(`revoke vs register over ${RACE_ROUNDS} rounds: ${JSON.stringify(tally)}`);
    },
  );

  it(`an Admin demoted while their invite is being redeemed, ${RACE_ROUNDS} rounds (register and accept): a redemption either committed first or is 409 INVITE_AUTHORITY_LAPSED, and D1 agrees`, async () => {
    const owner = await newTenant("concurrency");
    const admin = await newMember(owner, "Admin");
    const setRole = (role: string) => () => call("PATCH", `/api/v1/users/${admin.userId}`, { token: owner.token, body: { role } });
    const tally: Record<string, number> = {};
    for (let round = 0; round < RACE_ROUNDS; round++) {
      expect((await setRole("Admin")()).status).toBe(200);
      const invite = await createInvite(admin.token, { role: round % 2 ? "Viewer" : "Developer" });
      const viaAccept = round % 2 === 1;
      const joiner = viaAccept ? await newTenant("joiner") : undefined;
      const email = uniqueEmail("demotion-race");
      const redeem = (bindings: object) => (joiner ? acceptThrough(bindings, invite.token, joiner) : registerThrough(bindings, invite.token, email));
      // sent together; the demotion let loose at the redemption's first query; or landing wholly inside its window
      const start = (["together", "first-query", "write"] as const)[round % 3]!;
      let demoted: ApiResponse;
      let redeemed: ApiResponse;
      if (start === "together") {
        [demoted, redeemed] = await Promise.all([setRole("Developer")(), redeem(env)]);
      } else {
        const race = intrude(start, setRole("Developer"), start === "write");
        redeemed = await redeem(race.bindings);
        demoted = await race.competitor();
      }
      const context = `round ${round} (${start}, ${joiner ? "accept" : "register"}): ${redeemed.status} ${redeemed.text}`;
      expect(demoted.status, context).toBe(200);
      const row = await inviteRow(invite.id);
      if (redeemed.status === 201) {
        expect(start, "a demotion inside the window must win").not.toBe("write");
        expect(row?.used_by, context).toBe(redeemed.body.id);
      } else {
        expectError(redeemed, 409, "INVITE_AUTHORITY_LAPSED");
        expect(row, context).toMatchObject({ used_at: null, used_by: null });
        expect(await usersWithEmail(email), context).toBe(0);
        if (joiner) expect(await count("SELECT COUNT(*) AS n FROM memberships WHERE account_id = ?", joiner.userId), context).toBe(1); // only their own tenant
        // and it stays refused now the demotion has committed
        expectError(await register(invite.token), 409, "INVITE_AUTHORITY_LAPSED");
      }
      const outcome = `${start}: ${redeemed.status === 201 ? "redeemed first" : "lapsed"}`;
      tally[outcome] = (tally[outcome] ?? 0) + 1;
    }
    console.log(`demotion vs redemption over ${RACE_ROUNDS} rounds: ${JSON.stringify(tally)}`);
  });

  describe("a competing request forced into the window between a registration's read and its write", () => {
    it.skipIf(!renewRoutePresent)("a renewal there kills the old token: register 404 INVITE_NOT_FOUND, renew 200, the new token works", async () => {
      const owner = await newTenant("concurrency");
      const invite = await createInvite(owner.token);
      const window = intrude("write", () => call("POST", `/api/v1/invites/${invite.id}/renew`, { token: owner.token, body: {} }), true);
      const registered = await registerThrough(window.bindings, invite.token);
      const renewed = await window.competitor();
      expect(renewed.status, renewed.text).toBe(200);
      expectError(registered, 404, "INVITE_NOT_FOUND");
      expect(await inviteRow(invite.id)).toMatchObject({ used_at: null, used_by: null });
      expect((await register(renewed.body.token)).status).toBe(201);
    });

    it.skipIf(!revokeRoutePresent)("a revocation there wins: register 409 INVITE_REVOKED, revoke 204, nobody created", async () => {
      const owner = await newTenant("concurrency");
      const invite = await createInvite(owner.token);
      const email = uniqueEmail("interleaved");
      const window = intrude("write", () => call("DELETE", `/api/v1/invites/${invite.id}`, { token: owner.token }), true);
      expectError(await registerThrough(window.bindings, invite.token, email), 409, "INVITE_REVOKED");
      expect((await window.competitor()).status).toBe(204);
      expect(await usersWithEmail(email)).toBe(0);
    });

    it("another redemption there wins: 409 INVITE_USED, exactly one user", async () => {
      const owner = await newTenant("concurrency");
      const invite = await createInvite(owner.token);
      const window = intrude("write", () => register(invite.token), true);
      expectError(await registerThrough(window.bindings, invite.token), 409, "INVITE_USED");
      const competitor = await window.competitor();
      expect(competitor.status).toBe(201);
      expect(await usersInTenant(owner.tenantId)).toBe(2);
      expect((await inviteRow(invite.id))?.used_by).toBe(competitor.body.id);
    });

    it("the email taken through another invite there: 409 EMAIL_TAKEN, this invite stays Pending", async () => {
      const owner = await newTenant("concurrency");
      const [invite, other] = [await createInvite(owner.token), await createInvite(owner.token)];
      const email = uniqueEmail("interleaved");
      const window = intrude("write", () => register(other.token, email), true);
      expectError(await registerThrough(window.bindings, invite.token, email), 409, "EMAIL_TAKEN");
      expect((await window.competitor()).status).toBe(201);
      expect(await statusOf(owner, invite.id)).toBe("Pending");
      expect(await usersWithEmail(email)).toBe(1);
    });
  });
});
