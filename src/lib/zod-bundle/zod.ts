// Stand-in for the "zod" specifier in the deployed bundle (wrangler.toml [alias]); only @hono/zod-openapi
// imports it (`npm run bundle:check` makes sure), for `extendZodWithOpenApi(z)`, which reads `z.ZodType`.
export * as z from "../zod";
