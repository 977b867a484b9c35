export { decodeBase64, decodeBase64Url, encodeBase64, encodeBase64Url } from "hono/utils/encode";

const utf8 = new TextEncoder();

export function utf8Bytes(value: string): Uint8Array<ArrayBuffer> {
  return utf8.encode(value) as Uint8Array<ArrayBuffer>;
}

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (const byte of view) out += byte.toString(16).padStart(2, "0");
  return out;
}

export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(length));
}

/** Constant-time comparison (workerd's SubtleCrypto extension); lengths are not secret. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return crypto.subtle.timingSafeEqual(a, b);
}
