/**
 * The client network a per-(email, network) limit counts against: IPv4 by its /24, IPv6 by its /64
 * (client keys already are /64s). Someone guessing from one network exhausts only that network's
 * budget for the email; the owner signing in from anywhere else is not locked out.
 */
export function networkOf(clientKey: string): string {
  const ipv4 = /^ip4:(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}$/.exec(clientKey);
  return ipv4 ? `net4:${ipv4[1]}.0/24` : clientKey;
}
