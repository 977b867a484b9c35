import { z } from "zod";
import { expandIPv6 } from "hono/utils/ipaddr";
import { timingSafeEqual, utf8Bytes } from "../security/encoding";

const ipv4 = z.ipv4();
const ipv6 = z.ipv6();

/** The end user's address, as forwarded by a backend-for-frontend proxy (honoured only with a valid secret). */
export const FORWARDED_CLIENT_IP_HEADER = "X-Client-IP";
/** One of the TRUSTED_PROXY_SECRETS: proves the request comes from a configured proxy. Never logged. */
export const PROXY_SECRET_HEADER = "X-Proxy-Secret";

/**
 * The rate-limit key for an address: IPv4 as-is, IPv6 by its /64 (one subscriber usually
 * holds a whole /64, so per-address keys would be free to rotate). Null for anything that
 * is not a syntactically valid address.
 */
export function ipKey(raw: string | null | undefined): string | null {
  const value = raw?.trim();
  if (!value) return null;
  if (ipv4.safeParse(value).success) return `ip4:${value}`;
  if (!ipv6.safeParse(value).success) return null;
  // Lower-cased before expanding: "2001:DB8::1" and "2001:db8::1" must share a key.
  const hextets = expandIPv6(value.toLowerCase()).split(":");
  if (hextets.length !== 8) return null;
  // IPv4-mapped (::ffff:a.b.c.d, also written ::ffff:0102:0304) is the IPv4 client itself.
  if (hextets.slice(0, 5).every((hextet) => hextet === "0000") && hextets[5] === "ffff") {
    const high = Number.parseInt(hextets[6]!, 16);
    const low = Number.parseInt(hextets[7]!, 16);
    return `ip4:${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  return `ip6:${hextets.slice(0, 4).join(":")}::/64`;
}

/** Cloudflare sets CF-Connecting-IP on every request at the edge; X-Forwarded-For is client-controlled. */
export function connectingIpKey(headers: Headers): string {
  return ipKey(headers.get("CF-Connecting-IP")) ?? "ip:unknown";
}

export interface ResolvedClient {
  /** whom the per-client limits count against: the forwarded end user, or the connection */
  key: string;
  /** true when a trusted proxy vouched for `key`; the connection then also spends the proxy ceiling */
  viaProxy: boolean;
  /** the connecting IP's key (the proxy's, when viaProxy) */
  connectionKey: string;
}

async function sha256(value: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", utf8Bytes(value)));
}

/**
 * Digests first, so the comparison is fixed-length and says nothing about the secrets' lengths;
 * every configured secret is compared (no early exit), so timing does not reveal which one matched.
 */
export async function isTrustedProxySecret(presented: string | null, secrets: readonly string[]): Promise<boolean> {
  if (!presented || secrets.length === 0) return false;
  const presentedDigest = await sha256(presented);
  let trusted = false;
  for (const secret of secrets) trusted = timingSafeEqual(presentedDigest, await sha256(secret)) || trusted;
  return trusted;
}

/**
 * The forwarded end-user IP counts only when it is a valid address and the request carries one of
 * the trusted proxy secrets; otherwise it is silently ignored and the connecting IP is the client.
 */
export async function resolveClient(headers: Headers, trustedProxySecrets: readonly string[]): Promise<ResolvedClient> {
  const connectionKey = connectingIpKey(headers);
  const forwardedKey = ipKey(headers.get(FORWARDED_CLIENT_IP_HEADER));
  if (forwardedKey && (await isTrustedProxySecret(headers.get(PROXY_SECRET_HEADER), trustedProxySecrets))) {
    return { key: forwardedKey, viaProxy: true, connectionKey };
  }
  return { key: connectionKey, viaProxy: false, connectionKey };
}
