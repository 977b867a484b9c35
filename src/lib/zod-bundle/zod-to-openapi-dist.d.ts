// The package's own types for the file its "module" entry names (zod-to-openapi.ts imports it by path).
declare module "@asteasolutions/zod-to-openapi/dist/index.mjs" {
  export * from "@asteasolutions/zod-to-openapi";
}
