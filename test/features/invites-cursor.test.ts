import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { encodeCursor } from "../../src/http/pagination";
import { envWith, headers, observedD1, ORIGIN } from "../d1-spy";
import { call, createInvite, expectError, newTenant, register, type Session } from "../helpers";

const SORTS = ["id", "createdAt", "expiresAt", "usedAt", "status", "targetRole"] as const;

/** A tenant whose invites mix roles, expiries, used (non-NULL usedAt) and revoked ones. */
async function mixedTenant(): Promise<{ owner: Session; ids: string[] }> {
  const owner = await newTenant();
  const ids: string[] = [];
  for (let i = 0; i < 9; i++) {
    const invite = await createInvite(owner.token, { validityDays: (i % 4) + 1, role: i % 3 === 0 ? "Viewer" : "Developer" });
    ids.push(invite.id);
    if (i % 4 === 1) expect((await register(invite.token)).status).toBe(201);
    if (i === 6) expect((await call("DELETE", `/api/v1/invites/${invite.id}`, { token: owner.token })).status).toBe(204);
  }
  return { owner, ids };
}

const list = (owner: Session, query: string) => call("GET", `/api/v1/invites?${query}`, { token: owner.token });
const idsOf = (response: { body: { items: { id: string }[] } }) => response.body.items.map((item) => item.id);

