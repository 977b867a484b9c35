type ProjectEnv = import("../src/env").Env;

declare namespace Cloudflare {
  interface Env extends ProjectEnv {
    TEST_MIGRATIONS: import("@cloudflare/vitest-pool-workers").D1Migration[];
    UPGRADE_DB: D1Database;
    UPGRADE_LINKS_DB: D1Database;
  }
}

/** Vite raw imports: a file's text (used to assert on the deployed configuration). */
declare module "*?raw" {
  const text: string;
  export default text;
}
