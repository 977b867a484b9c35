// Stand-in for zod's v4/core/compile.js in the deployed bundle (see README.md here). zod's compiler
// emits code through `new Function`, which the Workers runtime refuses, so it could never run here.
export const INVALID: unique symbol = Symbol.for("zod.compile.invalid") as never;

export class ZodCompileAsyncError extends Error {
  override name = "ZodCompileAsyncError";
}

export class ZodCompileUnsupportedError extends Error {
  override name = "ZodCompileUnsupportedError";
}

const unsupported = () => new ZodCompileUnsupportedError("z.compile is not available in this Worker (code generation is disallowed)");

/** zod's documented fallback when a schema cannot be compiled: the schema itself, on the runtime parser. */
export function compile<T>(schema: T, options?: { strict?: boolean }): T {
  if (options?.strict) throw unsupported();
  return schema;
}

export function withParser(): never {
  throw unsupported();
}

export function compileFn(): never {
  throw unsupported();
}
