import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { operatorEmail, OperatorInputError, operatorStatement } from "../../scripts/lib/operator-sql.mjs";
import { newTenant } from "../helpers";

const operatorFlag = async (email: string) => (await env.DB.prepare("SELECT is_operator FROM accounts WHERE email = ?").bind(email).first<{ is_operator: number }>())?.is_operator;

describe("npm run operator: the statement it runs (scripts/lib/operator-sql.mjs)", () => {
  it("grant and revoke flip is_operator of exactly that account, matched case-insensitively (emails are stored lower-cased)", async () => {
    const owner = await newTenant("op-sql");
    const bystander = await newTenant("op-sql-other");
    const granted = await env.DB.prepare(operatorStatement("grant", `  ${owner.email.toUpperCase()} `, 1_700_000_000_000)).all<{ id: string; email: string; is_operator: number }>();
    expect(granted.results).toEqual([{ id: owner.userId, email: owner.email, is_operator: 1 }]);
    expect(await operatorFlag(owner.email)).toBe(1);
    expect(await operatorFlag(bystander.email)).toBe(0);
    expect((await env.DB.prepare("SELECT updated_at FROM accounts WHERE id = ?").bind(owner.userId).first<{ updated_at: number }>())?.updated_at).toBe(1_700_000_000_000);
    await env.DB.prepare(operatorStatement("revoke", owner.email)).run();
    expect(await operatorFlag(owner.email)).toBe(0);
  });

  it("an unknown email changes nothing and returns no row (the script then exits 1)", async () => {
    const { results } = await env.DB.prepare(operatorStatement("grant", `nobody-${crypto.randomUUID()}@example.test`)).all();
    expect(results).toEqual([]);
  });

  it("quotes are doubled inside the literal: an email with an apostrophe matches itself and nothing else", async () => {
    expect(operatorStatement("grant", "o'brien@example.test", 1)).toBe(
      "UPDATE accounts SET is_operator = 1, updated_at = 1 WHERE email = 'o''brien@example.test' RETURNING id, email, is_operator",
    );
    const id = crypto.randomUUID();
    await env.DB.prepare("INSERT INTO accounts (id, email, password_hash, created_at, updated_at) VALUES (?, ?, 'x', 0, 0)").bind(id, `o'brien-${id}@example.test`).run();
    const { results } = await env.DB.prepare(operatorStatement("grant", `o'brien-${id}@example.test`)).all<{ id: string }>();
    expect(results.map((row) => row.id)).toEqual([id]);
  });

  it("refuses junk before any SQL exists: injections, non-emails, over-long input, unknown actions", () => {
    for (const junk of [
      "x' OR '1'='1",
      "a@b.test'; DROP TABLE accounts; --",
      "a@b.test' --",
      "not-an-email",
      "a@b",
      "a b@example.test",
      "a@example.test\nb@example.test",
      "",
      undefined,
      `${"a".repeat(250)}@example.test`,
      "..a@example.test",
    ]) {
      expect(() => operatorStatement("grant", junk), String(junk)).toThrow(OperatorInputError);
    }
    expect(() => operatorStatement("promote", "a@example.test")).toThrow(OperatorInputError);
    expect(() => operatorStatement("grant", "a@example.test", Number.NaN)).toThrow(OperatorInputError);
    expect(operatorEmail(" Bill@Initech.TEST ")).toBe("bill@initech.test");
  });
});
