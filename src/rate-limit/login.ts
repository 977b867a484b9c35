import type { Context } from "hono";
import { loadConfig } from "../env";
import type { AppEnv } from "../http/app-env";
import {
  clientBudgets,
  entriesOf,
  FIVE_MINUTES_MS,
  giveBack,
  HOUR_MS,
  rateLimitHeaderList,
  refusal,
  resolveClient,
  spend,
  take,
  type RateLimitPolicy,
} from "./middleware";
import { networkOf } from "./network";

/** One login attempt whose failure slots are already counted. */
export interface LoginAttempt {
  /** RateLimit headers for the 401 of a wrong password (the attempt stays counted as a failure) */
  failureHeaders: Record<string, string>;
  /**
   * The password was right: gives the failure slots back and counts a success, setting the response's
   * RateLimit headers; 429 when a success limit is full (the attempt then stays counted as a failure).
   */
  succeeded(): Promise<void>;
}

/**
 * Login budgets, two Durable Object calls per attempt and two more for a success:
 * - the client IP's object: `login-failures` (per IP) and, on success, `login-successes`;
 * - the email's object: `login-failures-email` (one window per client network: IPv4 /24, IPv6 /64),
 *   `login-failures-email-total` (every network, the ceiling on distributed guessing) and, on
 *   success, `login-successes-email`.
 * Failures are counted *before* the password is checked and given back on success, so a burst of
 * simultaneous guesses gets no more checks than the limits.
 */
export async function reserveLoginAttempt(c: Context<AppEnv>, email: string): Promise<LoginAttempt> {
  const limits = loadConfig(c.env).limits;
  const client = await resolveClient(c);
  const emailKey = `email:${email}`;
  const perClient: RateLimitPolicy = { name: "login-failures", limit: limits.loginFailuresPer5Min, windowMs: FIVE_MINUTES_MS };
  const perEmailNetwork: RateLimitPolicy = {
    name: "login-failures-email",
    limit: limits.loginFailuresPer5Min,
    windowMs: FIVE_MINUTES_MS,
    bucket: networkOf(client.key),
  };
  const perEmail: RateLimitPolicy = { name: "login-failures-email-total", limit: limits.loginFailuresPerHourPerEmail, windowMs: HOUR_MS };
  // Client budgets first (the proxy ceiling, then the IP): a request refused there never holds an email slot.
  const spent = await spend(c, [...(await clientBudgets(c, perClient)), { key: emailKey, policies: [perEmailNetwork, perEmail] }]);
  const [clientEntries, emailEntries] = spent.entries.slice(-2).map((taken) => taken.entries);
  // The ceiling's remaining count reflects everyone's guesses at this email: not shown to each guesser.
  const failureHeaders = rateLimitHeaderList(spent.policies.filter(([policy]) => policy !== perEmail));

  return {
    failureHeaders,
    async succeeded() {
      const ipSuccess: RateLimitPolicy = { name: "login-successes", limit: limits.loginSuccessesPerHourPerIp, windowMs: HOUR_MS };
      const emailSuccess: RateLimitPolicy = { name: "login-successes-email", limit: limits.loginSuccessesPerHourPerEmail, windowMs: HOUR_MS };
      const [ipResult, emailResult] = await Promise.all([
        take(c, client.key, [ipSuccess], clientEntries),
        take(c, emailKey, [emailSuccess], emailEntries),
      ]);
      if (!ipResult.allowed || !emailResult.allowed) {
        // The admitted side's success did not happen: take it back so each success limit stays exact.
        if (ipResult.allowed) await giveBack(c, client.key, entriesOf([ipSuccess], ipResult));
        if (emailResult.allowed) await giveBack(c, emailKey, entriesOf([emailSuccess], emailResult));
        throw emailResult.allowed ? refusal([ipSuccess], ipResult) : refusal([emailSuccess], emailResult);
      }
      const headers = rateLimitHeaderList([
        [ipSuccess, ipResult.decisions[0]!],
        [emailSuccess, emailResult.decisions[0]!],
      ]);
      for (const [name, value] of Object.entries(headers)) c.header(name, value);
    },
  };
}