describe("cursor pagination of GET /api/v1/invites", () => {
  it("walking nextCursor forward and prevCursor back visits exactly the Pg ordering, for every sort field and direction", async () => {
    const { owner } = await mixedTenant();
    for (const sort of SORTS) {
      for (const direction of ["Asc", "Desc"]) {
        const whole = await list(owner, `Qt=100&CpOrd=${sort}&TpOrd=${direction}`);
        expect(whole.status, whole.text).toBe(200);
        const expected = idsOf(whole);
        expect(expected).toHaveLength(9);

        const first = await list(owner, `Qt=2&CpOrd=${sort}&TpOrd=${direction}`);
        expect(first.body.prevCursor).toBeNull();
        const pages = [first];
        while (pages.at(-1)!.body.nextCursor) {
          // the cursor carries its ordering: CpOrd/TpOrd need not be repeated
          const next = await list(owner, `Qt=2&starting_after=${pages.at(-1)!.body.nextCursor}`);
          expect(next.status, next.text).toBe(200);
          expect(next.body.total).toBe(9);
          pages.push(next);
        }
        expect(pages.flatMap(idsOf), `${sort} ${direction}`).toEqual(expected);
        expect(pages).toHaveLength(5);

        // and back from the last page
        const back = [pages.at(-1)!];
        while (back.at(-1)!.body.prevCursor) {
          const previous = await list(owner, `Qt=2&CpOrd=${sort}&TpOrd=${direction}&ending_before=${back.at(-1)!.body.prevCursor}`);
          expect(previous.status, previous.text).toBe(200);
          back.push(previous);
        }
        expect(back.reverse().flatMap(idsOf), `${sort} ${direction} backwards`).toEqual(expected);
      }
    }
  });

  it("Pg pages carry cursors too, and a Pg page's nextCursor continues where Pg+1 starts", async () => {
    const { owner } = await mixedTenant();
    const second = await list(owner, "Qt=3&Pg=2&CpOrd=expiresAt&TpOrd=Asc");
    expect(Object.keys(second.body)).toEqual(["total", "items", "nextCursor", "prevCursor"]);
    const third = await list(owner, "Qt=3&Pg=3&CpOrd=expiresAt&TpOrd=Asc");
    expect(third.body.nextCursor).toBeNull();
    const viaCursor = await list(owner, `Qt=3&starting_after=${second.body.nextCursor}`);
    expect(idsOf(viaCursor)).toEqual(idsOf(third));
    const first = await list(owner, "Qt=3&Pg=1&CpOrd=expiresAt&TpOrd=Asc");
    expect(idsOf(await list(owner, `Qt=3&ending_before=${second.body.prevCursor}`))).toEqual(idsOf(first));
  });

  it("one-row pages: the cursor's own row counts as a page behind it, both ways", async () => {
    const { owner } = await mixedTenant();
    const one = await list(owner, "Qt=1&CpOrd=usedAt");
    const two = await list(owner, `Qt=1&starting_after=${one.body.nextCursor}`);
    expect(two.body.prevCursor).toEqual(expect.any(String));
    const backToOne = await list(owner, `Qt=1&ending_before=${two.body.prevCursor}`);
    expect(idsOf(backToOne)).toEqual(idsOf(one));
    expect(backToOne.body.prevCursor).toBeNull();
    expect(idsOf(await list(owner, `Qt=1&starting_after=${backToOne.body.nextCursor}`))).toEqual(idsOf(two));
  });

  it("filters apply on cursor pages; past the end is an empty page that points back", async () => {
    const { owner } = await mixedTenant();
    const used = await list(owner, "Status=Used&Qt=1");
    expect(used.body.total).toBe(2);
    const rest = await list(owner, `Status=Used&Qt=5&starting_after=${used.body.nextCursor}`);
    expect(rest.body.items.map((item: { status: string }) => item.status)).toEqual(["Used"]);
    expect(rest.body.nextCursor).toBeNull();
    const oldest = encodeCursor({ sort: "id", direction: "desc", key: null, id: "00000000-0000-7000-8000-000000000000" });
    const beyond = await list(owner, `Status=Used&Qt=5&starting_after=${oldest}`);
    expect(beyond.status, beyond.text).toBe(200);
    expect(beyond.body.items).toEqual([]);
    expect(beyond.body.nextCursor).toBeNull();
    expect(beyond.body.prevCursor).toEqual(expect.any(String));
    expect(idsOf(await list(owner, `Status=Used&Qt=5&ending_before=${beyond.body.prevCursor}`))).toHaveLength(2);
  });

  it("a cursor positions only within the caller's tenant", async () => {
    const a = await mixedTenant();
    const b = await mixedTenant();
    const cursor = (await list(a.owner, "Qt=1")).body.nextCursor;
    const page = await list(b.owner, `Qt=100&starting_after=${cursor}`);
    expect(page.status).toBe(200);
    for (const id of idsOf(page)) expect(b.ids).toContain(id);
  });

  const valid = encodeCursor({ sort: "createdAt", direction: "desc", key: 1, id: "0197a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" });
  const b64 = (value: unknown) => btoa(typeof value === "string" ? value : JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  it.each([
    ["garbage", "starting_after=%%%"],
    ["not JSON", `starting_after=${b64("hello")}`],
    ["a JSON array", `starting_after=${b64([1, 2])}`],
    ["another version", `starting_after=${b64({ v: 2, s: "id", d: "desc", id: "0197a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" })}`],
    ["an unknown sort field", `ending_before=${b64({ v: 1, s: "tokenHash", d: "desc", k: "x", id: "0197a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" })}`],
    ["a prototype key as sort field", `ending_before=${b64({ v: 1, s: "__proto__", d: "desc", k: 1, id: "0197a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" })}`],
    ["a text key for a timestamp", `starting_after=${b64({ v: 1, s: "createdAt", d: "asc", k: "1 OR 1=1", id: "0197a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" })}`],
    ["a null key for a NOT NULL column", `starting_after=${b64({ v: 1, s: "expiresAt", d: "asc", k: null, id: "0197a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" })}`],
    ["a bad direction", `starting_after=${b64({ v: 1, s: "id", d: "sideways", id: "0197a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" })}`],
    ["an id that is no UUID", `starting_after=${b64({ v: 1, s: "id", d: "desc", id: "'; DROP TABLE invites; --" })}`],
    ["another ordering than CpOrd", `CpOrd=expiresAt&starting_after=${valid}`],
    ["another direction than TpOrd", `TpOrd=Asc&starting_after=${valid}`],
  ])("400 INVALID_CURSOR for %s", async (_label, query) => {
    const owner = await newTenant();
    const error = expectError(await list(owner, query), 400, "INVALID_CURSOR");
    expect(Object.keys(error.details.fields)).toHaveLength(1);
  });

  it("the cursor's own ordering may be repeated; both cursors at once, or a cursor with Pg, is 400 VALIDATION_ERROR", async () => {
    const owner = await newTenant();
    expect((await list(owner, `CpOrd=CREATEDAT&TpOrd=desc&starting_after=${valid}`)).status).toBe(200);
    expectError(await list(owner, `starting_after=${valid}&ending_before=${valid}`), 400, "VALIDATION_ERROR");
    expectError(await list(owner, `Pg=2&starting_after=${valid}`), 400, "VALIDATION_ERROR");
    expectError(await list(owner, `starting_after=${"a".repeat(1025)}`), 400, "VALIDATION_ERROR");
  });

  it("a deep cursor page is one keyset range on the sort field's index: no temp b-tree, no OFFSET", async () => {
    const { owner } = await mixedTenant();
    for (const [sort, index] of [
      ["createdAt", "invites_tenant_created_idx"],
      ["expiresAt", "invites_tenant_expires_idx"],
      ["usedAt", "invites_tenant_used_idx"],
      ["targetRole", "invites_tenant_role_idx"],
      ["id", "invites_tenant_id_idx"],
    ] as const) {
      for (const [direction, side] of [["Desc", "starting_after"], ["Asc", "ending_before"]] as const) {
        const cursor = (await list(owner, `Qt=4&CpOrd=${sort}&TpOrd=${direction}`)).body.nextCursor;
        const { db, log } = observedD1();
        const response = await app.request(
          `${ORIGIN}/api/v1/invites?Qt=4&${side}=${cursor}`,
          { headers: headers({ Authorization: `Bearer ${owner.token}` }) },
          envWith({ DB: db }),
        );
        expect(response.status).toBe(200);
        const statements = [...log.plain, ...log.sessions.flatMap((session) => session.sql)].filter((sql) => /from "invites"/i.test(sql));
        expect(statements.length, sort).toBeGreaterThan(0);
        for (const sql of statements) {
          expect(sql).not.toMatch(/offset/i);
          // the plan does not depend on the values bound, only on the statement's shape
          const placeholders = sql.split("?").length - 1;
          const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
            .bind(...Array.from({ length: placeholders }, () => owner.tenantId))
            .all<{ detail: string }>();
          const detail = plan.results.map((row) => row.detail).join("\n");
          expect(detail, `${sort} ${direction}: ${sql}`).toMatch(new RegExp(`USING (COVERING )?INDEX ${index}`));
          expect(detail, `${sort} ${direction}: ${sql}`).not.toMatch(/TEMP B-TREE/);
        }
      }
    }
  });
});
