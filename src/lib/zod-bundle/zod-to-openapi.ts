// Stand-in for "@asteasolutions/zod-to-openapi" in the deployed bundle (see README.md here): the registry and
// the `.openapi()` extension @hono/zod-openapi needs at run time, from the real module; not its document
// generators, since the Worker serves the document generated at build time (public/openapi.json).
export { extendZodWithOpenApi, getOpenApiMetadata, OpenAPIRegistry } from "@asteasolutions/zod-to-openapi/dist/index.mjs";

function generatedAtBuildTime(): never {
  throw new Error("OpenAPI documents are generated at build time (src/openapi-document.ts), not in this Worker");
}

export class OpenApiGeneratorV3 {
  constructor() {
    generatedAtBuildTime();
  }
}

export class OpenApiGeneratorV31 {
  constructor() {
    generatedAtBuildTime();
  }
}
