import { describe, expect, it } from "vitest";
import { ipKey, isTrustedProxySecret, resolveClient } from "../../src/rate-limit/client-key";

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
  const headers = (values: Record<string, string>) => new Headers({ "CF-Connecting-IP": "192.0.2.1", ...values });

  it("uses the forwarded IP only with a trusted secret", async () => {
    await expect(resolveClient(headers({ "X-Client-IP": "203.0.113.5", "X-Proxy-Secret": secret }), [secret])).resolves.toEqual({
      key: "ip4:203.0.113.5",
      viaProxy: true,
      connectionKey: "ip4:192.0.2.1",
    });
    const asToday = { key: "ip4:192.0.2.1", viaProxy: false, connectionKey: "ip4:192.0.2.1" };
    await expect(resolveClient(headers({ "X-Client-IP": "203.0.113.5" }), [secret])).resolves.toEqual(asToday);
    await expect(resolveClient(headers({ "X-Client-IP": "203.0.113.5", "X-Proxy-Secret": secret }), [])).resolves.toEqual(asToday);
    await expect(resolveClient(headers({ "X-Client-IP": "garbage", "X-Proxy-Secret": secret }), [secret])).resolves.toEqual(asToday);
    await expect(resolveClient(headers({ "X-Proxy-Secret": secret }), [secret])).resolves.toEqual(asToday);
  });

  it("accepts any configured secret and nothing else", async () => {
    const [current, previous] = ["c".repeat(40), "p".repeat(40)];
    expect(await isTrustedProxySecret(current, [current, previous])).toBe(true);
    expect(await isTrustedProxySecret(previous, [current, previous])).toBe(true);
    for (const wrong of [null, "", "c".repeat(39), "c".repeat(41), "C".repeat(40)]) expect(await isTrustedProxySecret(wrong, [current, previous])).toBe(false);
  });
});
