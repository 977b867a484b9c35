import { app } from "./app";
import type { Env } from "./env";
import { purgeExpired } from "./features/maintenance/service";

export { RateLimiter } from "./rate-limit/rate-limiter";

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    const purged = await purgeExpired(env, controller.scheduledTime);
    console.log(JSON.stringify({ msg: "purge", cron: controller.cron, ...purged }));
  },
} satisfies ExportedHandler<Env>;
