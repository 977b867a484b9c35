import { describe, expect, it } from "vitest";
import {
  DUMMY_PASSWORD_HASH,
  hashPassword,
  loadPepperRing,
  NO_PEPPERS,
  parsePhc,
  PBKDF2_ITERATIONS,
  PRODUCTION_PBKDF2_ITERATION_CAP,
  verifyPassword,
} from "../../src/security/passwords";

/** A hash as the code before pepper ids wrote it: no `p=`, HMAC'd with `pepper` if there was one. */
async function legacyHash(password: string, pepper: string | undefined): Promise<string> {
  const ring = pepper ? await loadPepperRing(pepper) : NO_PEPPERS;
  return (await hashPassword(password, ring)).replace(/,p=(?:[0-9a-f]{8}|none)\$/, "$");
}

describe("password hashing (PBKDF2-SHA256, PHC strings)", () => {
  it("never configures more iterations than production Workers allow", () => {
    // Local workerd accepts more; production rejects every sign-up above 100,000.
    expect(PRODUCTION_PBKDF2_ITERATION_CAP).toBe(100_000);
    expect(PBKDF2_ITERATIONS).toBeLessThanOrEqual(PRODUCTION_PBKDF2_ITERATION_CAP);
    expect(parsePhc(DUMMY_PASSWORD_HASH)?.iterations).toBeLessThanOrEqual(PRODUCTION_PBKDF2_ITERATION_CAP);
  });

  it("refuses to derive above the production cap", async () => {
    await expect(hashPassword("whatever-password", NO_PEPPERS, 100_001)).rejects.toThrow(/cap/);
  });

  it("stores a PHC string with a 16-byte salt, a 32-byte key and the pepper's id", async () => {
    const ring = await loadPepperRing("pepper-one");
    const phc = await hashPassword("correct horse battery staple", ring);
    expect(phc).toMatch(new RegExp(`^\\$pbkdf2-sha256\\$i=100000,l=32,p=${ring.current!.id}\\$[A-Za-z0-9+/]{22}==\\$[A-Za-z0-9+/]{43}=$`));
    expect(ring.current!.id).toMatch(/^[0-9a-f]{8}$/);
    expect(phc).not.toContain("pepper-one");
    const params = parsePhc(phc)!;
    expect(params.salt.byteLength).toBe(16);
    expect(params.hash.byteLength).toBe(32);
    expect(params.pepperId).toBe(ring.current!.id);
    // Without a pepper (local development only) the id says so.
    expect(await hashPassword("correct horse battery staple", NO_PEPPERS)).toMatch(/^\$pbkdf2-sha256\$i=100000,l=32,p=none\$/);
  });

  it("salts every hash", async () => {
    const [a, b] = await Promise.all([hashPassword("same password", NO_PEPPERS), hashPassword("same password", NO_PEPPERS)]);
    expect(a).not.toBe(b);
  });

  it("verifies the right password and rejects a wrong one", async () => {
    const ring = await loadPepperRing("pepper-one");
    const phc = await hashPassword("correct horse battery staple", ring);
    expect(await verifyPassword("correct horse battery staple", phc, ring)).toEqual({ valid: true, needsRehash: false });
    expect((await verifyPassword("correct horse battery stapler", phc, ring)).valid).toBe(false);
  });

  it("binds the hash to its pepper: another pepper, or none, does not verify it", async () => {
    const phc = await hashPassword("peppered password", await loadPepperRing("pepper-one"));
    expect((await verifyPassword("peppered password", phc, await loadPepperRing("pepper-two"))).valid).toBe(false);
    expect((await verifyPassword("peppered password", phc, NO_PEPPERS)).valid).toBe(false);
  });

  it("rotation: a hash under a previous pepper verifies and asks for a rehash; once the pepper is dropped it never verifies", async () => {
    const before = await loadPepperRing("pepper-one");
    const phc = await hashPassword("rotated password", before);
    const rotated = await loadPepperRing("pepper-two", "pepper-one");
    expect(await verifyPassword("rotated password", phc, rotated)).toEqual({ valid: true, needsRehash: true });
    expect((await verifyPassword("wrong password", phc, rotated)).valid).toBe(false);
    const rehashed = await hashPassword("rotated password", rotated);
    expect(parsePhc(rehashed)!.pepperId).toBe(rotated.current!.id);
    expect(await verifyPassword("rotated password", rehashed, rotated)).toEqual({ valid: true, needsRehash: false });
    expect(await verifyPassword("rotated password", phc, await loadPepperRing("pepper-two"))).toEqual({ valid: false, needsRehash: false });
  });

  it("legacy hashes (no pepper id) verify under the current pepper, a previous one, or none — and are rehashed", async () => {
    const peppered = await legacyHash("legacy password", "pepper-one");
    const unpeppered = await legacyHash("legacy password", undefined);
    expect(peppered).toMatch(/^\$pbkdf2-sha256\$i=100000,l=32\$/);
    for (const ring of [await loadPepperRing("pepper-one"), await loadPepperRing("pepper-two", "pepper-one")]) {
      expect(await verifyPassword("legacy password", peppered, ring)).toEqual({ valid: true, needsRehash: true });
      expect(await verifyPassword("legacy password", unpeppered, ring)).toEqual({ valid: true, needsRehash: true });
      expect((await verifyPassword("not the password", peppered, ring)).valid).toBe(false);
    }
    // A legacy hash made with a pepper that is configured nowhere any more cannot verify.
    expect((await verifyPassword("legacy password", peppered, await loadPepperRing("pepper-three"))).valid).toBe(false);
  });

  it("flags hashes made with weaker parameters for rehash", async () => {
    const weak = await hashPassword("old password", NO_PEPPERS, 1_000);
    expect(await verifyPassword("old password", weak, NO_PEPPERS)).toEqual({ valid: true, needsRehash: true });
  });

  it("treats malformed stored hashes as a mismatch, not an error", async () => {
    const ring = await loadPepperRing("pepper-one");
    expect(await verifyPassword("anything", "not-a-phc-string", ring)).toEqual({ valid: false, needsRehash: false });
    expect(await verifyPassword("anything", "$pbkdf2-sha256$i=100000,l=32,p=XYZ$AAAA$AAAA", ring)).toEqual({ valid: false, needsRehash: false });
    expect((await verifyPassword("anything", DUMMY_PASSWORD_HASH, ring)).valid).toBe(false);
    expect(parsePhc(DUMMY_PASSWORD_HASH)!.pepperId).not.toBe(ring.current!.id);
  });
});
