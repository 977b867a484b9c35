import type { Context, MiddlewareHandler } from "hono";
import { loadConfig } from "../env";
import type { AppEnv } from "../http/app-env";
import { ApiError } from "../http/errors";
import type { RateLimitDecision } from "./rate-limiter";
import { resolveClient as resolveClientFromHeaders, type ResolvedClient } from "./client-key";

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

/** An attempt counted up front; `release()` takes it back if the attempt turns out not to count. */
export interface Reservation {
  release(): Promise<void>;
}

/**
 * Counts one attempt in every budget before the work it limits (a password check, say), refusing
 * with 429 if any budget is full. Counting first is what keeps a limit exact under concurrency: a
 * check-then-record sequence lets a burst of simultaneous attempts all pass the check.
 */
export async function reserve(c: Context<AppEnv>, budgets: Budget[]): Promise<Reservation> {
  const taken: Array<{ key: string; policy: RateLimitPolicy; recordedAt: number }> = [];
  const release = async () => {
    await Promise.all(
      taken.map(async ({ key, policy, recordedAt }) => {
        try {
          await limiterFor(c, key).release(policy.name, recordedAt);
        } catch (cause) {
          // The slot simply stays counted until it leaves the window: fail closed, never open.
          console.error(JSON.stringify({ msg: "rate limiter release failed", policy: policy.name, error: String(cause) }));
        }
      }),
    );
  };
  try {
    for (const { key, policy } of budgets) {
      const decision = await consume(c, key, policy);
      if (decision.recordedAt !== null) taken.push({ key, policy, recordedAt: decision.recordedAt });
    }
  } catch (error) {
    await release();
    throw error;
  }
  return { release };
}


const resolvedClients = new WeakMap<Request, Promise<ResolvedClient>>();

/** Who the per-client limits count against on this request (resolved once per request). */
export function resolveClient(c: Context<AppEnv>): Promise<ResolvedClient> {
  let resolved = resolvedClients.get(c.req.raw);
  if (!resolved) {
    resolved = resolveClientFromHeaders(c.req.raw.headers, loadConfig(c.env).trustedProxySecrets);
    resolvedClients.set(c.req.raw, resolved);
  }
  return resolved;
}

export interface Budget {
  key: string;
  policy: RateLimitPolicy;
}

const trustedProxyPolicy = (c: Context<AppEnv>): RateLimitPolicy => ({
  name: "trusted-proxy",
  limit: loadConfig(c.env).limits.trustedProxyPerHour,
  windowMs: HOUR_MS,
});

/**
 * The budgets one counted event under a per-client `policy` spends: the client's own, and, when a
 * trusted proxy forwarded the end user's IP, the proxy connection's shared ceiling (so a leaked
 * proxy secret cannot buy unlimited attempts by inventing IPs). The ceiling comes first: a proxy
 * over its ceiling is refused before an end user's budget is spent on the request.
 */
export async function clientBudgets(c: Context<AppEnv>, policy: RateLimitPolicy): Promise<Budget[]> {
  const client = await resolveClient(c);
  const own = { key: client.key, policy };
  return client.viaProxy ? [{ key: client.connectionKey, policy: trustedProxyPolicy(c) }, own] : [own];
}

/** Counts every request to the route against the client's budgets, whatever its outcome. */
export function limitPerClient(policyOf: (c: Context<AppEnv>) => RateLimitPolicy): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const spent: Array<[RateLimitPolicy, RateLimitDecision]> = [];
    for (const { key, policy } of await clientBudgets(c, policyOf(c))) spent.push([policy, await consume(c, key, policy)]);
    await next();
    // RateLimit-Policy and RateLimit are lists: one member per budget this request spent.
    const headers = spent.map(([policy, decision]) => rateLimitHeaders(policy, decision));
    for (const name of ["RateLimit-Policy", "RateLimit"]) c.res.headers.set(name, headers.map((h) => h[name]).join(", "));
  };
}
