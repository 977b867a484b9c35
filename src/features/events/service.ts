import type { Env } from "../../env";
import type { Actor, EventType } from "../../events/catalogue";
import { cursorPage, type CursorPage, type CursorRequest } from "../../http/cursor";
import { iso } from "../../lib/time";

export interface EventView {
  id: string;
  type: string;
  tenantId: string;
  occurredAt: string;
  actor: Actor;
  data: Record<string, unknown>;
}

interface EventRecord {
  id: string;
  tenant_id: string;
  type: string;
  actor_type: Actor["type"];
  actor_id: string | null;
  data: string;
  occurred_at: number;
}

export const toEventView = (row: EventRecord): EventView => ({
  id: row.id,
  type: row.type,
  tenantId: row.tenant_id,
  occurredAt: iso(row.occurred_at),
  actor: { type: row.actor_type, id: row.actor_id },
  data: JSON.parse(row.data) as Record<string, unknown>,
});

/** The tenant's events, newest first; each page is one range read of (tenant_id[, type], id). */
export async function listEvents(env: Env, tenantId: string, request: CursorRequest, type?: EventType): Promise<CursorPage<EventView>> {
  return cursorPage<EventRecord, EventView>(
    request,
    async (bound, order, limit) => {
      const conditions = ["tenant_id = ?"];
      const params: unknown[] = [tenantId];
      if (type !== undefined) {
        conditions.push("type = ?");
        params.push(type);
      }
      if (bound) {
        conditions.push(`id ${bound.op} ?`);
        params.push(bound.id);
      }
      const { results } = await env.DB.prepare(
        `SELECT id, tenant_id, type, actor_type, actor_id, data, occurred_at FROM events WHERE ${conditions.join(" AND ")} ORDER BY id ${order} LIMIT ?`,
      )
        .bind(...params, limit)
        .all<EventRecord>();
      return results;
    },
    toEventView,
  );
}

/** The events retention (DESIGN §2.8): 90 days, then the daily purge deletes them (their delivery log with them). */
export const EVENT_RETENTION_DAYS = 90;
