import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runMaintenance } from "../../src/features/maintenance/service";
import { renormalizeTenantNames } from "../../src/features/tenants/service";
import { nameKey } from "../../src/lib/names";
import { call, createInvite, expectError, PASSWORD, unique, uniqueEmail } from "../helpers";

const signUp = (name: string) => call("POST", "/api/v1/tenants", { body: { name, adminEmail: uniqueEmail("owner"), adminPassword: PASSWORD } });

afterEach(() => vi.restoreAllMocks());

describe("tenant names: NFKC + case folding for uniqueness", () => {
  it.each([
    ["NFC vs NFD", "Caf\u00e9", "Cafe\u0301"],
    ["upper vs lower, non-ASCII", "CAF\u00c9", "caf\u00e9"],
    ["sharp s vs SS", "Stra\u00dfe", "STRASSE"],
    ["a ligature vs its letters", "\ufb01ne", "FINE"],
    ["full-width vs ASCII", "\uff21\uff43\uff4d\uff45", "acme"],
    ["final vs medial sigma", "\u039f\u0394\u039f\u03a3", "\u03bf\u03b4\u03bf\u03c3"],
  ])("%s collide: the second sign-up is 409 TENANT_NAME_TAKEN", async (_label, first, second) => {
    const suffix = ` ${unique("n")}`;
    expect((await signUp(first + suffix)).status).toBe(201);
    expectError(await signUp(second + suffix), 409, "TENANT_NAME_TAKEN");
  });

  it("keeps the name as typed (trimmed) for display", async () => {
    const name = `Cafe\u0301 ${unique("display")}`;
    const created = await signUp(`  ${name}  `);
    expect(created.body.tenantName).toBe(name);
  });

  it("ASCII names keep exactly the key they had before (trim + lower case)", () => {
    for (const name of ["Initech", "  ACME Corp ", "a-b_c.d 123", "~!@#$%^&*()"]) expect(nameKey(name)).toBe(name.trim().toLowerCase());
  });

  it.each([
    ["RIGHT-TO-LEFT OVERRIDE (U+202E)", "Initech\u202egnp.exe"],
    ["ZERO WIDTH SPACE (U+200B)", "Ini\u200btech"],
    ["ZERO WIDTH JOINER (U+200D)", "Ini\u200dtech"],
    ["ZERO WIDTH NON-JOINER (U+200C)", "Ini\u200ctech"],
    ["a byte-order mark (U+FEFF)", "Ini\ufefftech"],
    ["a NUL", "Ini\u0000tech"],
    ["a newline", "Initech\nSupport"],
    ["a tab", "Ini\ttech"],
    ["an escape (ANSI)", "Ini\u001b[31mtech"],
    ["a line separator (U+2028)", "Ini\u2028tech"],
    ["a lone surrogate", "Ini\ud800tech"],
  ])("a name with %s is 400 VALIDATION_ERROR on the name field, and nothing is written", async (_label, name) => {
    const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM tenants").first<number>("n");
    const response = await signUp(name);
    const body = expectError(response, 400, "VALIDATION_ERROR");
    expect(body.details.fields.name).toEqual([expect.stringMatching(/control or invisible/)]);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM tenants").first<number>("n")).toBe(before);
  });

  it("names with ordinary non-ASCII letters, marks and spaces are fine", async () => {
    for (const name of ["Zürich Ölwerke", "東京システム", "Société Générale", "مؤسسة", "Ελληνικά ΑΕ", "Cafe\u0301 Noir"]) {
      const response = await signUp(`${name} ${unique("ok")}`);
      expect(response.status, `${name}: ${response.text}`).toBe(201);
    }
  });
});

