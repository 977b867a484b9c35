// Runs before `npm run dev`: creates .dev.vars with fresh secrets if missing, applies local D1 migrations.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { generateSecrets, toDevVars } from "./secrets.mjs";

const devVars = new URL("../.dev.vars", import.meta.url);
const LOCAL_DEV_ORIGINS = "http://localhost:5173,http://localhost:3000";
if (!existsSync(devVars)) {
  writeFileSync(devVars, toDevVars(generateSecrets()), { mode: 0o600 });
  console.log("created .dev.vars with fresh local secrets (git-ignored)");
}

// Local front-end dev servers (Vite, Next/CRA) may call `wrangler dev`; production's CORS_ORIGINS stays in wrangler.toml.
if (!/^CORS_ORIGINS=/m.test(readFileSync(devVars, "utf8"))) {
  appendFileSync(devVars, `\n${toDevVars({ CORS_ORIGINS: LOCAL_DEV_ORIGINS })}`);
  console.log(`added CORS_ORIGINS=${LOCAL_DEV_ORIGINS} to .dev.vars`);
}

// Local receivers (http://localhost / 127.0.0.1) are allowed as webhook URLs only in development: never set in wrangler.toml.
if (!/^ALLOW_LOCAL_WEBHOOKS=/m.test(readFileSync(devVars, "utf8"))) {
  appendFileSync(devVars, toDevVars({ ALLOW_LOCAL_WEBHOOKS: "1" }));
  console.log("added ALLOW_LOCAL_WEBHOOKS=1 to .dev.vars (webhooks may target http://localhost)");
}

// The local mail catcher (/__dev/mail) and hosted-page links on the dev server's default address.
// `npm run dev -- --port 9000 --var PUBLIC_URL:http://localhost:9000` moves both (--var wins over .dev.vars).
const LOCAL_MAIL_VARS = { MAIL_CATCHER: "1", PUBLIC_URL: "http://localhost:8787", APP_URL: "http://localhost:8787/docs" };
for (const [name, value] of Object.entries(LOCAL_MAIL_VARS)) {
  if (!new RegExp(`^${name}=`, "m").test(readFileSync(devVars, "utf8"))) {
    appendFileSync(devVars, `\n${toDevVars({ [name]: value })}`);
    console.log(`added ${name}=${value} to .dev.vars`);
  }
}

// Local development may run without PASSWORD_PEPPER; a deployment (no ENVIRONMENT var) may not.
if (!/^ENVIRONMENT=/m.test(readFileSync(devVars, "utf8"))) {
  appendFileSync(devVars, toDevVars({ ENVIRONMENT: "development" }));
  console.log("added ENVIRONMENT=development to .dev.vars");
}

execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local"], {
  stdio: "inherit",
  env: { ...process.env, CI: "1" },
});
