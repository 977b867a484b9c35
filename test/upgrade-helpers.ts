import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import worker from "../src/index";
import { BASE, randomIp } from "./helpers";

/** Calls the whole Worker (index.ts, as deployed) on an upgraded copy of the database instead of env.DB. */
export function apiOn(database: () => D1Database) {
  return async (method: string, path: string, options: { body?: unknown; token?: string } = {}) => {
    const headers = new Headers({ "CF-Connecting-IP": randomIp() });
    if (options.token) headers.set("Authorization", `Bearer ${options.token}`);
    if (options.body !== undefined) headers.set("Content-Type", "application/json");
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request(`${BASE}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) }),
      { ...env, DB: database() },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const text = await response.text();
    return { status: response.status, text, body: text ? JSON.parse(text) : undefined };
  };
}
