import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  decryptToken,
  encryptToken,
  generateInviteToken,
  generateRefreshToken,
  importTokenKey,
  INVITE_TOKEN_PATTERN,
  sha256Hex,
} from "../../src/security/tokens";

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

  it("encrypts with AES-GCM under a fresh IV and decrypts back", async () => {
    const key = await importTokenKey(env.INVITE_TOKEN_KEY!);
    const token = generateInviteToken();
    const [a, b] = await Promise.all([encryptToken(key, token), encryptToken(key, token)]);
    expect(a).not.toBe(b);
    expect(a).not.toContain(token.slice(4, 20));
    expect(await decryptToken(key, a)).toBe(token);
  });

  it("detects tampering", async () => {
    const key = await importTokenKey(env.INVITE_TOKEN_KEY!);
    const sealed = atob(await encryptToken(key, generateInviteToken()));
    const flipped = btoa(sealed.slice(0, 20) + String.fromCharCode(sealed.charCodeAt(20) ^ 1) + sealed.slice(21));
    await expect(decryptToken(key, flipped)).rejects.toThrow();
  });

  it("rejects keys that are not 32 bytes", () => {
    expect(() => importTokenKey(btoa("too short"))).toThrow(/32 bytes/);
  });
});
