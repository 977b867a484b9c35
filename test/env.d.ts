type ProjectEnv = import("../src/env").Env;

declare namespace Cloudflare {
  interface Env extends ProjectEnv {
    TEST_MIGRATIONS: import("@cloudflare/vitest-pool-workers").D1Migration[];
  }
}
