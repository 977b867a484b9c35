// Stand-in for "@asteasolutions/zod-to-openapi" in the deployed bundle (see README.md here). Its registry and
// `.openapi()` metadata feed only the document generators, and the Worker serves the document generated at
// build time (public/openapi.json, src/openapi-document.ts): here `.openapi()` returns the schema unchanged
// (it validates exactly as the copy with metadata would), the registry keeps nothing, and the generators throw.
type Schema = { openapi(...args: unknown[]): Schema };

export function extendZodWithOpenApi(zod: { ZodType: { prototype: object } }): void {
  Object.assign(zod.ZodType.prototype, {
    openapi(this: Schema) {
      return this;
    },
  });
}

export function getOpenApiMetadata(): Record<string, never> {
  return {};
}

export class OpenAPIRegistry {
  readonly definitions: never[] = [];
  register(_refId: string, schema: Schema): Schema {
    return schema;
  }
  registerParameter(_refId: string, schema: Schema): Schema {
    return schema;
  }
  registerPath(): void {}
  registerWebhook(): void {}
  registerComponent(type: string, name: string) {
    return { name, ref: { $ref: `#/components/${type}/${name}` } };
  }
}

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
