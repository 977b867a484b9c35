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

// 120 KiB until issue 14: memberships (+4.6 KiB) and events + webhooks (+10 KiB: the Queue consumer, eight
// routes, Standard Webhooks signing, the outbox) brought the bundle to 122.6 KiB; issue 13's email channel (the
// hosted pages with hono/jsx ~5 KiB, mail templates in two languages, the mail outbox and consumer, verification
// and password reset ~15 KiB) to ~142 KiB. See README "Bundle".
export const GZIP_BUDGET_BYTES = 148 * 1024;

/** Specifiers `[alias]` in wrangler.toml swaps (src/lib/zod-bundle/README.md): only zod may import them. */
export const ALIASED_SPECIFIERS = ["../locales/index.js", "./compile.js", "./from-json-schema.js"];

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
export function bundleProblems({ gzipBytes, meta }) {
  const problems = [];
  for (const [input, { imports }] of Object.entries(meta.inputs)) {
    for (const { original } of imports) {
      if (ALIASED_SPECIFIERS.includes(original) && !/node_modules\/zod\//.test(input)) {
        problems.push(`${input} imports "${original}", which wrangler.toml's [alias] replaces with a zod stand-in`);
      }
    }
    if (/(^|\/)bench\//.test(input)) problems.push(`${input} is bench-only code but is in the deployed bundle`);
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
