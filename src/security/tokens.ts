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
const aesKeys = new Map<string, Promise<CryptoKey>>();

/** INVITE_TOKEN_KEY: 32 random bytes, base64. Imported once per isolate. */
export function importTokenKey(base64Key: string): Promise<CryptoKey> {
  let key = aesKeys.get(base64Key);
  if (!key) {
    const raw = decodeBase64(base64Key);
    if (raw.byteLength !== 32) throw new Error("INVITE_TOKEN_KEY must be 32 bytes, base64-encoded");
    key = crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
    aesKeys.set(base64Key, key);
  }
  return key;
}

/** base64(iv || ciphertext+tag) */
export async function encryptToken(key: CryptoKey, token: string): Promise<string> {
  const iv = randomBytes(IV_BYTES);
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, utf8Bytes(token)));
  const out = new Uint8Array(IV_BYTES + sealed.byteLength);
  out.set(iv);
  out.set(sealed, IV_BYTES);
  return encodeBase64(out.buffer);
}

export async function decryptToken(key: CryptoKey, ciphertext: string): Promise<string> {
  const bytes = decodeBase64(ciphertext);
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.subarray(0, IV_BYTES) }, key, bytes.subarray(IV_BYTES));
  return new TextDecoder().decode(plain);
}
