import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
// plain ESM helper shared with scripts/dev-setup.mjs
import { generateSecrets } from "./scripts/secrets.mjs";

/** What the test webhook receiver (below) was sent, by URL path. */
const received = new Map<string, unknown[]>();

export default defineConfig(async () => {
  const migrations = await readD1Migrations(new URL("./drizzle", import.meta.url).pathname);
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // Fresh secrets every run: tests never depend on a committed key.
          // ALLOW_LOCAL_WEBHOOKS off whatever a local .dev.vars says: the tests that want it set it themselves.
          // ENVIRONMENT=development as under `npm run dev`: tests of production strictness override it.
          // The mail vars are pinned too: a developer's .dev.vars (npm run dev turns the mail catcher on) must not leak in.
          bindings: {
            ...generateSecrets(),
            ENVIRONMENT: "development",
            TEST_MIGRATIONS: migrations,
            ALLOW_LOCAL_WEBHOOKS: "",
            PUBLIC_URL: "https://edge-invites.test",
            APP_URL: "https://app.edge-invites.example/",
            MAIL_CATCHER: "0",
          },
          // No test reaches the network: every outbound request of the Worker ends here, in Node.
          // `https://hooks.*` is a webhook receiver (204, remembered per path, read back through
          // `https://receiver.control/log?path=…`, see test/webhook-helpers.ts); anything else is a 503.
          outboundService: async (request: Request) => {
            const url = new URL(request.url);
            if (url.hostname === "receiver.control") return Response.json(received.get(url.searchParams.get("path") ?? "") ?? []);
            if (url.hostname.startsWith("hooks.")) {
              const entry = { url: request.url, method: request.method, headers: Object.fromEntries(request.headers), body: await request.text() };
              received.set(url.pathname, [...(received.get(url.pathname) ?? []), entry]);
              return new Response(null, { status: 204 });
            }
            return new Response(`outbound network is disabled in tests (${request.method} ${url.origin})`, { status: 503 });
          },
          // Empty databases for test/upgrade.test.ts and test/upgrade-links.test.ts, which migrate a previous release's rows in place.
          d1Databases: ["UPGRADE_DB", "UPGRADE_LINKS_DB"],
          // Mail jobs go to a queue nobody consumes: tests run the consumer themselves (createMessageBatch),
          // with the Mailer they choose, instead of racing a background delivery. test/e2e runs the real wiring.
          // (queueProducers replaces the wrangler.toml list, so the webhook queue is named again, unchanged.)
          queueProducers: { MAIL_QUEUE: { queueName: "edge-invites-mail-under-test" }, WEBHOOK_QUEUE: { queueName: "edge-invites-webhooks" } },
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts", "test/**/*.test.tsx"],
      setupFiles: ["./test/setup.ts"],
      testTimeout: 30_000,
      hookTimeout: 30_000,
      // The Worker's one-line-per-request log (src/http/request-log.ts) would bury test output;
      // test/http/observability.test.ts asserts on it through a console spy instead.
      onConsoleLog: (log) => !log.startsWith('{"msg":"request"'),
    },
  };
});
