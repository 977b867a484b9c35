// `npm run bundle:check` (CI): the deployed bundle stays within its gzip budget, holds no bench or build-time
// code, and wrangler.toml's stand-ins replace nothing but the modules they were written for.
import { buildBundle, bundleProblems, GZIP_BUDGET_BYTES } from "./lib/bundle.mjs";

const build = await buildBundle();
const problems = await bundleProblems(build);
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
if (problems.length) {
  for (const problem of problems) console.error(`bundle: ${problem}`);
  process.exit(1);
}
console.log(`bundle: ${kib(build.rawBytes)} raw, ${kib(build.gzipBytes)} gzip (budget ${kib(GZIP_BUDGET_BYTES)})`);
