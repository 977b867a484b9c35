import { decodeBase64, encodeBase64, randomBytes, utf8Bytes } from "./encoding";

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com, "Signature scheme"): HMAC-SHA256 over
 * `${webhook-id}.${webhook-timestamp}.${body}` with the secret's base64-decoded bytes, sent as
 * `v1,<base64 signature>`; several signatures (secret rotation) are space-separated.
 */
export const WEBHOOK_SECRET_PREFIX = "whsec_";
/** The spec allows 24–64 bytes; 32 bytes = 256 bits. */
const SECRET_BYTES = 32;
export const WEBHOOK_SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]{43}=$/;

export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + encodeBase64(randomBytes(SECRET_BYTES).buffer);
}

/** The AES-GCM additional data of an endpoint's sealed secrets: a ciphertext copied to another row does not open. */
export const webhookSecretContext = (tenantId: string, endpointId: string) => `edge-invites:webhook-secret:${tenantId}:${endpointId}`;

const hmacKeys = new Map<string, Promise<CryptoKey>>();

function signingKey(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) throw new Error("A webhook secret starts with whsec_");
    const raw = decodeBase64(secret.slice(WEBHOOK_SECRET_PREFIX.length));
    if (raw.byteLength < 24 || raw.byteLength > 64) throw new Error("A webhook secret holds 24–64 bytes");
    key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    if (hmacKeys.size > 1000) hmacKeys.clear();
    hmacKeys.set(secret, key);
  }
  return key;
}

/** `v1,<base64>` for one secret. `timestamp` is Unix seconds, exactly as sent in webhook-timestamp. */
export async function signPayload(secret: string, messageId: string, timestamp: number, body: string): Promise<string> {
  if (messageId.includes(".") || !Number.isInteger(timestamp)) throw new Error("webhook-id must not contain '.', and the timestamp is whole seconds");
  const mac = await crypto.subtle.sign("HMAC", await signingKey(secret), utf8Bytes(`${messageId}.${timestamp}.${body}`));
  return `v1,${encodeBase64(mac)}`;
}

export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** The three Standard Webhooks headers, signed with every secret in `secrets` (current first). */
export async function webhookHeaders(secrets: string[], messageId: string, timestamp: number, body: string): Promise<SignedHeaders> {
  const signatures = await Promise.all(secrets.map((secret) => signPayload(secret, messageId, timestamp, body)));
  return { "webhook-id": messageId, "webhook-timestamp": String(timestamp), "webhook-signature": signatures.join(" ") };
}
