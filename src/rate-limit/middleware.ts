import type { Context, MiddlewareHandler } from "hono";
import { loadConfig } from "../env";
import type { AppEnv } from "../http/app-env";
import { ApiError } from "../http/errors";
import { recordedEntries, type LimitRule, type RateLimitDecision, type TakenEntry, type TakeResult } from "./rate-limiter";
import { resolveClient as resolveClientFromRequest, type ResolvedClient } from "./client-key";

export interface RateLimitPolicy {
  /** the public name (RateLimit headers, 429 details) */
  name: string;
  limit: number;
  windowMs: number;
  /** slots this request spends (default 1) */
  cost?: number;
  /**
   * The window's name inside the key's object, when one object keeps several windows of this policy
   * (`${name}@${bucket}`, e.g. one per client network in an email's object). Windows of one policy
   * are pruned together, so buckets no caller returns to do not pile up.
   */
  bucket?: string;
  /** false: the window must have room, but this request is not counted in it */
  record?: false;
}

export const HOUR_MS = 60 * 60 * 1000;
export const FIVE_MINUTES_MS = 5 * 60 * 1000;

/** Budgets spent in one Durable Object call: every policy of one key. */
export interface KeyBudget {
  key: string;
  policies: RateLimitPolicy[];
}

/** A policy a request spent, with the decision that admitted it (for the RateLimit headers). */
export type SpentPolicy = [RateLimitPolicy, RateLimitDecision];

/** What one spend() recorded: per key, the entries to give back if the request turns out not to count. */
export interface Spent {
  policies: SpentPolicy[];
  entries: Array<{ key: string; entries: TakenEntry[] }>;
}

const ruleOf = (policy: RateLimitPolicy): LimitRule => ({
  policy: policy.bucket === undefined ? policy.name : `${policy.name}@${policy.bucket}`,
  limit: policy.limit,
  windowMs: policy.windowMs,
  ...(policy.cost === undefined ? {} : { cost: policy.cost }),
  ...(policy.bucket === undefined ? {} : { family: policy.name }),
  ...(policy.record === false ? { record: false } : {}),
});

/** Object ids by key, per namespace and isolate: idFromName hashes the key every time (stubs are per request, ids are not). */
const objectIds = new WeakMap<object, Map<string, DurableObjectId>>();
const OBJECT_IDS_KEPT = 1024;

function limiterFor(c: Context<AppEnv>, key: string) {
  const namespace = c.env.RATE_LIMITER;
  let ids = objectIds.get(namespace);
  if (!ids) objectIds.set(namespace, (ids = new Map()));
  let id = ids.get(key);
  if (!id) {
    id = namespace.idFromName(key);
    if (ids.size >= OBJECT_IDS_KEPT) ids.delete(ids.keys().next().value as string);
    ids.set(key, id);
  }
  return namespace.get(id);
}

