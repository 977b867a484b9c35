// Runs before `npm run dev`: creates .dev.vars with fresh secrets if missing, applies local D1 migrations.
import { existsSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { generateSecrets, toDevVars } from "./secrets.mjs";

const devVars = new URL("../.dev.vars", import.meta.url);
if (!existsSync(devVars)) {
  writeFileSync(devVars, toDevVars(generateSecrets()), { mode: 0o600 });
  console.log("created .dev.vars with fresh local secrets (git-ignored)");
}

execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local"], {
  stdio: "inherit",
  env: { ...process.env, CI: "1" },
});
