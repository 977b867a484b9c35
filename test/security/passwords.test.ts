import { describe, expect, it } from "vitest";
import {
  DUMMY_PASSWORD_HASH,
  hashPassword,
  parsePhc,
  PBKDF2_ITERATIONS,
  PRODUCTION_PBKDF2_ITERATION_CAP,
  verifyPassword,
} from "../../src/security/passwords";

describe("password hashing (PBKDF2-SHA256, PHC strings)", () => {
  it("never configures more iterations than production Workers allow", () => {
    // Local workerd accepts more; production rejects every sign-up above 100,000.
    expect(PRODUCTION_PBKDF2_ITERATION_CAP).toBe(100_000);
    expect(PBKDF2_ITERATIONS).toBeLessThanOrEqual(PRODUCTION_PBKDF2_ITERATION_CAP);
    expect(parsePhc(DUMMY_PASSWORD_HASH)?.iterations).toBeLessThanOrEqual(PRODUCTION_PBKDF2_ITERATION_CAP);
  });

  it("refuses to derive above the production cap", async () => {
    await expect(hashPassword("whatever-password", undefined, 100_001)).rejects.toThrow(/cap/);
  });

  it("stores a PHC string with a 16-byte salt and 32-byte key", async () => {
    const phc = await hashPassword("correct horse battery staple");
    expect(phc).toMatch(/^\$pbkdf2-sha256\$i=100000,l=32\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    const params = parsePhc(phc)!;
    expect(params.salt.byteLength).toBe(16);
    expect(params.hash.byteLength).toBe(32);
  });

  it("salts every hash", async () => {
    const [a, b] = await Promise.all([hashPassword("same password"), hashPassword("same password")]);
    expect(a).not.toBe(b);
  });

  it("verifies the right password and rejects a wrong one", async () => {
    const phc = await hashPassword("correct horse battery staple");
    expect(await verifyPassword("correct horse battery staple", phc)).toEqual({ valid: true, needsRehash: false });
    expect((await verifyPassword("correct horse battery stapler", phc)).valid).toBe(false);
  });

  it("binds the hash to the pepper", async () => {
    const phc = await hashPassword("peppered password", "pepper-one");
    expect((await verifyPassword("peppered password", phc, "pepper-one")).valid).toBe(true);
    expect((await verifyPassword("peppered password", phc, "pepper-two")).valid).toBe(false);
    expect((await verifyPassword("peppered password", phc)).valid).toBe(false);
  });

  it("flags hashes made with weaker parameters for rehash", async () => {
    const weak = await hashPassword("old password", undefined, 1_000);
    expect(await verifyPassword("old password", weak)).toEqual({ valid: true, needsRehash: true });
  });

  it("treats malformed stored hashes as a mismatch, not an error", async () => {
    expect(await verifyPassword("anything", "not-a-phc-string")).toEqual({ valid: false, needsRehash: false });
    expect((await verifyPassword("anything", DUMMY_PASSWORD_HASH)).valid).toBe(false);
  });
});
