import * as z from "../lib/zod";
import { expandIPv6 } from "hono/utils/ipaddr";
import { toHex, timingSafeEqual, utf8Bytes } from "../security/encoding";

const ipv4 = z.ipv4();
const ipv6 = z.ipv6();

/** The end user's address, as forwarded by a backend-for-frontend proxy (honoured only from a trusted proxy). */
export const FORWARDED_CLIENT_IP_HEADER = "X-Client-IP";
/** Unix time in seconds at which the proxy signed the request. */
export const PROXY_TIMESTAMP_HEADER = "X-Proxy-Timestamp";
/** `v1=` + hex HMAC-SHA256, keyed by one of TRUSTED_PROXY_SECRETS, of `timestamp|clientIp|METHOD|path`. Never logged. */
export const PROXY_SIGNATURE_HEADER = "X-Proxy-Signature";
/** A signature is accepted this long either side of the Worker's clock. */
export const PROXY_SIGNATURE_TOLERANCE_SECONDS = 60;

/**
 * The rate-limit key for an address: IPv4 as-is, IPv6 by its /64 (one subscriber usually
 * holds a whole /64, so per-address keys would be free to rotate). Null for anything that
 * is not a syntactically valid address.
 */
export function ipKey(raw: string | null | undefined): string | null {
  const address = parseIp(raw);
  if (!address) return null;
  if (address.version === 4) return `ip4:${address.text}`;
  return `ip6:${address.hextets.slice(0, 4).join(":")}::/64`;
}

interface ParsedIp {
  version: 4 | 6;
  /** IPv4: dotted quad; IPv6: 8 four-digit lower-case hextets joined by ":" */
  text: string;
  hextets: string[];
  /** the address as a number (32 or 128 bits) */
  value: bigint;
}

function ipv4Value(dotted: string): bigint {
  return dotted.split(".").reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d, also written ::ffff:0102:0304) is the IPv4 address itself. */
