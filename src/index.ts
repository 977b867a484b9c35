import { app } from "./app";
import type { Env } from "./env";
import { runMaintenance } from "./features/maintenance/service";

export { RateLimiter } from "./rate-limit/rate-limiter";

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    const { purge, inviteTokens } = await runMaintenance(env, controller.scheduledTime);
    console.log(JSON.stringify({ msg: "purge", cron: controller.cron, ...purge }));
    console.log(JSON.stringify({ msg: "invite tokens re-encrypted", cron: controller.cron, ...inviteTokens }));
  },
} satisfies ExportedHandler<Env>;
