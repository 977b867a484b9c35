import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../../src/app";
import type { Env } from "../../src/env";
import { runMaintenance } from "../../src/features/maintenance/service";
import { reencryptInviteTokens } from "../../src/features/invites/service";
import { encryptToken, loadTokenKeyring } from "../../src/security/tokens";
import { BASE, createInvite, expectError, newTenant, type ApiResponse } from "../helpers";
import { legacyEncrypt, newKey } from "../token-keys";

/** The test's own key ring: rows are created under OLD_KEY, then the deployment rotates to NEW_KEY. */
const OLD_KEY = env.INVITE_TOKEN_KEY!;
const NEW_KEY = newKey();
const rotated: Env = { ...env, INVITE_TOKEN_KEY: NEW_KEY, INVITE_TOKEN_PREVIOUS_KEYS: OLD_KEY };
const forgotten: Env = { ...env, INVITE_TOKEN_KEY: NEW_KEY };

async function get(path: string, token: string, bindings: Env): Promise<ApiResponse> {
  const response = await app.request(`${BASE}${path}`, { headers: { Authorization: `Bearer ${token}`, "CF-Connecting-IP": "10.9.9.9" } }, bindings);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text), text };
}

const ciphertextOf = async (id: string) =>
  (await env.DB.prepare("SELECT token_ciphertext FROM invites WHERE id = ?").bind(id).first<string>("token_ciphertext"))!;
const setCiphertext = (id: string, ciphertext: string) => env.DB.prepare("UPDATE invites SET token_ciphertext = ? WHERE id = ?").bind(ciphertext, id).run();

afterEach(() => vi.restoreAllMocks());

