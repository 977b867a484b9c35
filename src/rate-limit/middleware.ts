import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/app-env";
import { ApiError } from "../http/errors";
import type { RateLimitDecision } from "./rate-limiter";
import { connectingIpKey } from "./client-key";

export interface RateLimitPolicy {
  name: string;
  limit: number;
  windowMs: number;
}

export const HOUR_MS = 60 * 60 * 1000;
export const FIVE_MINUTES_MS = 5 * 60 * 1000;

function limiterFor(c: Context<AppEnv>, key: string) {
  const namespace = c.env.RATE_LIMITER;
  return namespace.get(namespace.idFromName(key));
}

async function ask(c: Context<AppEnv>, key: string, policy: RateLimitPolicy, mode: "consume" | "peek"): Promise<RateLimitDecision> {
  try {
    const stub = limiterFor(c, key);
    return mode === "consume"
      ? await stub.consume(policy.name, policy.limit, policy.windowMs)
      : await stub.peek(policy.name, policy.limit, policy.windowMs);
  } catch (cause) {
    // Fail closed: an unreachable limiter must not turn into unlimited attempts.
    console.error(JSON.stringify({ msg: "rate limiter unreachable", policy: policy.name, error: String(cause) }));
    throw new ApiError(503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable, retry shortly", {}, { "Retry-After": "5" });
  }
}

export function rateLimitHeaders(policy: RateLimitPolicy, decision: RateLimitDecision): Record<string, string> {
  const headers: Record<string, string> = {
    "RateLimit-Policy": `"${policy.name}";q=${policy.limit};w=${Math.round(policy.windowMs / 1000)}`,
    RateLimit: `"${policy.name}";r=${decision.remaining};t=${decision.resetSeconds}`,
  };
  if (!decision.allowed) headers["Retry-After"] = String(decision.resetSeconds);
  return headers;
}

export function rateLimited(policy: RateLimitPolicy, decision: RateLimitDecision): ApiError {
  return new ApiError(
    429,
    "RATE_LIMITED",
    `Too many requests; retry in ${decision.resetSeconds} seconds`,
    { policy: policy.name, limit: policy.limit, windowSeconds: Math.round(policy.windowMs / 1000), retryAfterSeconds: decision.resetSeconds },
    rateLimitHeaders(policy, decision),
  );
}

export async function consume(c: Context<AppEnv>, key: string, policy: RateLimitPolicy): Promise<RateLimitDecision> {
  const decision = await ask(c, key, policy, "consume");
  if (!decision.allowed) throw rateLimited(policy, decision);
  return decision;
}

export const peek = (c: Context<AppEnv>, key: string, policy: RateLimitPolicy) => ask(c, key, policy, "peek");

/** Counts one event (a failed login, say) without refusing the current request. */
export const record = (c: Context<AppEnv>, key: string, policy: RateLimitPolicy) => ask(c, key, policy, "consume");

/** Counts every request to the route against the client's key, whatever its outcome. */
export function limitPerClient(policyOf: (c: Context<AppEnv>) => RateLimitPolicy): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const policy = policyOf(c);
    const decision = await consume(c, clientKey(c), policy);
    await next();
    for (const [name, value] of Object.entries(rateLimitHeaders(policy, decision))) c.res.headers.set(name, value);
  };
}

export function clientKey(c: Context<AppEnv>): string {
  return connectingIpKey(c.req.raw.headers);
}
