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

/** One policy checked by take(): `policy` names its window inside the object. */
export interface LimitRule {
  policy: string;
  limit: number;
  windowMs: number;
  /** entries this call records (default 1): a request that counts as several, e.g. a bulk create */
  cost?: number;
  /**
   * Set when `policy` is one of several windows named `${family}@…` (one per client network, say):
   * every window of the family is pruned, so those no caller comes back to do not pile up.
   */
  family?: string;
  /** false: the window must have room, but this call records nothing in it (a success checking the failure windows) */
  record?: boolean;
}

/** The rules one key's object takes in a chained call (takeAll). */
export interface KeyRules {
  key: string;
  rules: LimitRule[];
}

/** An entry take() recorded, so a later call can give it back. */
export interface TakenEntry {
  policy: string;
  at: number;
}

export interface TakeResult {
  /** true when every rule had room: one entry was recorded in each, and `giveBack` was returned */
  allowed: boolean;
  /** one per rule, in order */
  decisions: RateLimitDecision[];
}

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
    // One b-tree keyed by (policy, at, seq): a hit is one row written, not a row and an index entry.
    const hits = this.sql.exec<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'hits'").toArray()[0];
    if (hits && !/WITHOUT ROWID/i.test(hits.sql)) {
      // An object written before (a rowid table with an index): its hits move over, counts unchanged.
      this.sql.exec(
        `ALTER TABLE hits RENAME TO hits_rowid;
         CREATE TABLE hits (policy TEXT NOT NULL, at INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (policy, at, seq)) WITHOUT ROWID;
         INSERT INTO hits (policy, at, seq) SELECT policy, at, rowid FROM hits_rowid;
         DROP TABLE hits_rowid;`,
      );
    }
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS hits (policy TEXT NOT NULL, at INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (policy, at, seq)) WITHOUT ROWID;
       CREATE TABLE IF NOT EXISTS windows (policy TEXT PRIMARY KEY, window_ms INTEGER NOT NULL) WITHOUT ROWID;`,
    );
    this.schemaReady = true;
  }

  /** Counts this request if it fits in the window; refused requests are not logged. */
  consume(policy: string, limit: number, windowMs: number): RateLimitDecision {
    return this.take([{ policy, limit, windowMs }]).decisions[0]!;
  }

  /** Reports whether another request would fit, without counting one. */
  peek(policy: string, limit: number, windowMs: number): RateLimitDecision {
    this.ensureSchema();
    const now = Date.now();
    return decision({ policy, limit, windowMs }, this.count(policy, windowMs, now), false, now);
  }

  /**
   * Takes back one request counted by consume() (an attempt reserved up front that turned out not
   * to count, such as a successful login).
   */
  release(policy: string, recordedAt: number): void {
    this.ensureSchema();
    this.sql.exec("DELETE FROM hits WHERE policy = ?1 AND at = ?2 AND seq = (SELECT seq FROM hits WHERE policy = ?1 AND at = ?2 LIMIT 1)", policy, recordedAt);
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
    // Windows no live hit refers to (per-network buckets nobody came back to, say) are forgotten too.
    this.sql.exec("DELETE FROM windows WHERE policy NOT IN (SELECT policy FROM hits)");
    this.knownWindows.clear();
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

  /**
   * Several policies of this key in one call, all or nothing: if every rule has room, one entry is
   * recorded in each and the `giveBack` entries (taken by an earlier call) are deleted; if any rule
   * is full, nothing changes. One call serves every window a request spends on this key, e.g. the
   * email object's (email, network) failures, its all-networks ceiling and its successes.
   */
  take(rules: LimitRule[], giveBack: TakenEntry[] = []): TakeResult {
    this.ensureSchema();
    const now = Date.now();
    const counted = rules.map((rule) => {
      // "@" sorts just below "A": [family@, familyA) is exactly the family's windows, an index range.
      if (rule.family !== undefined) this.sql.exec("DELETE FROM hits WHERE policy >= ? AND policy < ? AND at <= ?", `${rule.family}@`, `${rule.family}A`, now - rule.windowMs);
      return this.count(rule.policy, rule.windowMs, now);
    });
    const allowed = counted.every((row, i) => row.count + (rules[i]!.cost ?? 1) <= rules[i]!.limit);
    if (allowed) {
      for (const rule of rules) {
        if (rule.record === false) continue;
        // seq tells apart hits of one policy in one millisecond (the object serializes its callers).
        for (let n = 0; n < (rule.cost ?? 1); n++) {
          this.sql.exec("INSERT INTO hits (policy, at, seq) VALUES (?1, ?2, (SELECT COALESCE(MAX(seq) + 1, 0) FROM hits WHERE policy = ?1 AND at = ?2))", rule.policy, now);
        }
        this.rememberWindow(rule.policy, rule.windowMs);
        this.scheduleAlarm(now + rule.windowMs);
      }
      for (const entry of giveBack) this.release(entry.policy, entry.at);
    }
    return { allowed, decisions: rules.map((rule, i) => decision(rule, counted[i]!, allowed && rule.record !== false, now)) };
  }

  /**
   * Several keys' rules in ONE call from the Worker (this object is the last key's): the earlier keys'
   * objects are asked first, in order, object to object, then this one. All or nothing, as a
   * sequence of take() calls would be: a key that refuses stops the chain (later keys are not asked)
   * and the earlier keys' entries are given back. Returns one result per key asked.
   */
  async takeAll(chain: KeyRules[]): Promise<TakeResult[]> {
    const results: TakeResult[] = [];
    const taken: Array<{ key: string; entries: TakenEntry[] }> = [];
    const giveBackTaken = () =>
      Promise.all(taken.map(({ key, entries }) => this.objectFor(key).take([], entries))).catch(() => undefined);
    for (const [i, { key, rules }] of chain.entries()) {
      const own = i === chain.length - 1;
      const result = own ? this.take(rules) : await this.objectFor(key).take(rules);
      results.push(result);
      if (!result.allowed) {
        await giveBackTaken();
        break;
      }
      taken.push({ key, entries: recordedEntries(rules, result) });
    }
    return results;
  }

  private objectFor(key: string) {
    const namespace = this.env.RATE_LIMITER;
    return namespace.get(namespace.idFromName(key));
  }

  /** Prunes `policy`'s expired entries and counts the rest: after pruning the index range holds at most `limit` rows, so this never scans more than it keeps. */
  private count(policy: string, windowMs: number, now: number): { count: number; oldest: number | null } {
    this.sql.exec("DELETE FROM hits WHERE policy = ? AND at <= ?", policy, now - windowMs);
    return this.sql
      .exec<{ count: number; oldest: number | null }>("SELECT COUNT(*) AS count, MIN(at) AS oldest FROM hits WHERE policy = ?", policy)
      .one();
  }
}

/** The entries a successful take() recorded (check-only rules record none; a rule of cost n, n). */
export const recordedEntries = (rules: LimitRule[], result: TakeResult): TakenEntry[] =>
  result.allowed
    ? rules.flatMap((rule, i) => (rule.record === false ? [] : Array.from({ length: rule.cost ?? 1 }, () => ({ policy: rule.policy, at: result.decisions[i]!.recordedAt! }))))
    : [];

/** `row` is the window before this call; `recorded` says whether this call added an entry to it. */
function decision(rule: LimitRule, row: { count: number; oldest: number | null }, recorded: boolean, now: number): RateLimitDecision {
  const oldest = row.oldest ?? (recorded ? now : null);
  const cost = rule.cost ?? 1;
  return {
    allowed: row.count + cost <= rule.limit,
    limit: rule.limit,
    remaining: Math.max(0, rule.limit - row.count - (recorded ? cost : 0)),
    resetSeconds: oldest === null ? 0 : Math.max(1, Math.ceil((oldest + rule.windowMs - now) / 1000)),
    recordedAt: recorded ? now : null,
  };
}
