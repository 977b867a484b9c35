import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  decryptToken,
  encryptToken,
  generateInviteToken,
  generateRefreshToken,
  INVITE_TOKEN_PATTERN,
  loadTokenKeyring,
  needsReencryption,
  sha256Hex,
  TokenDecryptionError,
} from "../../src/security/tokens";
import { legacyEncrypt, newKey } from "../token-keys";

const binding = { inviteId: "0197a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", tenantId: "0197a1b2-0000-7000-8000-000000000001" };

describe("tokens", () => {
  it("invite tokens are inv_ + 256 random bits in base64url", () => {
    const tokens = new Set(Array.from({ length: 200 }, generateInviteToken));
    expect(tokens.size).toBe(200);
    for (const token of tokens) expect(token).toMatch(INVITE_TOKEN_PATTERN);
    const [one] = tokens;
    expect(one!.length).toBe(4 + 43);
  });

  it("refresh tokens are rt_ + 256 random bits", () => {
    expect(generateRefreshToken()).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
  });

  it("hashes with SHA-256 (known vector)", async () => {
    expect(await sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("encrypts with AES-GCM under a fresh IV as v2.<kid>.<base64>, the kid being SHA-256 of the raw key, and decrypts back", async () => {
    const ring = await loadTokenKeyring(env.INVITE_TOKEN_KEY!);
    const raw = Uint8Array.from(atob(env.INVITE_TOKEN_KEY!), (char) => char.charCodeAt(0));
    const digest = [...new Uint8Array(await crypto.subtle.digest("SHA-256", raw))].map((b) => b.toString(16).padStart(2, "0")).join("");
    expect(ring.current.kid).toBe(digest.slice(0, 8));
    const token = generateInviteToken();
    const [a, b] = await Promise.all([encryptToken(ring, token, binding), encryptToken(ring, token, binding)]);
    expect(a).not.toBe(b);
    expect(a).toMatch(new RegExp(`^v2\\.${ring.current.kid}\\.[A-Za-z0-9+/]+=*$`));
    expect(a).not.toContain(token.slice(4, 20));
    expect(await decryptToken(ring, a, binding)).toBe(token);
    expect(needsReencryption(ring, a)).toBe(false);
  });

  it("binds a ciphertext to its row: another invite id or tenant id does not open it", async () => {
    const ring = await loadTokenKeyring(env.INVITE_TOKEN_KEY!);
    const sealed = await encryptToken(ring, generateInviteToken(), binding);
    await expect(decryptToken(ring, sealed, { ...binding, inviteId: crypto.randomUUID() })).rejects.toBeInstanceOf(TokenDecryptionError);
    await expect(decryptToken(ring, sealed, { ...binding, tenantId: crypto.randomUUID() })).rejects.toBeInstanceOf(TokenDecryptionError);
  });

  it("detects tampering", async () => {
    const ring = await loadTokenKeyring(env.INVITE_TOKEN_KEY!);
    const sealed = await encryptToken(ring, generateInviteToken(), binding);
    const [version, kid, body] = sealed.split(".");
    const bytes = atob(body!);
    const flipped = btoa(bytes.slice(0, 20) + String.fromCharCode(bytes.charCodeAt(20) ^ 1) + bytes.slice(21));
    await expect(decryptToken(ring, `${version}.${kid}.${flipped}`, binding)).rejects.toThrow(TokenDecryptionError);
    for (const garbage of ["", "v2..", `v2.${kid}.`, `v2.${kid}.!!!`, "a.b", "v3.x.y", "@@@"]) {
      await expect(decryptToken(ring, garbage, binding), garbage).rejects.toThrow(TokenDecryptionError);
    }
  });

  it("decrypts with a previous key named by its kid, never with an unknown one", async () => {
    const oldKey = newKey();
    const newer = newKey();
    const before = await loadTokenKeyring(oldKey);
    const sealed = await encryptToken(before, "inv_old", binding);
    const rotated = await loadTokenKeyring(newer, ` ${newKey()}, ${oldKey} `);
    expect(rotated.keys.map((key) => key.kid)).toContain(before.current.kid);
    expect(await decryptToken(rotated, sealed, binding)).toBe("inv_old");
    expect(needsReencryption(rotated, sealed)).toBe(true);
    const forgotten = await loadTokenKeyring(newer);
    await expect(decryptToken(forgotten, sealed, binding)).rejects.toMatchObject({ kid: before.current.kid });
  });

  it("opens legacy ciphertexts (no key id, no binding) with any key of the ring", async () => {
    const oldKey = newKey();
    const legacy = await legacyEncrypt(oldKey, "inv_legacy");
    expect(legacy).not.toContain(".");
    expect(await decryptToken(await loadTokenKeyring(oldKey), legacy, binding)).toBe("inv_legacy");
    const rotated = await loadTokenKeyring(newKey(), oldKey);
    expect(await decryptToken(rotated, legacy, binding)).toBe("inv_legacy");
    expect(needsReencryption(rotated, legacy)).toBe(true);
    await expect(decryptToken(await loadTokenKeyring(newKey()), legacy, binding)).rejects.toMatchObject({ kid: "legacy" });
  });

  it("imports a configuration once per isolate", async () => {
    const current = newKey();
    expect(loadTokenKeyring(current, "")).toBe(loadTokenKeyring(current, ""));
    expect((await loadTokenKeyring(current)).current).toBe((await loadTokenKeyring(current)).current);
  });

  it("rejects keys that are not 32 bytes, naming the setting", async () => {
    await expect(loadTokenKeyring(btoa("too short"))).rejects.toThrow(/INVITE_TOKEN_KEY must be 32 bytes/);
    await expect(loadTokenKeyring(newKey(), `${newKey()},not base64!`)).rejects.toThrow(/INVITE_TOKEN_PREVIOUS_KEYS/);
  });
});
