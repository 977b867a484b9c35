// The zod API this Worker uses, re-exported by name: `import * as z from "../lib/zod"` everywhere in src/.
// Why not `z` from "zod" or "@hono/zod-openapi": that `z` is zod's whole namespace, handed as a value to
// `extendZodWithOpenApi(z)`, so esbuild keeps everything it reaches (every locale, format, codec,
// `toJSONSchema`…). Named re-exports let it drop what no code calls; in the deployed bundle wrangler.toml's
// `[alias]` gives @hono/zod-openapi this module as its `z` (src/lib/zod-bundle/zod.ts). A member missing
// here is a type error, never an undefined at run time. Imported from "zod/v4" (the same modules as "zod"),
// because "zod" itself is the aliased specifier.
export { array, boolean, discriminatedUnion, email, enum, ipv4, ipv6, iso, literal, NEVER, number, object, record, string, union, unknown, url, uuid, ZodType } from "zod/v4";
export type { infer, input, output, ZodError } from "zod/v4";
