import type { Context } from "hono";
import { loadConfig } from "../env";
import type { AppEnv } from "../http/app-env";
import { clientBudgets, FIVE_MINUTES_MS, HOUR_MS, rateLimitHeaderList, resolveClient, spend, type RateLimitPolicy } from "./middleware";
import { networkOf } from "./network";

/**
 * Counts one login attempt whose outcome is known, in ONE Durable Object call carrying every policy
 * (src/rate-limit/middleware.ts spend: the email's object asks the client's itself):
 * - the client IP's object: `login-failures` (per IP) and `login-successes`;
 * - the email's object: `login-failures-email` (one window per client network: IPv4 /24, IPv6 /64),
 *   `login-failures-email-total` (every network, the ceiling on distributed guessing) and
 *   `login-successes-email`.
 * A wrong password (unknown email, inactive account alike) is recorded in the failure windows; a right
 * one in the success windows, and it also needs room in every failure window (a locked-out network
 * stays locked out for the right password too). Refused: 429, and the response says nothing about the
 * password. The password is checked before this call, so its outcome is only ever *answered* within
 * the limits — a burst of simultaneous guesses gets exactly `limit` answers, the rest 429 — at the
 * price of a hash for a request that is then refused.
 * Returns the RateLimit headers for the response (the client's own windows, never the ceiling's).
 */
export async function countLoginAttempt(c: Context<AppEnv>, email: string, succeeded: boolean): Promise<Record<string, string>> {
  const limits = loadConfig(c.env).limits;
  const client = await resolveClient(c);
  const checkOnly = (policy: RateLimitPolicy): RateLimitPolicy => (succeeded ? { ...policy, record: false } : policy);
  const perClient = checkOnly({ name: "login-failures", limit: limits.loginFailuresPer5Min, windowMs: FIVE_MINUTES_MS });
  const perEmailNetwork = checkOnly({ name: "login-failures-email", limit: limits.loginFailuresPer5Min, windowMs: FIVE_MINUTES_MS, bucket: networkOf(client.key) });
  const perEmail = checkOnly({ name: "login-failures-email-total", limit: limits.loginFailuresPerHourPerEmail, windowMs: HOUR_MS });
  const ipSuccess: RateLimitPolicy = { name: "login-successes", limit: limits.loginSuccessesPerHourPerIp, windowMs: HOUR_MS };
  const emailSuccess: RateLimitPolicy = { name: "login-successes-email", limit: limits.loginSuccessesPerHourPerEmail, windowMs: HOUR_MS };
  // Client budgets first (the proxy ceiling, then the IP): a request refused there never holds an email slot.
  const spent = await spend(c, [
    ...(await clientBudgets(c, ...(succeeded ? [perClient, ipSuccess] : [perClient]))),
    { key: `email:${email}`, policies: succeeded ? [perEmailNetwork, perEmail, emailSuccess] : [perEmailNetwork, perEmail] },
  ]);
  // A success shows its success windows; a failure its failure windows. The ceiling's remaining count
  // reflects everyone's guesses at this email: not shown to each guesser.
  const shown = succeeded ? [ipSuccess, emailSuccess] : [perClient, perEmailNetwork];
  return rateLimitHeaderList(spent.policies.filter(([policy]) => shown.includes(policy)));
}
