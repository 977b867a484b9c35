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

/**
 * `$pbkdf2-sha256$i=<iterations>,l=<key bytes>[,p=<pepper id>]$<salt>$<hash>`. `p` names the pepper
 * the hash was made with (8 hex digits derived from it, or `none`); hashes written before pepper ids
 * have no `p` and are "legacy".
 */
const PHC_PATTERN = /^\$pbkdf2-sha256\$i=(\d+),l=(\d+)(?:,p=([0-9a-f]{8}|none))?\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

interface PhcParams {
  iterations: number;
  keyLength: number;
  /** undefined: a legacy hash, written before pepper ids */
  pepperId: string | undefined;
  salt: Uint8Array<ArrayBuffer>;
  hash: Uint8Array<ArrayBuffer>;
}

export function parsePhc(phc: string): PhcParams | null {
  const match = PHC_PATTERN.exec(phc);
  if (!match) return null;
  const [, iterations, keyLength, pepperId, salt, hash] = match as unknown as [string, string, string, string | undefined, string, string];
  return {
    iterations: Number(iterations),
    keyLength: Number(keyLength),
    pepperId,
    salt: decodeBase64(salt),
    hash: decodeBase64(hash),
  };
}

export interface Pepper {
  /** 8 hex digits of SHA-256 over a label and the pepper: names it in PHC strings without revealing it */
  id: string;
  secret: string;
}

export interface PepperRing {
  /** hashes new passwords; null only in local development without PASSWORD_PEPPER (ids the hash `none`) */
  current: Pepper | null;
  /** PASSWORD_PREVIOUS_PEPPERS: still verify, and the login that verifies rehashes under `current` */
  previous: Pepper[];
}

export const NO_PEPPER_ID = "none";

const pepperRings = new Map<string, Promise<PepperRing>>();

async function pepper(secret: string): Promise<Pepper> {
  const digest = await crypto.subtle.digest("SHA-256", utf8Bytes(`edge-invites password pepper id\n${secret}`));
  return { id: [...new Uint8Array(digest).subarray(0, 4)].map((byte) => byte.toString(16).padStart(2, "0")).join(""), secret };
}

/** The configured peppers (current, then comma-separated previous ones), derived once per isolate. */
export function loadPepperRing(current: string | undefined, previous = ""): Promise<PepperRing> {
  const cacheKey = `${current ?? ""}\n${previous}`;
  let ring = pepperRings.get(cacheKey);
  if (!ring) {
    ring = (async () => ({
      current: current ? await pepper(current) : null,
      previous: await Promise.all(
        previous
          .split(",")
          .map((entry) => entry.trim())
          .filter((entry) => entry && entry !== current)
          .map(pepper),
      ),
    }))();
    pepperRings.set(cacheKey, ring);
  }
  return ring;
}

/** No pepper at all: unit tests of the hash itself, and local development without PASSWORD_PEPPER. */
export const NO_PEPPERS: PepperRing = { current: null, previous: [] };

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

export async function hashPassword(password: string, peppers: PepperRing, iterations = PBKDF2_ITERATIONS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, peppers.current?.secret, salt, iterations, KEY_BYTES);
  const pepperId = peppers.current?.id ?? NO_PEPPER_ID;
  return `$pbkdf2-sha256$i=${iterations},l=${KEY_BYTES},p=${pepperId}$${encodeBase64(salt.buffer)}$${encodeBase64(hash.buffer)}`;
}

export interface PasswordCheck {
  valid: boolean;
  /** stored parameters or pepper are not the current ones: store a fresh hash after a successful login */
  needsRehash: boolean;
}

/**
 * The peppers a stored hash may have been made with, in the order they are tried. A hash with a
 * pepper id names exactly one (none if that pepper is no longer configured). A legacy hash (no id)
 * was made with whatever PASSWORD_PEPPER was set when it was written: the current pepper, a
 * previous one, or — PASSWORD_PEPPER having been optional — none at all, in that order.
 */
function candidates(params: PhcParams, peppers: PepperRing): Array<string | undefined> | null {
  const all = [...(peppers.current ? [peppers.current] : []), ...peppers.previous];
  if (params.pepperId === NO_PEPPER_ID) return [undefined];
  if (params.pepperId !== undefined) {
    const match = all.find((candidate) => candidate.id === params.pepperId);
    return match ? [match.secret] : null;
  }
  return [...all.map((candidate) => candidate.secret), undefined];
}

export async function verifyPassword(password: string, phc: string, peppers: PepperRing): Promise<PasswordCheck> {
  const params = parsePhc(phc);
  if (!params) return { valid: false, needsRehash: false };
  const tried = candidates(params, peppers);
  if (tried === null) {
    // Its pepper is gone: it can never verify. Derive once anyway, so this costs what a check costs.
    await derive(password, peppers.current?.secret, params.salt, params.iterations, params.keyLength);
    return { valid: false, needsRehash: false };
  }
  for (const secret of tried) {
    const candidate = await derive(password, secret, params.salt, params.iterations, params.keyLength);
    if (timingSafeEqual(candidate, params.hash)) {
      return {
        valid: true,
        needsRehash:
          params.iterations < PBKDF2_ITERATIONS || params.keyLength !== KEY_BYTES || params.pepperId !== (peppers.current?.id ?? NO_PEPPER_ID),
      };
    }
  }
  return { valid: false, needsRehash: false };
}

/**
 * A well-formed hash of a random password nobody knows, under a pepper id no deployment has (the
 * id of a pepper is derived from it). Verifying against it costs exactly one derivation, what a
 * check of a current hash costs, so an unknown email is indistinguishable by timing.
 */
export const DUMMY_PASSWORD_HASH =
  "$pbkdf2-sha256$i=100000,l=32,p=00000000$3q2+796tvu/erb7v3q2+7w==$Jm4eeL7eHYzM4kAR6fW0QxS3v2iQtTtrnXo1lHg2Tpk=";
