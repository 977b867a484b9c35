// Stand-in for zod's v4/core/json-schema-generator.js in the deployed bundle (see README.md here).
export class JSONSchemaGenerator {
  constructor() {
    throw new Error("zod's JSON Schema generation is not bundled in this Worker");
  }
}
