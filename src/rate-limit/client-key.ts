import { z } from "zod";
import { expandIPv6 } from "hono/utils/ipaddr";

const ipv4 = z.ipv4();
const ipv6 = z.ipv6();

/**
 * The rate-limit key for an address: IPv4 as-is, IPv6 by its /64 (one subscriber usually
 * holds a whole /64, so per-address keys would be free to rotate). Null for anything that
 * is not a syntactically valid address.
 */
export function ipKey(raw: string | null | undefined): string | null {
  const value = raw?.trim();
  if (!value) return null;
  if (ipv4.safeParse(value).success) return `ip4:${value}`;
  if (ipv6.safeParse(value).success) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(value);
    if (mapped && ipv4.safeParse(mapped[1]).success) return `ip4:${mapped[1]}`;
    const hextets = expandIPv6(value).split(":").slice(0, 4);
    return `ip6:${hextets.join(":")}::/64`;
  }
  return null;
}

/** Cloudflare sets CF-Connecting-IP on every request at the edge; X-Forwarded-For is client-controlled. */
export function connectingIpKey(headers: Headers): string {
  return ipKey(headers.get("CF-Connecting-IP")) ?? "ip:unknown";
}