describe("invite-token key rotation and row binding", () => {
  it("after a rotation, a list with rows under the previous key shows them; a corrupt and a foreign-bound row show token: null, the page is 200", async () => {
    const owner = await newTenant("rotation");
    const stranger = await newTenant("rotation-other");
    const [a, b, corrupt, moved] = [await createInvite(owner.token), await createInvite(owner.token), await createInvite(owner.token), await createInvite(owner.token)];
    const foreign = await createInvite(stranger.token);
    await setCiphertext(corrupt.id, `v2.${(await loadTokenKeyring(OLD_KEY)).current.kid}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`);
    await setCiphertext(moved.id, await ciphertextOf(foreign.id));
    const warnings = vi.spyOn(console, "warn");

    const page = await get("/api/v1/invites?Qt=100", owner.token, rotated);
    expect(page.status, page.text).toBe(200);
    const tokens = Object.fromEntries(page.body.items.map((item: { id: string; token: string | null }) => [item.id, item.token]));
    expect(tokens).toEqual({ [a.id]: a.token, [b.id]: b.token, [corrupt.id]: null, [moved.id]: null });
    expect(page.text).not.toContain(foreign.token);

    // One warning per bad row, naming the row, never carrying its ciphertext.
    const logged = warnings.mock.calls.map((args) => String(args[0]));
    expect(logged.filter((line) => line.includes('"invite token undecryptable"'))).toHaveLength(2);
    for (const line of logged) {
      expect(line).not.toContain(await ciphertextOf(moved.id));
      expect(line).not.toContain("AAAAAAAAAAAAAAAA");
    }
    expect(logged.join("\n")).toContain(corrupt.id);

    // The single-invite view degrades the same way.
    expect((await get(`/api/v1/invites/${moved.id}`, owner.token, rotated)).body).toMatchObject({ id: moved.id, token: null });
  });

  it("swapping the ciphertexts of two rows (same tenant) yields null for both, never the other row's token", async () => {
    const owner = await newTenant("swap");
    const first = await createInvite(owner.token);
    const second = await createInvite(owner.token);
    const [c1, c2] = [await ciphertextOf(first.id), await ciphertextOf(second.id)];
    await setCiphertext(first.id, c2);
    await setCiphertext(second.id, c1);
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const page = await get("/api/v1/invites", owner.token, env);
    expect(page.status).toBe(200);
    expect(page.body.items.map((item: { token: string | null }) => item.token)).toEqual([null, null]);
    expect(page.text).not.toContain(first.token);
    expect(page.text).not.toContain(second.token);
  });

  it("with the old key removed from the ring, its rows show token: null instead of failing the list", async () => {
    const owner = await newTenant("forgotten");
    await createInvite(owner.token);
    await createInvite(owner.token);
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const page = await get("/api/v1/invites", owner.token, forgotten);
    expect(page.status).toBe(200);
    expect(page.body.items.map((item: { token: string | null }) => item.token)).toEqual([null, null]);
    // New invites under the new key are fine in the same list.
    const fresh = await app.request(`${BASE}/api/v1/invites`, {
      method: "POST",
      headers: { Authorization: `Bearer ${owner.token}`, "Content-Type": "application/json" },
      body: "{}",
    }, forgotten);
    const created = (await fresh.json()) as { id: string; token: string };
    expect(fresh.status).toBe(201);
    const after = await get("/api/v1/invites", owner.token, forgotten);
    expect(after.body.items.find((item: { id: string }) => item.id === created.id).token).toBe(created.token);
  });

  it("legacy rows (no key id, no binding) keep working, and the scheduled handler re-encrypts them and previous-key rows under the current key", async () => {
    const owner = await newTenant("legacy");
    const legacy = await createInvite(owner.token);
    const legacyMoved = await createInvite(owner.token);
    const previous = await createInvite(owner.token);
    await setCiphertext(legacy.id, await legacyEncrypt(OLD_KEY, legacy.token));
    // A legacy ciphertext has no binding; its plaintext must still match the row's token hash.
    await setCiphertext(legacyMoved.id, await legacyEncrypt(OLD_KEY, legacy.token));
    vi.spyOn(console, "warn").mockImplementation(() => undefined);

    const before = await get("/api/v1/invites", owner.token, rotated);
    const tokenOf = (page: ApiResponse, id: string) => page.body.items.find((item: { id: string }) => item.id === id).token;
    expect([tokenOf(before, legacy.id), tokenOf(before, legacyMoved.id), tokenOf(before, previous.id)]).toEqual([legacy.token, null, previous.token]);

    const result = await runMaintenance(rotated);
    expect(result.inviteTokens).toMatchObject({ complete: true });
    expect(result.inviteTokens.reencrypted).toBeGreaterThanOrEqual(2);
    expect(result.inviteTokens.undecryptable).toBeGreaterThanOrEqual(1);
    const kid = (await loadTokenKeyring(NEW_KEY)).current.kid;
    expect(await ciphertextOf(legacy.id)).toMatch(new RegExp(`^v2\\.${kid}\\.`));
    expect(await ciphertextOf(previous.id)).toMatch(new RegExp(`^v2\\.${kid}\\.`));
    expect(await ciphertextOf(legacyMoved.id)).not.toContain(".");

    // Now the old key can go: the rows read with the new key alone.
    const after = await get("/api/v1/invites", owner.token, forgotten);
    expect([tokenOf(after, legacy.id), tokenOf(after, legacyMoved.id), tokenOf(after, previous.id)]).toEqual([legacy.token, null, previous.token]);
    // And a second run finds nothing left to move (the undecryptable row stays as it is).
    expect((await reencryptInviteTokens(rotated)).reencrypted).toBe(0);
    // Gone, so that the batch counts of the next test see only its own rows.
    await env.DB.prepare("DELETE FROM invites WHERE id = ?").bind(legacyMoved.id).run();
  });

  it("re-encrypts in bounded batches (what does not fit in a run waits for the next) and skips rows under keys no longer configured", async () => {
    const owner = await newTenant("batches");
    const created = [];
    for (let i = 0; i < 5; i++) created.push(await createInvite(owner.token));
    const retiring = newKey();
    const third: Env = { ...env, INVITE_TOKEN_KEY: newKey(), INVITE_TOKEN_PREVIOUS_KEYS: retiring };
    const thirdPrefix = `v2.${(await loadTokenKeyring(third.INVITE_TOKEN_KEY!)).current.kid}.`;
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    // Every row of this file is under OLD_KEY or NEW_KEY, which `third` does not hold: never selected, never counted.
    expect(await reencryptInviteTokens(third)).toEqual({ reencrypted: 0, undecryptable: 0, complete: true });

    const underRetiring = await loadTokenKeyring(retiring);
    for (const invite of created) await setCiphertext(invite.id, await encryptToken(underRetiring, invite.token, { inviteId: invite.id, tenantId: owner.tenantId }));
    const first = await reencryptInviteTokens(third, { batchSize: 2, maxBatches: 2 });
    expect(first).toEqual({ reencrypted: 4, undecryptable: 0, complete: false });
    expect(await reencryptInviteTokens(third, { batchSize: 2, maxBatches: 2 })).toEqual({ reencrypted: 1, undecryptable: 0, complete: true });
    for (const invite of created) expect(await ciphertextOf(invite.id)).toMatch(new RegExp(`^${thirdPrefix.replaceAll(".", "\\.")}`));
    const page = await get("/api/v1/invites", owner.token, { ...env, INVITE_TOKEN_KEY: third.INVITE_TOKEN_KEY });
    expect(page.body.items.map((item: { token: string }) => item.token).sort()).toEqual(created.map((invite) => invite.token).sort());
  });

  it("a malformed INVITE_TOKEN_PREVIOUS_KEYS is a 500 naming it", async () => {
    const owner = await newTenant("bad-ring");
    await createInvite(owner.token);
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const response = await get("/api/v1/invites", owner.token, { ...env, INVITE_TOKEN_PREVIOUS_KEYS: "c2hvcnQ=" });
    expectError(response, 500, "INTERNAL_ERROR");
    expect(response.body.message).toContain("INVITE_TOKEN_PREVIOUS_KEYS");
  });
});
