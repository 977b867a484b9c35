import { decodeBase64, encodeBase64, randomBytes, timingSafeEqual, utf8Bytes } from "./encoding";

/**
 * Production Workers reject PBKDF2 above 100,000 iterations (local workerd does not),
 * so this is both our work factor and a hard ceiling asserted by a test.
 */
export const PRODUCTION_PBKDF2_ITERATION_CAP = 100_000;
export const PBKDF2_ITERATIONS = 100_000;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

const PHC_PATTERN = /^\$pbkdf2-sha256\$i=(\d+),l=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

interface PhcParams {
  iterations: number;
  keyLength: number;
  salt: Uint8Array<ArrayBuffer>;
  hash: Uint8Array<ArrayBuffer>;
}

export function parsePhc(phc: string): PhcParams | null {
  const match = PHC_PATTERN.exec(phc);
  if (!match) return null;
  const [, iterations, keyLength, salt, hash] = match as unknown as [string, string, string, string, string];
  return {
    iterations: Number(iterations),
    keyLength: Number(keyLength),
    salt: decodeBase64(salt),
    hash: decodeBase64(hash),
  };
}

async function passwordKeyMaterial(password: string, pepper: string | undefined): Promise<CryptoKey> {
  let material: Uint8Array<ArrayBuffer> = utf8Bytes(password);
  if (pepper) {
    // The pepper (a secret outside the database) keys an HMAC of the password before stretching.
    const hmacKey = await crypto.subtle.importKey("raw", utf8Bytes(pepper), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    material = new Uint8Array(await crypto.subtle.sign("HMAC", hmacKey, material));
  }
  return crypto.subtle.importKey("raw", material, "PBKDF2", false, ["deriveBits"]);
}

async function derive(password: string, pepper: string | undefined, salt: Uint8Array<ArrayBuffer>, iterations: number, keyLength: number) {
  if (iterations > PRODUCTION_PBKDF2_ITERATION_CAP) {
    throw new Error(`PBKDF2 iterations ${iterations} exceed the Workers cap of ${PRODUCTION_PBKDF2_ITERATION_CAP}`);
  }
  const key = await passwordKeyMaterial(password, pepper);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, keyLength * 8);
  return new Uint8Array(bits);
}

export async function hashPassword(password: string, pepper?: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, pepper, salt, iterations, KEY_BYTES);
  return `$pbkdf2-sha256$i=${iterations},l=${KEY_BYTES}$${encodeBase64(salt.buffer)}$${encodeBase64(hash.buffer)}`;
}

export interface PasswordCheck {
  valid: boolean;
  /** stored parameters are weaker than current ones: store a fresh hash after a successful login */
  needsRehash: boolean;
}

export async function verifyPassword(password: string, phc: string, pepper?: string): Promise<PasswordCheck> {
  const params = parsePhc(phc);
  if (!params) return { valid: false, needsRehash: false };
  const candidate = await derive(password, pepper, params.salt, params.iterations, params.keyLength);
  return {
    valid: timingSafeEqual(candidate, params.hash),
    needsRehash: params.iterations < PBKDF2_ITERATIONS || params.keyLength !== KEY_BYTES,
  };
}

/**
 * A well-formed hash of a random password nobody knows. Verifying against it costs exactly
 * what a real check costs, so an unknown email is indistinguishable by timing.
 */
export const DUMMY_PASSWORD_HASH =
  "$pbkdf2-sha256$i=100000,l=32$3q2+796tvu/erb7v3q2+7w==$Jm4eeL7eHYzM4kAR6fW0QxS3v2iQtTtrnXo1lHg2Tpk=";
