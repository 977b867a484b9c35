import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
// plain ESM helper shared with scripts/dev-setup.mjs
import { generateSecrets } from "./scripts/secrets.mjs";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(new URL("./drizzle", import.meta.url).pathname);
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // Fresh secrets every run: tests never depend on a committed key.
          bindings: { ...generateSecrets(), TEST_MIGRATIONS: migrations },
          // An empty database for test/upgrade.test.ts, which migrates a previous release's rows in place.
          d1Databases: ["UPGRADE_DB"],
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      setupFiles: ["./test/setup.ts"],
      testTimeout: 30_000,
      hookTimeout: 30_000,
      // The Worker's one-line-per-request log (src/http/request-log.ts) would bury test output;
      // test/http/observability.test.ts asserts on it through a console spy instead.
      onConsoleLog: (log) => !log.startsWith('{"msg":"request"'),
    },
  };
});
