// Stand-in for zod's v4/core/to-json-schema.js in the deployed bundle (see README.md here): JSON Schema is
// produced at build time only (public/openapi.json); `schema.toJSONSchema()` and `~standard.jsonSchema` throw.
const notBundled = (): never => {
  throw new Error("zod's JSON Schema generation is not bundled in this Worker");
};

export const createToJSONSchemaMethod = (..._args: unknown[]) => notBundled;
export const createStandardJSONSchemaMethod = (..._args: unknown[]) => notBundled;
export { notBundled as initializeContext, notBundled as handleUnrepresentable, notBundled as processSchema, notBundled as process };
export { notBundled as extractDefs, notBundled as finalize };
