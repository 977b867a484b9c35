import { userActor } from "../../events/catalogue";
import { eventStatements } from "../../events/record";
import type { Env } from "../../env";
import type { Caller } from "../../http/app-env";
import type { CursorPage, CursorRequest } from "../../http/cursor";
import { listAllInvites, type OperatorInviteView } from "../invites/service";
import { listAllTenants, type OperatorTenantView } from "../tenants/service";

/**
 * Every call is an event (§2.9): `operator.viewed`, written once the page is read, in the operator's own
 * session tenant (the platform team's audit trail), naming what was viewed and how many rows were shown.
 * Read-only otherwise; refused calls (403) write nothing.
 */
async function recordView(env: Env, caller: Caller, resource: "invites" | "tenants", tenantId: string | null, count: number) {
  const event = eventStatements(env.DB, { tenantId: caller.tenantId, type: "operator.viewed", actor: userActor(caller.userId), data: { operatorId: caller.userId, resource, tenantId, count } });
  await env.DB.batch(event.statements);
}

export async function viewInvites(env: Env, caller: Caller, request: CursorRequest, tenantId?: string): Promise<CursorPage<OperatorInviteView>> {
  const page = await listAllInvites(env, request, tenantId);
  await recordView(env, caller, "invites", tenantId ?? null, page.items.length);
  return page;
}

export async function viewTenants(env: Env, caller: Caller, request: CursorRequest): Promise<CursorPage<OperatorTenantView>> {
  const page = await listAllTenants(env, request);
  await recordView(env, caller, "tenants", null, page.items.length);
  return page;
}
