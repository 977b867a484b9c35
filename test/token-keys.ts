/** Invite-token keys for tests: fresh AES-256 keys and the ciphertext format written before key ids existed. */

export function newKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
}

/** base64(iv || ciphertext+tag), no key id, no additional data: what rows written before v2 hold. */
export async function legacyEncrypt(base64Key: string, token: string): Promise<string> {
  const raw = Uint8Array.from(atob(base64Key), (char) => char.charCodeAt(0));
  const key = await crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt"]);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new TextEncoder().encode(token)));
  return btoa(String.fromCharCode(...iv, ...sealed));
}
