import type { Env } from "../../env";

/** A read that touches no table: proves the D1 binding answers without costing a row read or a write. */
export async function databaseAnswers(env: Env): Promise<boolean> {
  try {
    const row = await env.DB.prepare("SELECT 1 AS ok").first<{ ok: number }>();
    return row?.ok === 1;
  } catch (error) {
    console.error(JSON.stringify({ msg: "health check: database unreachable", error: String(error) }));
    return false;
  }
}
