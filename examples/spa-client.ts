/**
 * A browser client for edge-invites, typed end to end with Hono RPC: copy this file into your front end.
 *
 * `AppType` is a type-only import, so none of the server's code reaches your bundle. Import it from
 * wherever the API's source lives for your build (a workspace package, a git submodule, a path alias).
 * Your front end needs `hono` installed (for `hono/client`), the same major version as the API.
 *
 *   const api = createApiClient({ baseUrl: "https://api.example.com" });
 *   const { tenantId } = await api.signUp({ name: "Initech", adminEmail: "owner@initech.test", adminPassword: "correct horse battery staple" });
 *   await api.logIn("owner@initech.test", "correct horse battery staple");
 *   const invite = await api.createInvite({ role: "Developer", validityDays: 7 });
 *   const link = `${location.origin}/join/${invite.token}`;          // what you send to the invitee
 *   const user = await api.register(invite.token, { email: "dev@initech.test", password: "another long password" });
 *   const { total, items, nextCursor } = await api.listInvites({ Status: "Pending", CpOrd: "createdAt", TpOrd: "Desc", Qt: "20" });
 *   const more = nextCursor ? await api.listInvites({ Status: "Pending", Qt: "20", starting_after: nextCursor }) : null;
 *
 * One account, many tenants: someone already signed in (to any tenant) joins another with its invite,
 * then switches the client to it; the access token's `tenant_id` is always the active tenant.
 *   const joined = await api.accept(invite.token);                  // the member view in the invite's tenant
 *   await api.switchTenant(joined.tenantId);                        // the client now acts in that tenant
 *   const { items: memberships } = await api.myTenants();
 *   await api.removeUser(userId);                                   // Owner/Admin: remove from this tenant
 *   await api.leave();                                              // leave the active tenant
 *
 * Every failure is thrown as an ApiRequestError carrying the API's error envelope: branch on `error.code`
 * (`INVITE_EXPIRED`, `EMAIL_TAKEN`, `RATE_LIMITED`, ...), show `error.message`, quote `error.requestId`
 * in bug reports.
 */
import { hc, type ClientResponse, type parseResponse } from "hono/client";
import type { AppType } from "../src/app";

/** The API's error envelope (same shape for every status). */
export interface ErrorEnvelope {
  code: string;
  error: string;
  message: string;
  statusCode: number;
  details: { fields?: Record<string, string[]>; retryAfterSeconds?: number; [key: string]: unknown };
}

export class ApiRequestError extends Error {
  override name = "ApiRequestError";

  constructor(
    readonly status: number,
    readonly envelope: ErrorEnvelope,
    /** X-Request-Id of the failed request: quote it when reporting a problem. */
    readonly requestId: string | null,
  ) {
    super(envelope.message);
  }

  /** Stable, machine-readable: the only field to branch on. */
  get code(): string {
    return this.envelope.code;
  }

  /** Per-field validation messages, e.g. `{ password: ["password must be at least 8 characters"] }`. */
  get fieldErrors(): Record<string, string[]> {
    return this.envelope.details.fields ?? {};
  }

  static async from(response: Response): Promise<ApiRequestError> {
    let envelope: ErrorEnvelope;
    try {
      envelope = (await response.json()) as ErrorEnvelope;
    } catch {
      // Not our API answering (a proxy, a captive portal...): keep the same shape for callers.
      envelope = { code: "NETWORK_ERROR", error: response.statusText, message: `HTTP ${response.status}`, statusCode: response.status, details: {} };
    }
    return new ApiRequestError(response.status, envelope, response.headers.get("X-Request-Id"));
  }
}

/** The body of the response's success status, as the API declares it. */
type Success<R extends ClientResponse<unknown>> = Awaited<ReturnType<typeof parseResponse<R>>>;

/** Resolves to the typed success body, or throws ApiRequestError with the envelope. */
export async function unwrap<R extends ClientResponse<unknown>>(pending: R | Promise<R>): Promise<Success<R>> {
  const response = await pending;
  if (!response.ok) throw await ApiRequestError.from(response as unknown as Response);
  if (response.status === 204) return undefined as Success<R>;
  return (await response.json()) as Success<R>;
}

/** Where the read-your-writes bookmark lives between page loads; sessionStorage suits one tab. */
export interface BookmarkStore {
  get(): string | null;
  set(bookmark: string): void;
}

export function memoryBookmarkStore(): BookmarkStore {
  let bookmark: string | null = null;
  return { get: () => bookmark, set: (value) => void (bookmark = value) };
}

export interface ApiClientOptions {
  /** The API's origin, e.g. "https://api.example.com" (the paths start with /api/v1). */
  baseUrl: string;
  /** Defaults to the browser's fetch. */
  fetch?: typeof fetch;
  /** Defaults to memory; pass a sessionStorage-backed store to keep it across reloads. */
  bookmarks?: BookmarkStore;
}

/** A create body: seed fields, then the link options (DESIGN §2.9). */
export interface NewInvite {
  role?: "Admin" | "Developer" | "Viewer";
  validityDays?: number;
  email?: string;
  /** 1–1000; not with `email` */
  maxUses?: number;
  /** only emails at these domains redeem; not with `email` */
  allowedDomains?: string[];
  /** must be on one of the tenant's redirectOrigins */
  redirectUrl?: string;
  publicMetadata?: Record<string, unknown>;
  privateMetadata?: Record<string, unknown>;
}

