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

/** Hits older than this with no recorded window (written before windows were recorded) are certainly expired. */
const LEGACY_RETENTION_MS = 24 * 60 * 60 * 1000;
/** Alarms are set to the next whole minute: one alarm write per object per minute, not one per hit. */
const ALARM_GRANULARITY_MS = 60_000;

/**
 * One instance per client key (an IP, an IPv6 /64, a normalized email). Each policy keeps a
 * sliding-window log in the object's SQLite storage: at most `limit` timestamps per policy,
 * pruned on every call. The object serializes its callers, so a limit is exact under
 * concurrency, and storage survives eviction and restarts.
 *
 * Every client key ever seen would otherwise leave an object with rows behind: an alarm, moved
 * later with each new hit, wipes the whole storage (`deleteAll`) once every window is empty.
 */
export class RateLimiter extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private schemaReady = false;
  /** policies whose window this instance has already recorded in `windows` */
  private readonly knownWindows = new Map<string, number>();
  /** the alarm this instance last set; lost on eviction, which can only make the next alarm early (it then reschedules) */
  private alarmAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
  }

  /** Lazily, because alarm() deletes the tables along with everything else. */
  private ensureSchema(): void {
    if (this.schemaReady) return;
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS hits (policy TEXT NOT NULL, at INTEGER NOT NULL);
       CREATE INDEX IF NOT EXISTS hits_policy_at ON hits (policy, at);
       CREATE TABLE IF NOT EXISTS windows (policy TEXT PRIMARY KEY, window_ms INTEGER NOT NULL) WITHOUT ROWID;`,
    );
    this.schemaReady = true;
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
    this.ensureSchema();
    this.sql.exec("DELETE FROM hits WHERE rowid = (SELECT rowid FROM hits WHERE policy = ? AND at = ? LIMIT 1)", policy, recordedAt);
  }

  /**
   * Prunes every policy by its own window; if nothing is left in any window, deletes all storage
   * (the object then costs nothing until its key is seen again), else runs again when the newest
   * hit leaves its window.
   */
  override async alarm(): Promise<void> {
    this.ensureSchema();
    this.alarmAt = 0; // this alarm is spent
    const now = Date.now();
    this.sql.exec("DELETE FROM hits WHERE at <= ? - COALESCE((SELECT window_ms FROM windows WHERE windows.policy = hits.policy), ?)", now, LEGACY_RETENTION_MS);
    const { latest } = this.sql
      .exec<{ latest: number | null }>(
        "SELECT MAX(at + COALESCE((SELECT window_ms FROM windows WHERE windows.policy = hits.policy), ?)) AS latest FROM hits",
        LEGACY_RETENTION_MS,
      )
      .one();
    if (latest === null) {
      await this.ctx.storage.deleteAll();
      this.schemaReady = false;
      this.knownWindows.clear();
      this.alarmAt = 0;
      return;
    }
    this.scheduleAlarm(latest);
  }

  private scheduleAlarm(expiresAt: number): void {
    const at = Math.ceil(expiresAt / ALARM_GRANULARITY_MS) * ALARM_GRANULARITY_MS;
    if (at <= this.alarmAt) return;
    this.alarmAt = at;
    // Not awaited: the output gate holds the response until the alarm is stored.
    void this.ctx.storage.setAlarm(at);
  }

  private rememberWindow(policy: string, windowMs: number): void {
    if ((this.knownWindows.get(policy) ?? 0) >= windowMs) return;
    // The widest window ever used for a policy: a shrunk window never lets the alarm drop live hits.
    this.sql.exec(
      "INSERT INTO windows (policy, window_ms) VALUES (?, ?) ON CONFLICT (policy) DO UPDATE SET window_ms = MAX(window_ms, excluded.window_ms)",
      policy,
      windowMs,
    );
    this.knownWindows.set(policy, windowMs);
  }

  private decide(policy: string, limit: number, windowMs: number, record: boolean): RateLimitDecision {
    this.ensureSchema();
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
      this.rememberWindow(policy, windowMs);
      this.scheduleAlarm(now + windowMs);
      oldest ??= now;
    }
    const used = counted + (allowed && record ? 1 : 0);
    const resetSeconds = oldest === null ? 0 : Math.max(1, Math.ceil((oldest + windowMs - now) / 1000));
    return { allowed, limit, remaining: Math.max(0, limit - used), resetSeconds, recordedAt: allowed && record ? now : null };
  }
}
