// Proves src/db/schema.ts and drizzle/ agree: drizzle-kit generate against a scratch copy of the
// migrations must find nothing to do. Never touches drizzle/ itself.
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";

const scratch = mkdtempSync(join(tmpdir(), "drizzle-check-"));
try {
  cpSync("drizzle", scratch, { recursive: true });
  const before = readdirSync(scratch).filter((f) => f.endsWith(".sql"));
  const output = execFileSync(
    "drizzle-kit",
    ["generate", "--dialect", "sqlite", "--schema", "./src/db/schema.ts", "--out", scratch, "--name", "drift"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  const after = readdirSync(scratch).filter((f) => f.endsWith(".sql"));
  if (after.length !== before.length) {
    console.error(output);
    console.error("src/db/schema.ts has changes that drizzle/ lacks: run `npm run db:generate` and commit the migration.");
    process.exit(1);
  }
  console.log(`schema and migrations agree (${before.length} migration file(s))`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