function parseIp(raw: string | null | undefined): ParsedIp | null {
  const value = raw?.trim();
  if (!value) return null;
  if (ipv4.safeParse(value).success) return { version: 4, text: value, hextets: [], value: ipv4Value(value) };
  if (!ipv6.safeParse(value).success) return null;
  // Lower-cased before expanding: "2001:DB8::1" and "2001:db8::1" must share a key.
  const hextets = expandIPv6(value.toLowerCase()).split(":");
  if (hextets.length !== 8) return null;
  if (hextets.slice(0, 5).every((hextet) => hextet === "0000") && hextets[5] === "ffff") {
    const high = Number.parseInt(hextets[6]!, 16);
    const low = Number.parseInt(hextets[7]!, 16);
    const dotted = `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
    return { version: 4, text: dotted, hextets: [], value: ipv4Value(dotted) };
  }
  return { version: 6, text: hextets.join(":"), hextets, value: BigInt(`0x${hextets.join("")}`) };
}

/** Cloudflare sets CF-Connecting-IP on every request at the edge; X-Forwarded-For is client-controlled. */
export function connectingIpKey(headers: Headers): string {
  return ipKey(headers.get("CF-Connecting-IP")) ?? "ip:unknown";
}

/** A TRUSTED_PROXY_CIDRS entry: an IPv4 or IPv6 network, like nginx's `set_real_ip_from`. */
export interface Cidr {
  version: 4 | 6;
  network: bigint;
  prefix: number;
}

/** "192.0.2.0/24", "2001:db8::/32", or a bare address (a /32 or /128). Null if malformed or the host bits are set. */
export function parseCidr(entry: string): Cidr | null {
  const [address, prefixText, extra] = entry.trim().split("/");
  if (extra !== undefined) return null;
  const parsed = parseIp(address);
  if (!parsed) return null;
  const bits = parsed.version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return null;
  const hostBits = BigInt(bits - prefix);
  if ((parsed.value & ((1n << hostBits) - 1n)) !== 0n) return null;
  return { version: parsed.version, network: parsed.value, prefix };
}

export function inCidrs(raw: string | null, cidrs: readonly Cidr[]): boolean {
  const address = parseIp(raw);
  if (!address || cidrs.length === 0) return false;
  const bits = address.version === 4 ? 32 : 128;
  return cidrs.some((cidr) => cidr.version === address.version && address.value >> BigInt(bits - cidr.prefix) === cidr.network >> BigInt(bits - cidr.prefix));
}

export interface ProxyTrust {
  /** TRUSTED_PROXY_SECRETS: HMAC keys of proxies that sign */
  secrets: readonly string[];
  /** TRUSTED_PROXY_CIDRS: connecting addresses trusted without a signature */
  cidrs: readonly Cidr[];
}

export interface ResolvedClient {
  /** whom the per-client limits count against: the forwarded end user, or the connection */
  key: string;
  /** true when a trusted proxy vouched for `key`; the connection then also spends the proxy ceiling */
  viaProxy: boolean;
  /** the connecting IP's key (the proxy's, when viaProxy) */
  connectionKey: string;
}

const hmacKeys = new Map<string, Promise<CryptoKey>>();

/** Imported once per isolate, keyed by the secret string. */
function hmacKey(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", utf8Bytes(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    hmacKeys.set(secret, key);
  }
  return key;
}

/** What a proxy signs: `timestamp|clientIp|METHOD|path` (the path without the query string, as sent). */
export const proxySignedMessage = (timestamp: string, clientIp: string, method: string, path: string) =>
  `${timestamp}|${clientIp}|${method.toUpperCase()}|${path}`;

export async function signProxyRequest(secret: string, message: string): Promise<string> {
  return `v1=${toHex(await crypto.subtle.sign("HMAC", await hmacKey(secret), utf8Bytes(message)))}`;
}

/**
 * True when the signature is a fresh HMAC of this request under one of the secrets. Every secret
 * is tried (no early exit) and compared in constant time, so timing does not reveal which matched.
 */
export async function isValidProxySignature(
  request: { method: string; path: string; headers: Headers },
  secrets: readonly string[],
  now = Date.now(),
): Promise<boolean> {
  const timestamp = request.headers.get(PROXY_TIMESTAMP_HEADER);
  const signature = request.headers.get(PROXY_SIGNATURE_HEADER);
  const clientIp = request.headers.get(FORWARDED_CLIENT_IP_HEADER);
  if (secrets.length === 0 || !timestamp || !signature || clientIp === null) return false;
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(Number(timestamp) - now / 1000) > PROXY_SIGNATURE_TOLERANCE_SECONDS) return false;
  const presented = utf8Bytes(signature.trim().toLowerCase());
  const message = proxySignedMessage(timestamp, clientIp, request.method, request.path);
  let valid = false;
  for (const secret of secrets) valid = timingSafeEqual(presented, utf8Bytes(await signProxyRequest(secret, message))) || valid;
  return valid;
}

/**
 * The forwarded end-user IP counts only when it is a valid address and the request comes from a
 * trusted proxy: one whose connecting address is in TRUSTED_PROXY_CIDRS, or one that signed this
 * very request (method, path, client IP) within the last minute. Otherwise — no proof, a wrong or
 * stale signature, a signature for another request — it is silently ignored and the connecting IP
 * is the client, as for anyone.
 */
export async function resolveClient(request: Request, trust: ProxyTrust, now = Date.now()): Promise<ResolvedClient> {
  const headers = request.headers;
  const connectionKey = connectingIpKey(headers);
  const forwardedKey = ipKey(headers.get(FORWARDED_CLIENT_IP_HEADER));
  if (forwardedKey) {
    const trusted =
      inCidrs(headers.get("CF-Connecting-IP"), trust.cidrs) ||
      (await isValidProxySignature({ method: request.method, path: new URL(request.url).pathname, headers }, trust.secrets, now));
    if (trusted) return { key: forwardedKey, viaProxy: true, connectionKey };
  }
  return { key: connectionKey, viaProxy: false, connectionKey };
}
