import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, createInvite, newMember, newTenant, PASSWORD, register, uniqueEmail } from "./helpers";

/** Every row of every table, as text: what someone holding a D1 export would see. */
async function dumpDatabase(): Promise<{ tables: string[]; text: string }> {
  const { results } = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all<{ name: string }>();
  let text = "";
  for (const { name } of results) {
    const rows = await env.DB.prepare(`SELECT * FROM "${name}"`).all();
    text += `${name}\n${JSON.stringify(rows.results)}\n`;
  }
  return { tables: results.map((r) => r.name), text };
}

describe("secrets at rest", () => {
  it("a D1 dump holds no plaintext password, invite token or refresh token", async () => {
    const secrets: string[] = [];
    const owner = await newTenant("at-rest");
    secrets.push(owner.password, owner.refreshToken);
    const member = await newMember(owner, "Admin");
    secrets.push(member.refreshToken);
    for (let i = 0; i < 3; i++) secrets.push((await createInvite(owner.token)).token);
    const used = await createInvite(owner.token, { email: uniqueEmail("bound") });
    secrets.push(used.token);
    const memberPassword = `${PASSWORD} but different`;
    const email = uniqueEmail("redeemer");
    expect((await register(used.token, (used as any).email ?? email, memberPassword)).status).toBe(201);
    secrets.push(memberPassword);
    const login = await call("POST", "/api/v1/auth/login", { body: { email: owner.email, password: PASSWORD } });
    secrets.push(login.body.refreshToken);

    const dump = await dumpDatabase();
    expect(dump.tables).toEqual(expect.arrayContaining(["tenants", "users", "invites", "refresh_tokens"]));
    for (const secret of secrets) {
      expect(dump.text.includes(secret), `plaintext secret found in dump: ${secret.slice(0, 8)}…`).toBe(false);
      // nor the random part without its prefix
      expect(dump.text.includes(secret.replace(/^(inv|rt)_/, ""))).toBe(false);
    }
    const { results: hashes } = await env.DB.prepare("SELECT password_hash FROM users").all<{ password_hash: string }>();
    expect(hashes.length).toBeGreaterThan(0);
    for (const { password_hash } of hashes) {
      const match = /^\$pbkdf2-sha256\$i=(\d+),l=32\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.exec(password_hash);
      expect(match, password_hash).not.toBeNull();
      expect(Number(match![1])).toBeLessThanOrEqual(100_000);
    }
  });
});
