import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { ROLES, USER_STATUSES } from "../../db/schema";
import type { AppEnv } from "../../http/app-env";
import { authenticate, ownerOrAdmin, requireRole } from "../../http/authenticate";
import { bearerSecurity, errorResponses, jsonBody, jsonContent } from "../../http/openapi";
import { enumFilter, pageQuerySchema, resolveSortField } from "../../http/pagination";
import { UserSchema } from "../../http/schemas";
import { requireJsonBody, validationHook } from "../../http/validation";
import { ASSIGNABLE_ROLES, changeUser, getUser, listUsers, USER_SORT_FIELDS } from "./service";

const UserListQuery = pageQuerySchema(USER_SORT_FIELDS).extend({
  Status: enumFilter("Status", USER_STATUSES),
  Role: enumFilter("Role", ROLES),
});

const UserPageSchema = z.object({ total: z.number().int(), items: z.array(UserSchema) }).openapi("UserPage");

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

const anyMember = [authenticate, requireRole(...ROLES)] as const;

const meRoute = createRoute({
  method: "get",
  path: "/users/me",
  tags: ["Users"],
  summary: "The caller, as stored now",
  security: bearerSecurity,
  middleware: [...anyMember] as const,
  responses: {
    200: jsonContent(UserSchema, "The caller"),
    ...errorResponses(401, 404),
  },
});

const listUsersRoute = createRoute({
  method: "get",
  path: "/users",
  tags: ["Users"],
  summary: "List the tenant's users",
  security: bearerSecurity,
  middleware: [...ownerOrAdmin] as const,
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
  summary: "One user of the caller's tenant",
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
  summary: "Change a user's role and/or status",
  description: [
    "Only an Owner grants or removes Admin; an Admin manages Developers and Viewers only (403 FORBIDDEN,",
    "403 ROLE_NOT_ASSIGNABLE for granting Admin). Nobody changes an Owner's role (403), Owner cannot be",
    "granted (400), and deactivating the last active Owner is 409 LAST_OWNER. Another tenant's user or a",
    "malformed id is 404 USER_NOT_FOUND. Deactivation revokes the user's refresh tokens; both changes apply",
    "to the user's very next request.",
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

export const userRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(meRoute, async (c) => {
    const caller = c.get("caller");
    return c.json(await getUser(c.env, caller.tenantId, caller.userId), 200);
  })
  .openapi(listUsersRoute, async (c) => {
    const query = c.req.valid("query");
    const page = await listUsers(c.env, c.get("caller").tenantId, {
      page: query.Pg,
      perPage: query.Qt,
      sortField: resolveSortField(query.CpOrd, USER_SORT_FIELDS),
      direction: query.TpOrd,
      status: query.Status,
      role: query.Role,
    });
    return c.json(page, 200);
  })
  .openapi(getUserRoute, async (c) => c.json(await getUser(c.env, c.get("caller").tenantId, c.req.valid("param").id), 200))
  .openapi(changeUserRoute, async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await changeUser(c.env, c.get("caller"), id, c.req.valid("json")), 200);
  });
