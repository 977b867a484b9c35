// Stand-in for zod's v4/classic/from-json-schema.js in the deployed bundle (see README.md here).
export function fromJSONSchema(): never {
  throw new Error("z.fromJSONSchema is not bundled in this Worker");
}
