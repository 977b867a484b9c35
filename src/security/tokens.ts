import { decodeBase64, encodeBase64, encodeBase64Url, randomBytes, toHex, utf8Bytes } from "./encoding";

export const INVITE_TOKEN_PREFIX = "inv_";
export const REFRESH_TOKEN_PREFIX = "rt_";
const TOKEN_BYTES = 32;
/** `inv_` + base64url(32 bytes) = 4 + 43 characters */
export const INVITE_TOKEN_PATTERN = /^inv_[A-Za-z0-9_-]{43}$/;

export function generateToken(prefix: string): string {
  return prefix + encodeBase64Url(randomBytes(TOKEN_BYTES).buffer).replace(/=+$/, "");
}

export const generateInviteToken = () => generateToken(INVITE_TOKEN_PREFIX);
export const generateRefreshToken = () => generateToken(REFRESH_TOKEN_PREFIX);

export async function sha256Hex(value: string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", utf8Bytes(value)));
}

const IV_BYTES = 12;
const KEY_BYTES = 32;
/** `v2.<kid>.<base64(iv || ciphertext+tag)>`; rows written before key ids have no prefix (base64 has no '.'). */
const CIPHERTEXT_VERSION = "v2";

export interface TokenKey {
  /** first 8 hex digits of SHA-256 of the raw key: names the key without revealing it */
  kid: string;
  key: CryptoKey;
}

export interface TokenKeyring {
  /** encrypts everything new */
  current: TokenKey;
  /** current first, then INVITE_TOKEN_PREVIOUS_KEYS in order: what may decrypt */
  keys: TokenKey[];
}

/** What a ciphertext is bound to (AES-GCM additional data): moved to another row, it no longer opens. */
export interface TokenBinding {
  inviteId: string;
  tenantId: string;
}

async function importKey(base64Key: string, name: string): Promise<TokenKey> {
  let raw: Uint8Array;
  try {
    raw = decodeBase64(base64Key);
  } catch {
    raw = new Uint8Array();
  }
  if (raw.byteLength !== KEY_BYTES) throw new Error(`${name} must be ${KEY_BYTES} bytes, base64-encoded`);
  const kid = toHex(await crypto.subtle.digest("SHA-256", raw)).slice(0, 8);
  return { kid, key: await crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]) };
}

const keyrings = new Map<string, Promise<TokenKeyring>>();

/**
 * INVITE_TOKEN_KEY (current) and INVITE_TOKEN_PREVIOUS_KEYS (comma-separated, still decrypt).
 * Imported once per isolate per configuration: keyed by the secret strings themselves.
 */
export function loadTokenKeyring(currentKey: string, previousKeys = ""): Promise<TokenKeyring> {
  const cacheKey = `${currentKey}|${previousKeys}`;
  let ring = keyrings.get(cacheKey);
  if (!ring) {
    ring = (async () => {
      const current = await importKey(currentKey.trim(), "INVITE_TOKEN_KEY");
      const previous = await Promise.all(
        previousKeys
          .split(",")
          .map((entry) => entry.trim())
          .filter(Boolean)
          .map((entry) => importKey(entry, "INVITE_TOKEN_PREVIOUS_KEYS (each entry)")),
      );
      const keys = [current, ...previous.filter((key, index) => key.kid !== current.kid && previous.findIndex((other) => other.kid === key.kid) === index)];
      return { current, keys };
    })();
    // A failed import must not be cached: the error names the setting on every request until it is fixed.
    ring.catch(() => keyrings.delete(cacheKey));
    keyrings.set(cacheKey, ring);
  }
  return ring;
}

const bindingData = ({ inviteId, tenantId }: TokenBinding) => utf8Bytes(`edge-invites:invite-token:${tenantId}:${inviteId}`);

/** `v2.<kid>.base64(iv || ciphertext+tag)` under the current key, bound to its row. */
export async function encryptToken(ring: TokenKeyring, token: string, binding: TokenBinding): Promise<string> {
  const iv = randomBytes(IV_BYTES);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: bindingData(binding) }, ring.current.key, utf8Bytes(token)),
  );
  const out = new Uint8Array(IV_BYTES + sealed.byteLength);
  out.set(iv);
  out.set(sealed, IV_BYTES);
  return ciphertextPrefix(ring.current) + encodeBase64(out.buffer);
}

export class TokenDecryptionError extends Error {
  override name = "TokenDecryptionError";
  constructor(
    message: string,
    /** the ciphertext's key id, "legacy" for rows without one; never the ciphertext */
    readonly kid: string,
  ) {
    super(message);
  }
}

