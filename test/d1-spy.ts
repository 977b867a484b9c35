import { env } from "cloudflare:test";
import type { Env } from "../src/env";
import { randomIp } from "./helpers";

export const ORIGIN = "https://edge-invites.test";

/**
 * The real D1 binding, observed: records which statements ran on the plain binding (the primary)
 * and which inside a Sessions API session, and with which constraint or bookmark each session began.
 * Every call goes through to D1 unchanged.
 */
export function observedD1(binding: D1Database = env.DB) {
  const log = { plain: [] as string[], sessions: [] as { constraint: string | undefined; sql: string[] }[] };
  const observedSession = (session: D1DatabaseSession, sql: string[]) =>
    new Proxy(session, {
      get(target, property) {
        if (property === "prepare") return (query: string) => (sql.push(query), target.prepare(query));
        const value = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const db = new Proxy(binding, {
    get(target, property) {
      if (property === "prepare") return (query: string) => (log.plain.push(query), target.prepare(query));
      if (property === "withSession") {
        return (constraint?: string) => {
          const entry = { constraint, sql: [] as string[] };
          log.sessions.push(entry);
          return observedSession(target.withSession(constraint), entry.sql);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db, log };
}

/** The test env with some vars or bindings replaced, for app.request(). */
export function envWith(overrides: Partial<Env>): Env {
  return { ...(env as Env), ...overrides };
}

/** Request headers with a fresh client IP, so per-IP limits never bite across tests. */
export function headers(extra: Record<string, string> = {}): Record<string, string> {
  return { "CF-Connecting-IP": randomIp(), ...extra };
}