export function createApiClient(options: ApiClientOptions) {
  const send = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const bookmarks = options.bookmarks ?? memoryBookmarkStore();
  let accessToken: string | null = null;

  const client = hc<AppType>(options.baseUrl, {
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      if (accessToken) headers.set("Authorization", `Bearer ${accessToken}`);
      // Read your own writes: a replica serves the read only once it has caught up with this bookmark.
      const bookmark = bookmarks.get();
      if (bookmark) headers.set("X-D1-Bookmark", bookmark);
      const response = await send(input, { ...init, headers });
      const latest = response.headers.get("X-D1-Bookmark");
      // Bookmarks sort lexicographically, oldest first: keep the newest one seen.
      if (latest && (!bookmark || latest > bookmark)) bookmarks.set(latest);
      return response;
    },
  });
  const v1 = client.api.v1;

  return {
    /** The raw typed client, for routes this wrapper does not cover. */
    rpc: client,
    setAccessToken(token: string | null) {
      accessToken = token;
    },
    /** Creates a tenant and its Owner (public). */
    signUp: (body: { name: string; adminEmail: string; adminPassword: string }) => unwrap(v1.tenants.$post({ json: body })),
    /**
     * Signs in and keeps the access token for the following calls. Without `tenantId`: the tenant signed
     * in to most recently; the response's `tenants` lists every tenant the account may switch to.
     */
    async logIn(email: string, password: string, tenantId?: string) {
      const tokens = await unwrap(v1.auth.login.$post({ json: { email, password, ...(tenantId ? { tenantId } : {}) } }));
      accessToken = tokens.accessToken;
      return tokens;
    },
    /** A session in another tenant of the signed-in account (403 NOT_A_MEMBER otherwise); keeps its access token. */
    async switchTenant(tenantId: string) {
      const tokens = await unwrap(v1.auth["switch-tenant"].$post({ json: { tenantId } }));
      accessToken = tokens.accessToken;
      return tokens;
    },
    /** Signed in (any tenant): join the invite's tenant with the invite's role. */
    accept: (inviteToken: string) => unwrap(v1.invites[":token"].accept.$post({ param: { token: inviteToken } })),
    /** The signed-in account's memberships, Active and Inactive, oldest first: `{ items, nextCursor, prevCursor }` (Qt default 100). */
    myTenants: (query: { Qt?: string; starting_after?: string; ending_before?: string } = {}) => unwrap(v1.users.me.tenants.$get({ query })),
    /** Owner/Admin: remove a member from the active tenant (their account and other memberships stay). */
    removeUser: (userId: string) => unwrap(v1.users[":id"].$delete({ param: { id: userId } })),
    /** Leave the active tenant (409 LAST_OWNER for its last active Owner). */
    leave: () => unwrap(v1.users.me.$delete()),
    /** Any member: the active tenant, with its member count (another tenant's id is 404). */
    getTenant: (tenantId: string) => unwrap(v1.tenants[":id"].$get({ param: { id: tenantId } })),
    /** Admin or Owner: creates an invite; its `token` composes the registration link. */
    createInvite: (body: NewInvite = {}) => unwrap(v1.invites.$post({ json: body })),
    /** Admin or Owner (or a Developer under invitePolicy Members): up to 100 invites, all or nothing. */
    createInvites: (invites: NewInvite[]) => unwrap(v1.invites.bulk.$post({ json: { invites } })),
    /** Any member: the tenant's invitePolicy and redirectOrigins. */
    tenantSettings: () => unwrap(v1.tenants.current.$get()),
    /** Owner: change the invitePolicy and/or replace the redirectOrigins. */
    updateTenantSettings: (body: { invitePolicy?: "AdminsOnly" | "Members"; redirectOrigins?: string[] }) =>
      unwrap(v1.tenants.current.$patch({ json: body })),
    /** Public: whoever holds the invite token registers with it. */
    register: (inviteToken: string, body: { email: string; password: string }) =>
      unwrap(v1.invites[":token"].register.$post({ param: { token: inviteToken }, json: body })),
    /**
     * Admin or Owner: a page of the tenant's invites, `{ total, items, nextCursor, prevCursor }`. Page by number
     * (`Pg`) or by cursor: pass a page's `nextCursor` as `starting_after`, its `prevCursor` as `ending_before`.
     */
    listInvites: (
      query: { Qt?: string; Pg?: string; CpOrd?: string; TpOrd?: string; Status?: string; starting_after?: string; ending_before?: string } = {},
    ) => unwrap(v1.invites.$get({ query })),
    /** Platform operator only (`npm run operator -- grant <email>`): every tenant's invites, newest first, never a token. */
    operatorInvites: (query: { Qt?: string; TenantId?: string; starting_after?: string; ending_before?: string } = {}) => unwrap(v1.operator.invites.$get({ query })),
    /** Platform operator only: every tenant, newest first, with member and invite counts. */
    operatorTenants: (query: { Qt?: string; starting_after?: string; ending_before?: string } = {}) => unwrap(v1.operator.tenants.$get({ query })),
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;
