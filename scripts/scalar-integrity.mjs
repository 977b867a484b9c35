// Prints the pin for src/http/security-headers.ts (SCALAR_BUNDLE): the jsDelivr URL of
// @scalar/api-reference's standalone bundle at <version>, and its Subresource Integrity hash,
// computed from the package npm itself serves (jsDelivr serves npm files byte for byte).
//   node scripts/scalar-integrity.mjs 1.76.0
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const version = process.argv[2];
if (!/^\d+\.\d+\.\d+$/.test(version ?? "")) {
  console.error("usage: node scripts/scalar-integrity.mjs <exact version, e.g. 1.76.0>");
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), "scalar-"));
try {
  const tarball = execFileSync("npm", ["pack", `@scalar/api-reference@${version}`, "--silent", "--pack-destination", dir], { encoding: "utf8" }).trim();
  execFileSync("tar", ["xzf", join(dir, tarball), "-C", dir, "package/package.json", "package/dist/browser/standalone.js"]);
  const entry = JSON.parse(readFileSync(join(dir, "package/package.json"), "utf8")).browser;
  if (entry !== "./dist/browser/standalone.js") throw new Error(`the package's browser entry moved to ${entry}`);
  const bundle = readFileSync(join(dir, "package/dist/browser/standalone.js"));
  console.log(`version: "${version}",`);
  console.log(`url: "https://cdn.jsdelivr.net/npm/@scalar/api-reference@${version}/dist/browser/standalone.js",`);
  console.log(`integrity: "sha384-${createHash("sha384").update(bundle).digest("base64")}",`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