describe("tenant names stored before NFKC + case folding", () => {
  /** What a tenant written by the old code looks like after migration 0009: its old key, and listed for a rekey. */
  const asBefore = (id: string, key: string) =>
    env.DB.batch([
      env.DB.prepare("UPDATE tenants SET name_normalized = ? WHERE id = ?").bind(key, id),
      env.DB.prepare("INSERT OR IGNORE INTO tenant_name_rekeys (tenant_id) VALUES (?)").bind(id),
    ]);
  const keyOf = async (id: string) => env.DB.prepare("SELECT name_normalized FROM tenants WHERE id = ?").bind(id).first<string>("name_normalized");

  it("the scheduled handler recomputes the keys of non-ASCII names; ASCII ones are untouched; a collision is left as it is and logged", async () => {
    const tag = unique("legacy");
    const nfd = await signUp(`Cafe\u0301 ${tag}`);
    const sharp = await signUp(`Stra\u00dfe ${tag}`);
    const ascii = await signUp(`Plain ${tag}`);
    // As the old code stored them: name.trim().toLowerCase()
    await asBefore(nfd.body.tenantId, `cafe\u0301 ${tag}`.toLowerCase());
    await asBefore(sharp.body.tenantId, `stra\u00dfe ${tag}`.toLowerCase());
    // Under the old keys, these look-alikes would have been new tenants: make one exist, as it could have.
    const lookAlike = await signUp(`STRASSE ${tag}`);
    expect(lookAlike.status).toBe(201);
    const warnings = vi.spyOn(console, "warn").mockImplementation(() => undefined);

    const { tenantNames } = await runMaintenance(env);
    expect(tenantNames.complete).toBe(true);
    expect(tenantNames.updated).toBeGreaterThanOrEqual(1);
    expect(tenantNames.conflicts).toBeGreaterThanOrEqual(1);
    expect(await keyOf(nfd.body.tenantId)).toBe(nameKey(`Caf\u00e9 ${tag}`));
    expect(await keyOf(sharp.body.tenantId)).toBe(`stra\u00dfe ${tag}`.toLowerCase()); // its key is STRASSE's now
    expect(await keyOf(ascii.body.tenantId)).toBe(`plain ${tag}`.toLowerCase());
    expect(warnings.mock.calls.map((args) => String(args[0])).join("\n")).toContain(sharp.body.tenantId);

    // Now the NFC spelling collides with the renormalized NFD row.
    expectError(await signUp(`Caf\u00e9 ${tag}`), 409, "TENANT_NAME_TAKEN");
    // The list is empty: a second run changes nothing more.
    expect(await renormalizeTenantNames(env)).toEqual({ updated: 0, conflicts: 0, complete: true });
  });

  it("migration 0009 lists exactly the tenants whose names are not printable ASCII", async () => {
    const tag = unique("listed");
    const names = [`Zürich ${tag}`, `Plain ${tag}`, `東京 ${tag}`, `Tab\there ${tag}`, `Tilde~ok ${tag}`];
    const ids = [];
    for (const name of names) {
      const id = crypto.randomUUID();
      ids.push(id);
      await env.DB.prepare("INSERT INTO tenants (id, name, name_normalized, created_at, updated_at) VALUES (?, ?, ?, 0, 0)").bind(id, name, name.toLowerCase()).run();
    }
    const migration = env.TEST_MIGRATIONS.find((m) => m.name.startsWith("0009_"))!;
    expect(migration.name).toBe("0009_tenant_name_rekeys_fill.sql");
    for (const query of migration.queries) await env.DB.prepare(query).run();
    const { results } = await env.DB.prepare(`SELECT tenant_id FROM tenant_name_rekeys WHERE tenant_id IN (${ids.map(() => "?").join(",")})`).bind(...ids).all<{ tenant_id: string }>();
    expect(results.map((row) => row.tenant_id).sort()).toEqual([ids[0], ids[2], ids[3]].sort());
    await env.DB.prepare("DELETE FROM tenant_name_rekeys").run();
  });

  it("works in bounded batches, and every run makes progress until the list is empty", async () => {
    const tag = unique("batch");
    for (let i = 0; i < 3; i++) {
      const created = await signUp(`Ärger ${i} ${tag}`);
      await asBefore(created.body.tenantId, `ärger ${i} ${tag}-old`);
    }
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    expect(await renormalizeTenantNames(env, { batchSize: 1, maxBatches: 2 })).toEqual({ updated: 2, conflicts: 0, complete: false });
    expect(await renormalizeTenantNames(env, { batchSize: 1, maxBatches: 2 })).toEqual({ updated: 1, conflicts: 0, complete: true });
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM tenant_name_rekeys").first<number>("n")).toBe(0);
    expect(await renormalizeTenantNames(env)).toEqual({ updated: 0, conflicts: 0, complete: true });
  });

  it("the public preview shows a name stored with invisible characters without them", async () => {
    const tag = unique("rlo");
    const created = await signUp(`Initech ${tag}`);
    await env.DB.prepare("UPDATE tenants SET name = ? WHERE id = ?").bind(`Initech\u202e ${tag}`, created.body.tenantId).run();
    const login = await call("POST", "/api/v1/auth/login", { body: { email: created.body.adminEmail, password: PASSWORD } });
    const invite = await createInvite(login.body.accessToken);
    const preview = await call("GET", `/api/v1/invites/${invite.token}`);
    expect(preview.status).toBe(200);
    expect(preview.body.tenantName).toBe(`Initech ${tag}`);
  });
});
