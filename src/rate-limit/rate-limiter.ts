import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** seconds until the oldest counted request leaves the window (0 when none is counted) */
  resetSeconds: number;
  /** the timestamp this call was logged under (pass it to release()), or null if it was not logged */
  recordedAt: number | null;
}

/**
 * One instance per client key (an IP, an IPv6 /64, a normalized email). Each policy keeps a
 * sliding-window log in the object's SQLite storage: at most `limit` timestamps per policy,
 * pruned on every call. The object serializes its callers, so a limit is exact under
 * concurrency, and storage survives eviction and restarts.
 */
export class RateLimiter extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS hits (policy TEXT NOT NULL, at INTEGER NOT NULL);
       CREATE INDEX IF NOT EXISTS hits_policy_at ON hits (policy, at);`,
    );
  }

  /** Counts this request if it fits in the window; refused requests are not logged. */
  consume(policy: string, limit: number, windowMs: number): RateLimitDecision {
    return this.decide(policy, limit, windowMs, true);
  }

  /** Reports whether another request would fit, without counting one. */
  peek(policy: string, limit: number, windowMs: number): RateLimitDecision {
    return this.decide(policy, limit, windowMs, false);
  }

  /**
   * Takes back one request counted by consume() (an attempt reserved up front that turned out not
   * to count, such as a successful login).
   */
  release(policy: string, recordedAt: number): void {
    this.sql.exec("DELETE FROM hits WHERE rowid = (SELECT rowid FROM hits WHERE policy = ? AND at = ? LIMIT 1)", policy, recordedAt);
  }

  private decide(policy: string, limit: number, windowMs: number, record: boolean): RateLimitDecision {
    const now = Date.now();
    const windowStart = now - windowMs;
    this.sql.exec("DELETE FROM hits WHERE policy = ? AND at <= ?", policy, windowStart);
    // After pruning, the index range holds at most `limit` rows: this never scans more than it keeps.
    const row = this.sql
      .exec<{ count: number; oldest: number | null }>("SELECT COUNT(*) AS count, MIN(at) AS oldest FROM hits WHERE policy = ?", policy)
      .one();
    const counted = row.count;
    const allowed = counted < limit;
    let oldest = row.oldest;
    if (allowed && record) {
      this.sql.exec("INSERT INTO hits (policy, at) VALUES (?, ?)", policy, now);
      oldest ??= now;
    }
    const used = counted + (allowed && record ? 1 : 0);
    const resetSeconds = oldest === null ? 0 : Math.max(1, Math.ceil((oldest + windowMs - now) / 1000));
    return { allowed, limit, remaining: Math.max(0, limit - used), resetSeconds, recordedAt: allowed && record ? now : null };
  }
}