async function open(key: CryptoKey, bytes: Uint8Array, additionalData?: Uint8Array): Promise<string> {
  const iv = bytes.subarray(0, IV_BYTES);
  const params = additionalData ? { name: "AES-GCM", iv, additionalData } : { name: "AES-GCM", iv };
  return new TextDecoder().decode(await crypto.subtle.decrypt(params, key, bytes.subarray(IV_BYTES)));
}

function decodeSealed(base64: string, kid: string): Uint8Array {
  try {
    const bytes = decodeBase64(base64);
    if (bytes.byteLength > IV_BYTES) return bytes;
  } catch {
    // fall through
  }
  throw new TokenDecryptionError("The ciphertext is not well-formed", kid);
}

/**
 * Decrypts a `v2.` ciphertext with the key its id names, checking the row binding; a legacy one
 * (written before key ids: no prefix, no binding) with each key of the ring in turn.
 * Throws TokenDecryptionError when no key opens it: unknown key, tampered, or moved to another row.
 */
export async function decryptToken(ring: TokenKeyring, ciphertext: string, binding: TokenBinding): Promise<string> {
  const parts = ciphertext.split(".");
  if (parts.length === 3 && parts[0] === CIPHERTEXT_VERSION) {
    const kid = parts[1]!;
    const key = ring.keys.find((candidate) => candidate.kid === kid);
    if (!key) throw new TokenDecryptionError("The ciphertext's key is neither INVITE_TOKEN_KEY nor in INVITE_TOKEN_PREVIOUS_KEYS", kid);
    const bytes = decodeSealed(parts[2]!, kid);
    try {
      return await open(key.key, bytes, bindingData(binding));
    } catch {
      throw new TokenDecryptionError("The ciphertext does not open with its key for this row (tampered or moved)", kid);
    }
  }
  if (parts.length !== 1) throw new TokenDecryptionError("The ciphertext is not well-formed", "unknown");
  const bytes = decodeSealed(ciphertext, "legacy");
  for (const key of ring.keys) {
    try {
      return await open(key.key, bytes);
    } catch {
      // try the next key
    }
  }
  throw new TokenDecryptionError("No configured key opens this legacy ciphertext", "legacy");
}

/** The prefix of every ciphertext written under `key`: `v2.<kid>.` (12 characters). */
export const ciphertextPrefix = (key: TokenKey) => `${CIPHERTEXT_VERSION}.${key.kid}.`;

/** Written before key ids: no prefix and no row binding. */
export const isLegacyCiphertext = (ciphertext: string) => !ciphertext.includes(".");

/** True when the ciphertext is not yet under the current key with a row binding (legacy or a previous key). */
export function needsReencryption(ring: TokenKeyring, ciphertext: string): boolean {
  return !ciphertext.startsWith(ciphertextPrefix(ring.current));
}

/**
 * Another secret that must be usable again (a webhook signing secret), sealed with the same keyring as
 * invite tokens and bound by `context` (AES-GCM additional data) to where it is stored. `v2.<kid>.…` as above.
 */
export async function sealSecret(ring: TokenKeyring, plaintext: string, context: string): Promise<string> {
  const iv = randomBytes(IV_BYTES);
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: utf8Bytes(context) }, ring.current.key, utf8Bytes(plaintext)));
  const out = new Uint8Array(IV_BYTES + sealed.byteLength);
  out.set(iv);
  out.set(sealed, IV_BYTES);
  return ciphertextPrefix(ring.current) + encodeBase64(out.buffer);
}

/** Opens what sealSecret wrote, with the key its id names; throws TokenDecryptionError otherwise. */
export async function openSecret(ring: TokenKeyring, ciphertext: string, context: string): Promise<string> {
  const parts = ciphertext.split(".");
  const kid = parts[1] ?? "unknown";
  const key = parts.length === 3 && parts[0] === CIPHERTEXT_VERSION ? ring.keys.find((candidate) => candidate.kid === kid) : undefined;
  if (!key) throw new TokenDecryptionError("The ciphertext's key is neither INVITE_TOKEN_KEY nor in INVITE_TOKEN_PREVIOUS_KEYS", kid);
  try {
    return await open(key.key, decodeSealed(parts[2]!, kid), utf8Bytes(context));
  } catch {
    throw new TokenDecryptionError("The ciphertext does not open with its key here (tampered or moved)", kid);
  }
}
