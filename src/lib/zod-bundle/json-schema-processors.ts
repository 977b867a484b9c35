// Stand-in for zod's v4/core/json-schema-processors.js in the deployed bundle (see README.md here). The
// processors only run inside JSON Schema generation (stand-in: to-json-schema.ts); `aggregateChecks` also
// backs the public getters (`minLength`, `maxValue`, `isInt`, …), so it is zod's own, imported by a path
// the alias does not match.
export { aggregateChecks } from "../../../node_modules/zod/v4/core/json-schema-processors.js";

const notBundled = (): never => {
  throw new Error("zod's JSON Schema generation is not bundled in this Worker");
};

export const allProcessors = {};
export {
  notBundled as toJSONSchema,
  notBundled as stringProcessor,
  notBundled as numberProcessor,
  notBundled as booleanProcessor,
  notBundled as bigintProcessor,
  notBundled as symbolProcessor,
  notBundled as nullProcessor,
  notBundled as undefinedProcessor,
  notBundled as voidProcessor,
  notBundled as neverProcessor,
  notBundled as anyProcessor,
  notBundled as unknownProcessor,
  notBundled as dateProcessor,
  notBundled as enumProcessor,
  notBundled as literalProcessor,
  notBundled as nanProcessor,
  notBundled as templateLiteralProcessor,
  notBundled as fileProcessor,
  notBundled as successProcessor,
  notBundled as customProcessor,
  notBundled as functionProcessor,
  notBundled as transformProcessor,
  notBundled as mapProcessor,
  notBundled as setProcessor,
  notBundled as arrayProcessor,
  notBundled as objectProcessor,
  notBundled as unionProcessor,
  notBundled as intersectionProcessor,
  notBundled as tupleProcessor,
  notBundled as recordProcessor,
  notBundled as nullableProcessor,
  notBundled as nonoptionalProcessor,
  notBundled as defaultProcessor,
  notBundled as prefaultProcessor,
  notBundled as catchProcessor,
  notBundled as pipeProcessor,
  notBundled as readonlyProcessor,
  notBundled as promiseProcessor,
  notBundled as optionalProcessor,
  notBundled as lazyProcessor,
};
