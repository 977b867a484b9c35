// The deployed bundle as `wrangler deploy` would upload it (`--dry-run`, nothing leaves the machine), its
// size, and the checks on it: shared by `npm run bundle:check` (CI) and the bench's bundle section.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { ROOT, TOOL_ENV } from "./local-worker.mjs";

const run = promisify(execFile);

// See README "Bundle" for what is in it and the levers that brought it here.
export const GZIP_BUDGET_BYTES = 120 * 1024;

/**
 * Specifiers wrangler.toml's `[alias]` swaps for stand-ins (src/lib/zod-bundle/README.md,
 * src/lib/drizzle-bundle/README.md), each with the one
 * package allowed to import it: a stand-in is only right for the importer it was written for.
 */
export const ALIASES = {
  "zod": "@hono/zod-openapi",
  "@asteasolutions/zod-to-openapi": "@hono/zod-openapi",
  "../locales/index.js": "zod",
  "./compile.js": "zod",
  "./from-json-schema.js": "zod",
  "../core/to-json-schema.js": "zod",
  "./to-json-schema.js": "zod",
  "../core/json-schema-processors.js": "zod",
  "./json-schema-processors.js": "zod",
  "./json-schema-generator.js": "zod",
  "../pg-core/columns/enum.js": "drizzle-orm",
  "./pg-core/primary-keys.js": "drizzle-orm",
};

/** Modules only tests and the build-time OpenAPI document use: never part of the deployed Worker. */
export const BUILD_TIME_ONLY = ["src/openapi-document.ts", "src/features/webhooks/receiver.ts", "src/http/route-docs.ts"];

/** src/ reaches zod through src/lib/zod.ts only, whose named API is what the "zod" stand-in hands @hono/zod-openapi. */
const ZOD_GATEWAY = /^src\/lib\/(zod\.ts|zod-bundle\/)/;

/** The `[alias]` keys of wrangler.toml, read as text (one `"specifier" = "target"` per line). */
async function configuredAliases() {
  const toml = await readFile(join(ROOT, "wrangler.toml"), "utf8");
  const section = /^\[alias\]\n([\s\S]*?)(?=^\[)/m.exec(toml)?.[1] ?? "";
  return [...section.matchAll(/^"([^"]+)"\s*=/gm)].map((match) => match[1]);
}

/**
 * Builds with `wrangler deploy --dry-run --outdir <dir> --metafile`. Returns raw and gzip bytes of the emitted
 * modules (source maps and JSON excluded), wrangler's own size line, and esbuild's metafile.
 */
export async function buildBundle(extraArgs = [], { outdir } = {}) {
  const dir = outdir ?? (await mkdtemp(join(tmpdir(), "edge-invites-bundle-")));
  await rm(dir, { recursive: true, force: true });
  const { stdout } = await run(
    join(ROOT, "node_modules", ".bin", "wrangler"),
    ["deploy", "--dry-run", "--outdir", dir, "--metafile", join(dir, "meta.json"), "-c", join(ROOT, "wrangler.toml"), ...extraArgs],
    { cwd: ROOT, env: TOOL_ENV, maxBuffer: 64 * 1024 * 1024 },
  );
  let rawBytes = 0;
  let gzipBytes = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.name.endsWith(".map") || entry.name.endsWith(".json") || entry.name === "README.md") continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    rawBytes += (await stat(path)).size;
    gzipBytes += gzipSync(await readFile(path)).length;
  }
  const meta = JSON.parse(await readFile(join(dir, "meta.json"), "utf8"));
  const reported = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(stdout);
  if (!outdir) await rm(dir, { recursive: true, force: true });
  return { rawBytes, gzipBytes, meta, wranglerReport: reported ? `${reported[1]} KiB / gzip ${reported[2]} KiB` : null };
}

/** Problems with a build, as sentences (empty when it is fine). */
export async function bundleProblems({ gzipBytes, meta }) {
  const problems = [];
  const configured = await configuredAliases();
  for (const specifier of configured) if (!(specifier in ALIASES)) problems.push(`wrangler.toml aliases "${specifier}", which scripts/lib/bundle.mjs ALIASES does not list`);
  for (const specifier of Object.keys(ALIASES)) if (!configured.includes(specifier)) problems.push(`ALIASES lists "${specifier}", which wrangler.toml does not alias`);
  for (const [input, { imports }] of Object.entries(meta.inputs)) {
    for (const { original } of imports) {
      const importer = ALIASES[original];
      if (importer && !input.includes(`node_modules/${importer}/`)) {
        problems.push(`${input} imports "${original}", which wrangler.toml's [alias] replaces with a stand-in meant for ${importer}`);
      }
      if (/^zod(\/|$)/.test(original) && input.startsWith("src/") && !ZOD_GATEWAY.test(input)) {
        problems.push(`${input} imports "${original}": import zod's API from src/lib/zod.ts`);
      }
    }
    if (input.startsWith("src/") && !ZOD_GATEWAY.test(input)) {
      // `z` from @hono/zod-openapi is, in this bundle, src/lib/zod.ts's API with the types of all of zod.
      const source = await readFile(join(ROOT, input), "utf8");
      for (const [, names] of source.matchAll(/^import\s+\{([^}]*)\}\s+from\s+"@hono\/zod-openapi"/gm)) {
        if (names.split(",").some((name) => name.trim().split(/\s+as\s+/)[0] === "z")) problems.push(`${input} imports z from "@hono/zod-openapi": import * as z from src/lib/zod.ts`);
      }
    }
    if (/(^|\/)bench\//.test(input)) problems.push(`${input} is bench-only code but is in the deployed bundle`);
    if (BUILD_TIME_ONLY.includes(input)) problems.push(`${input} is build-time only (the OpenAPI document) but is in the deployed bundle`);
  }
  if (gzipBytes > GZIP_BUDGET_BYTES) problems.push(`the bundle is ${(gzipBytes / 1024).toFixed(1)} KiB gzip, over the ${GZIP_BUDGET_BYTES / 1024} KiB budget`);
  return problems;
}

/** Bytes in the output per package (or "src/ (our code)"), largest first. */
export function contributors(meta, top = 8) {
  const byPackage = new Map();
  for (const output of Object.values(meta.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs ?? {})) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const name = match ? match[1] : input.startsWith("src/") || input.includes("/src/") ? "src/ (our code)" : "other";
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
}