function unavailable(what: string, cause: unknown): ApiError {
  // Fail closed: an unreachable limiter must not turn into unlimited attempts.
  console.error(JSON.stringify({ msg: "rate limiter unreachable", key: what, error: String(cause) }));
  return new ApiError(503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable, retry shortly", {}, { "Retry-After": "5" });
}

/** One Durable Object call: all of `policies` on `key`, all or nothing, giving back `giveBack` if admitted. */
export async function take(c: Context<AppEnv>, key: string, policies: RateLimitPolicy[], giveBack: TakenEntry[] = []): Promise<TakeResult> {
  try {
    return await limiterFor(c, key).take(policies.map(ruleOf), giveBack);
  } catch (cause) {
    throw unavailable(policies.map((p) => p.name).join(","), cause);
  }
}

/** Takes back entries recorded earlier; a failure leaves them counted until they leave the window (closed, never open). */
export async function giveBack(c: Context<AppEnv>, key: string, entries: TakenEntry[]): Promise<void> {
  if (entries.length === 0) return;
  try {
    await limiterFor(c, key).take([], entries);
  } catch (cause) {
    console.error(JSON.stringify({ msg: "rate limiter release failed", policies: entries.map((e) => e.policy), error: String(cause) }));
  }
}

export const entriesOf = (policies: RateLimitPolicy[], result: TakeResult): TakenEntry[] => recordedEntries(policies.map(ruleOf), result);

export function rateLimitHeaders(policy: RateLimitPolicy, decision: RateLimitDecision): Record<string, string> {
  const headers: Record<string, string> = {
    "RateLimit-Policy": `"${policy.name}";q=${policy.limit};w=${Math.round(policy.windowMs / 1000)}`,
    RateLimit: `"${policy.name}";r=${decision.remaining};t=${decision.resetSeconds}`,
  };
  if (!decision.allowed) headers["Retry-After"] = String(decision.resetSeconds);
  return headers;
}

/** RateLimit-Policy and RateLimit are lists: one member per policy the request spent. */
export function rateLimitHeaderList(spent: SpentPolicy[]): Record<string, string> {
  if (spent.length === 0) return {};
  const headers = spent.map(([policy, decision]) => rateLimitHeaders(policy, decision));
  return Object.fromEntries(["RateLimit-Policy", "RateLimit"].map((name) => [name, headers.map((h) => h[name]).join(", ")]));
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

/** The 429 for a refused take(): the first policy that had no room. */
export function refusal(policies: RateLimitPolicy[], result: TakeResult): ApiError {
  const index = result.decisions.findIndex((decision) => !decision.allowed);
  return rateLimited(policies[index]!, result.decisions[index]!);
}

/**
 * Spends one slot of every budget, key by key in order, in ONE Durable Object call: the last key's
 * object asks the earlier keys' objects itself (RateLimiter.takeAll), so a request with a proxy
 * ceiling, a client and an email budget still waits on a single call. Refuses with 429 at the first
 * full budget; the earlier keys' slots are then given back and later keys are never asked. Counting
 * before the work it limits is what keeps a limit exact under concurrency: a check-then-record
 * sequence lets a burst of simultaneous requests all pass the check.
 */
export async function spend(c: Context<AppEnv>, budgets: KeyBudget[]): Promise<Spent> {
  const spent: Spent = { policies: [], entries: [] };
  const last = budgets[budgets.length - 1];
  if (!last) return spent;
  let results: TakeResult[];
  try {
    const limiter = limiterFor(c, last.key);
    results =
      budgets.length === 1
        ? [await limiter.take(last.policies.map(ruleOf))]
        : await limiter.takeAll(budgets.map(({ key, policies }) => ({ key, rules: policies.map(ruleOf) })));
  } catch (cause) {
    throw unavailable(budgets.flatMap(({ policies }) => policies.map((p) => p.name)).join(","), cause);
  }
  for (const [i, result] of results.entries()) {
    const { key, policies } = budgets[i]!;
    if (!result.allowed) throw refusal(policies, result);
    policies.forEach((policy, j) => spent.policies.push([policy, result.decisions[j]!]));
    spent.entries.push({ key, entries: entriesOf(policies, result) });
  }
  return spent;
}

/** Gives back everything one spend() recorded (a request that turned out not to count). */
export const giveBackAll = (c: Context<AppEnv>, spent: Spent): Promise<unknown> =>
  Promise.all(spent.entries.map((taken) => giveBack(c, taken.key, taken.entries)));

/** Spends `budgets` and sets the RateLimit headers of the response being built. */
export async function limit(c: Context<AppEnv>, budgets: KeyBudget[]): Promise<Spent> {
  const spent = await spend(c, budgets);
  for (const [name, value] of Object.entries(rateLimitHeaderList(spent.policies))) c.header(name, value);
  return spent;
}

const resolvedClients = new WeakMap<Request, Promise<ResolvedClient>>();

/** Who the per-client limits count against on this request (resolved once per request). */
export function resolveClient(c: Context<AppEnv>): Promise<ResolvedClient> {
  let resolved = resolvedClients.get(c.req.raw);
  if (!resolved) {
    const config = loadConfig(c.env);
    resolved = resolveClientFromRequest(c.req.raw, { secrets: config.trustedProxySecrets, cidrs: config.trustedProxyCidrs });
    resolvedClients.set(c.req.raw, resolved);
  }
  return resolved;
}

const trustedProxyPolicy = (c: Context<AppEnv>): RateLimitPolicy => ({
  name: "trusted-proxy",
  limit: loadConfig(c.env).limits.trustedProxyPerHour,
  windowMs: HOUR_MS,
});

/**
 * The budgets one counted event under per-client `policies` spends: the client's own, and, when a
 * trusted proxy forwarded the end user's IP, the proxy connection's shared ceiling (so a leaked
 * proxy secret cannot buy unlimited attempts by inventing IPs). The ceiling comes first: a proxy
 * over its ceiling is refused before an end user's budget is spent on the request.
 */
export async function clientBudgets(c: Context<AppEnv>, ...policies: RateLimitPolicy[]): Promise<KeyBudget[]> {
  const client = await resolveClient(c);
  const own = { key: client.key, policies };
  return client.viaProxy ? [{ key: client.connectionKey, policies: [trustedProxyPolicy(c)] }, own] : [own];
}

/** Counts every request to the route against the client's budgets, whatever its outcome. */
export function limitPerClient(policyOf: (c: Context<AppEnv>) => RateLimitPolicy): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const spent = await spend(c, await clientBudgets(c, policyOf(c)));
    await next();
    for (const [name, value] of Object.entries(rateLimitHeaderList(spent.policies))) c.res.headers.set(name, value);
  };
}
