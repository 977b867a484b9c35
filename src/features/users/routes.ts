import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import * as z from "../../lib/zod";
import { ROLES, USER_STATUSES } from "../../db/schema";
import type { AppEnv } from "../../http/app-env";
import { anyMember, authenticate, authorize, deferred, ownerOrAdmin, ownerOrAdminDeferred } from "../../http/authenticate";
import { bearerSecurity, errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { perPageParam } from "../../http/cursor";
import { cursorPageSchema, cursorQueryFields, cursorStart, enumFilter, pageQuerySchema, resolvePage } from "../../http/pagination";
import { UserSchema } from "../../http/schemas";
import { requireJsonBody, validationHook } from "../../http/validation";
import { isEmailVerified } from "../email-verification/service";
import { ASSIGNABLE_ROLES, changeUser, getUser, leaveTenant, listMyTenants, listUsers, MY_TENANTS_ORDER, removeUser, USER_CURSOR_KEYS, USER_SORT_FIELDS } from "./service";

const UserListQuery = pageQuerySchema(USER_SORT_FIELDS).extend({
  Status: enumFilter("Status", USER_STATUSES),
  Role: enumFilter("Role", ROLES),
  ...cursorQueryFields,
});

const UserPageSchema = cursorPageSchema(UserSchema, "UserPage");

const ChangeUserSchema = z
  .object({
    role: z
      .enum(ASSIGNABLE_ROLES, "role must be Admin, Developer or Viewer (Owner cannot be granted)")
      .optional()
      .openapi({ example: "Viewer" }),
    status: z.enum(USER_STATUSES, "status must be Active or Inactive").optional().openapi({ example: "Inactive" }),
  })
  .refine((change) => change.role !== undefined || change.status !== undefined, { message: "Give role, status or both" })
  .openapi("ChangeUser");

const UserIdParams = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid" }) });

const MyTenantsSchema = z
  .object({
    items: z.array(
      z.object({
        tenantId: z.uuid(),
        tenantName: z.string().openapi({ example: "Initech" }),
        role: z.enum(ROLES),
        status: z.enum(USER_STATUSES),
        joinedAt: z.iso.datetime(),
      }),
    ),
    nextCursor: z.string().nullable().openapi({ description: "Pass as `starting_after` for the next (later joined) page; null on the last page" }),
    prevCursor: z.string().nullable().openapi({ description: "Pass as `ending_before` for the previous page; null on the first page" }),
  })
  .openapi("MyTenants");

/** Unpaged before cursors came: the default page (100, the most Qt allows) holds every membership of nearly any account. */
const MyTenantsQuery = z.object({ Qt: perPageParam(100), ...cursorQueryFields });

const MeSchema = UserSchema.extend({
  emailVerified: z.boolean().openapi({ description: "The account proved it holds its mailbox (verification link, a mailed invite, or a password reset)" }),
}).openapi("Me");

const meRoute = createRoute({
  method: "get",
  path: "/users/me",
  tags: ["Users"],
  security: bearerSecurity,
  middleware: [...anyMember] as const,
  responses: {
    200: jsonContent(MeSchema, "The caller, with whether its account's email is verified"),
    ...errorResponses(401, 404),
  },
});

const myTenantsRoute = createRoute({
  method: "get",
  path: "/users/me/tenants",
  tags: ["Users"],
  security: bearerSecurity,
  middleware: [authenticate] as const,
  request: { query: MyTenantsQuery },
  responses: {
    200: jsonContent(MyTenantsSchema, "A page of the caller's memberships, oldest first"),
    ...errorResponses(400, 401),
  },
});

const leaveRoute = createRoute({
  method: "delete",
  path: "/users/me",
  tags: ["Users"],
  security: bearerSecurity,
  middleware: [...anyMember] as const,
  responses: {
    204: { description: "Left the tenant" },
    ...errorResponses(401, 404, 409),
  },
});

const listUsersRoute = createRoute({
  method: "get",
  path: "/users",
  tags: ["Users"],
  security: bearerSecurity,
  middleware: [ownerOrAdminDeferred] as const,
  request: { query: UserListQuery },
  responses: {
    200: jsonContent(UserPageSchema, "A page of users; `total` counts every match"),
    ...errorResponses(400, 401, 403, 404),
  },
});

const getUserRoute = createRoute({
  method: "get",
  path: "/users/{id}",
  tags: ["Users"],
  security: bearerSecurity,
  middleware: [...ownerOrAdmin] as const,
  request: { params: UserIdParams },
  responses: {
    200: jsonContent(UserSchema, "The user"),
    ...errorResponses(401, 403, 404),
  },
});

const changeUserRoute = createRoute({
  method: "patch",
  path: "/users/{id}",
  tags: ["Users"],
  description: [
    "Only an Owner grants or removes Admin; an Admin manages Developers and Viewers only (403 FORBIDDEN,",
    "403 ROLE_NOT_ASSIGNABLE for granting Admin). Nobody changes an Owner's role (403), Owner cannot be",
    "granted (400), and deactivating the last active Owner is 409 LAST_OWNER. Another tenant's user or a",
    "malformed id is 404 USER_NOT_FOUND. Deactivation revokes the user's refresh tokens for this tenant; both",
    "changes apply to the user's very next request, in this tenant only (their other memberships are untouched).",
  ].join(" "),
  security: bearerSecurity,
  middleware: [...ownerOrAdmin, requireJsonBody] as const,
  request: {
    params: UserIdParams,
    body: jsonBody(ChangeUserSchema),
  },
  responses: {
    200: jsonContent(UserSchema, "The user after the change"),
    ...errorResponses(400, 401, 403, 404, 409, 413, 415),
  },
});

const removeUserRoute = createRoute({
  method: "delete",
  path: "/users/{id}",
  tags: ["Users"],
  description: [
    "The same rules as PATCH: an Admin removes Developers and Viewers only, only an Owner removes an Admin or",
    "another Owner (403 FORBIDDEN), and removing the last active Owner is 409 LAST_OWNER. The membership is",
    "deleted and the member's sessions in this tenant end at once (their tokens answer 401); the account and",
    "its other memberships stay, and it may be invited back. Another tenant's user is 404 USER_NOT_FOUND.",
  ].join(" "),
  security: bearerSecurity,
  middleware: [...ownerOrAdmin] as const,
  request: { params: UserIdParams },
  responses: {
    204: { description: "Removed" },
    ...errorResponses(401, 403, 404, 409),
  },
});

export const userRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(meRoute, async (c) => {
    const caller = c.get("caller");
    const [user, emailVerified] = await Promise.all([getUser(c.env, caller.tenantId, caller.userId), isEmailVerified(c.env, caller.userId)]);
    return c.json({ ...user, emailVerified }, 200);
  })
  .openapi(myTenantsRoute, async (c) => {
    const query = c.req.valid("query");
    return c.json(await listMyTenants(c.env, c.get("caller").userId, query.Qt, cursorStart(query, MY_TENANTS_ORDER)), 200);
  })
  .openapi(leaveRoute, async (c) => {
    await leaveTenant(c.env, c.get("caller"));
    return c.body(null, 204);
  })
  .openapi(listUsersRoute, async (c) => {
    const query = c.req.valid("query");
    const page = await listUsers(
      c.env,
      deferred(c).claims,
      {
        perPage: query.Qt,
        ...resolvePage({ ...query, rawTpOrd: c.req.query("TpOrd") }, USER_CURSOR_KEYS, USER_SORT_FIELDS),
        status: query.Status,
        role: query.Role,
      },
      (row) => authorize(c, row),
    );
    return c.json(page, 200);
  })
  .openapi(getUserRoute, async (c) => c.json(await getUser(c.env, c.get("caller").tenantId, c.req.valid("param").id), 200))
  .openapi(changeUserRoute, async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await changeUser(c.env, c.get("caller"), id, c.req.valid("json")), 200);
  })
  .openapi(removeUserRoute, async (c) => {
    await removeUser(c.env, c.get("caller"), c.req.valid("param").id);
    return c.body(null, 204);
  });
