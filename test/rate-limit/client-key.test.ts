import { describe, expect, it } from "vitest";
import {
  inCidrs,
  ipKey,
  isValidProxySignature,
  parseCidr,
  proxySignedMessage,
  resolveClient,
  signProxyRequest,
  type Cidr,
} from "../../src/rate-limit/client-key";

describe("ipKey", () => {
  it.each([
    ["IPv4", "203.0.113.7", "ip4:203.0.113.7"],
    ["IPv4 with surrounding whitespace", " 203.0.113.7 ", "ip4:203.0.113.7"],
    ["IPv6 in full", "2001:0db8:0001:0002:0003:0004:0005:0006", "ip6:2001:0db8:0001:0002::/64"],
    ["IPv6 compressed", "2001:db8:1:2::6", "ip6:2001:0db8:0001:0002::/64"],
    ["IPv6 in upper case", "2001:DB8:1:2::6", "ip6:2001:0db8:0001:0002::/64"],
    ["IPv6 with the prefix compressed", "2001:db8::1", "ip6:2001:0db8:0000:0000::/64"],
    ["IPv6 loopback", "::1", "ip6:0000:0000:0000:0000::/64"],
    ["IPv4-mapped IPv6, dotted", "::ffff:198.51.100.9", "ip4:198.51.100.9"],
    ["IPv4-mapped IPv6, upper case", "::FFFF:198.51.100.9", "ip4:198.51.100.9"],
    ["IPv4-mapped IPv6, in hex", "::ffff:c633:6409", "ip4:198.51.100.9"],
  ])("%s", (_label, input, key) => {
    expect(ipKey(input)).toBe(key);
  });

  it("gives one key to every address of one IPv6 /64 and different keys to different /64s", () => {
    const sameSubnet = ["2001:db8:aa:bb::1", "2001:db8:aa:bb:ffff:ffff:ffff:ffff", "2001:0db8:00aa:00bb:1234:5678:9abc:def0"].map(ipKey);
    expect(new Set(sameSubnet).size).toBe(1);
    expect(ipKey("2001:db8:aa:bc::1")).not.toBe(sameSubnet[0]);
    expect(ipKey("2001:db8:aa::1")).not.toBe(sameSubnet[0]);
  });

  it("keeps IPv4 addresses apart", () => {
    expect(ipKey("10.0.0.1")).not.toBe(ipKey("10.0.0.2"));
  });

  it.each([
    ["empty", ""],
    ["whitespace", "   "],
    ["null", null],
    ["undefined", undefined],
    ["a word", "localhost"],
    ["an out-of-range octet", "256.1.1.1"],
    ["leading zeros", "010.0.0.1"],
    ["too few octets", "10.0.1"],
    ["an address with a port", "10.0.0.1:443"],
    ["a bracketed IPv6", "[2001:db8::1]"],
    ["an IPv6 zone", "fe80::1%eth0"],
    ["a CIDR range", "10.0.0.0/8"],
    ["two addresses", "10.0.0.1, 10.0.0.2"],
    ["too many hextets", "1:2:3:4:5:6:7:8:9"],
    ["two double colons", "2001::db8::1"],
  ])("rejects %s", (_label, input) => {
    expect(ipKey(input)).toBeNull();
  });
});

describe("resolveClient", () => {
  const secret = "s".repeat(40);
  const NOW = Date.parse("2026-12-01T12:00:00.000Z");
  const path = "/api/v1/invites/inv_x/register";
  const cidrs = (...entries: string[]) => entries.map((entry) => parseCidr(entry) as Cidr);

  async function signed(values: { clientIp?: string; timestamp?: number; sign?: { method?: string; path?: string; clientIp?: string } } = {}) {
    const clientIp = values.clientIp ?? "203.0.113.5";
    const timestamp = String(values.timestamp ?? NOW / 1000);
    const message = proxySignedMessage(timestamp, values.sign?.clientIp ?? clientIp, values.sign?.method ?? "POST", values.sign?.path ?? path);
    return { "X-Client-IP": clientIp, "X-Proxy-Timestamp": timestamp, "X-Proxy-Signature": await signProxyRequest(secret, message) };
  }
  const request = (headers: Record<string, string>, from = "192.0.2.1") =>
    new Request(`https://api.test${path}?ignored=1`, { method: "POST", headers: { "CF-Connecting-IP": from, ...headers } });
  const asToday = { key: "ip4:192.0.2.1", viaProxy: false, connectionKey: "ip4:192.0.2.1" };

  it("uses the forwarded IP only with a fresh signature of this request (the query string is not signed)", async () => {
    const trust = { secrets: [secret], cidrs: [] };
    await expect(resolveClient(request(await signed()), trust, NOW)).resolves.toEqual({ key: "ip4:203.0.113.5", viaProxy: true, connectionKey: "ip4:192.0.2.1" });
    await expect(resolveClient(request({ "X-Client-IP": "203.0.113.5" }), trust, NOW)).resolves.toEqual(asToday);
    await expect(resolveClient(request(await signed()), { secrets: [], cidrs: [] }, NOW)).resolves.toEqual(asToday);
    await expect(resolveClient(request(await signed({ clientIp: "garbage" })), trust, NOW)).resolves.toEqual(asToday);
    await expect(resolveClient(request({ ...(await signed()), "X-Client-IP": "203.0.113.6" }), trust, NOW)).resolves.toEqual(asToday);
    await expect(resolveClient(request(await signed({ sign: { path: "/api/v1/tenants" } })), trust, NOW)).resolves.toEqual(asToday);
    await expect(resolveClient(request(await signed({ sign: { method: "GET" } })), trust, NOW)).resolves.toEqual(asToday);
    await expect(resolveClient(request(await signed({ timestamp: NOW / 1000 - 61 })), trust, NOW)).resolves.toEqual(asToday);
    await expect(resolveClient(request(await signed({ timestamp: NOW / 1000 + 61 })), trust, NOW)).resolves.toEqual(asToday);
    await expect(resolveClient(request(await signed({ timestamp: NOW / 1000 - 60 })), trust, NOW)).resolves.toMatchObject({ viaProxy: true });
  });

  it("accepts a signature under any configured secret and nothing else", async () => {
    const [current, previous] = ["c".repeat(40), "p".repeat(40)];
    const message = proxySignedMessage(String(NOW / 1000), "203.0.113.5", "POST", path);
    const check = (signature: string | null, secrets = [current, previous]) =>
      isValidProxySignature({ method: "POST", path, headers: new Headers({ "X-Client-IP": "203.0.113.5", "X-Proxy-Timestamp": String(NOW / 1000), ...(signature === null ? {} : { "X-Proxy-Signature": signature }) }) }, secrets, NOW);
    expect(await check(await signProxyRequest(current, message))).toBe(true);
    expect(await check(await signProxyRequest(previous, message))).toBe(true);
    expect(await check((await signProxyRequest(current, message)).toUpperCase().replace("V1=", "v1="))).toBe(true);
    const valid = await signProxyRequest(current, message);
    for (const wrong of [null, "", valid.slice(0, -1), `${valid}0`, valid.replace("v1=", "v2="), await signProxyRequest("x".repeat(40), message), current]) {
      expect(await check(wrong), String(wrong)).toBe(false);
    }
    expect(await check(valid, [previous])).toBe(false);
  });

  it("TRUSTED_PROXY_CIDRS: a connecting address in a listed network vouches for X-Client-IP without a signature", async () => {
    const trust = { secrets: [], cidrs: cidrs("198.51.100.0/24", "2001:db8:bff::/48", "192.0.2.7") };
    await expect(resolveClient(request({ "X-Client-IP": "203.0.113.5" }, "198.51.100.200"), trust)).resolves.toEqual({
      key: "ip4:203.0.113.5",
      viaProxy: true,
      connectionKey: "ip4:198.51.100.200",
    });
    await expect(resolveClient(request({ "X-Client-IP": "203.0.113.5" }, "2001:db8:bff:1::1"), trust)).resolves.toMatchObject({ viaProxy: true });
    await expect(resolveClient(request({ "X-Client-IP": "203.0.113.5" }, "192.0.2.7"), trust)).resolves.toMatchObject({ viaProxy: true });
    await expect(resolveClient(request({ "X-Client-IP": "203.0.113.5" }, "192.0.2.8"), trust)).resolves.toMatchObject({ viaProxy: false });
    await expect(resolveClient(request({ "X-Client-IP": "203.0.113.5" }, "2001:db8:bfe::1"), trust)).resolves.toMatchObject({ viaProxy: false });
    // without X-Client-IP the proxy is just a client
    await expect(resolveClient(request({}, "198.51.100.200"), trust)).resolves.toMatchObject({ key: "ip4:198.51.100.200", viaProxy: false });
  });

  it.each([
    ["10.0.0.0/8", "10.255.0.1", true],
    ["10.0.0.0/8", "11.0.0.1", false],
    ["0.0.0.0/0", "203.0.113.9", true],
    ["0.0.0.0/0", "2001:db8::1", false],
    ["203.0.113.9", "203.0.113.9", true],
    ["203.0.113.9/32", "203.0.113.10", false],
    ["2001:db8::/32", "2001:0DB8:ffff::1", true],
    ["2001:db8::/32", "2001:db9::1", false],
    ["::/0", "::1", true],
    ["198.51.100.0/24", "::ffff:198.51.100.4", true],
    ["2001:db8::1", "2001:db8::1", true],
  ])("%s contains %s: %s", (entry, address, expected) => {
    expect(inCidrs(address, cidrs(entry))).toBe(expected);
  });

  it.each([["10.0.0.0/33"], ["10.0.0.1/8"], ["2001:db8::1/32"], ["2001:db8::/129"], ["10.0.0.0/"], ["10.0.0.0/-1"], ["/8"], ["10.0.0.0/8/8"], ["host.example"], [""]])(
    "refuses the CIDR %s",
    (entry) => {
      expect(parseCidr(entry)).toBeNull();
    },
  );
});
