import { app } from "./app";
import type { Env } from "./env";
import { PURGE_CRON, runMaintenance } from "./features/maintenance/service";
import { handleMailBatch } from "./outbox/mail-consumer";
import { MAIL_QUEUE_NAME } from "./outbox/mail-jobs";
import { purgeFinishedMail, reenqueueStuckMail } from "./outbox/maintenance";
import { consumeWebhookBatch, sweepOutbox, WEBHOOK_QUEUE_NAME } from "./outbox/webhooks";

export { RateLimiter } from "./rate-limit/rate-limiter";

/** One consumer per Queue of this Worker, chosen by the batch's queue name. */
const QUEUE_CONSUMERS: Record<string, (batch: MessageBatch<any>, env: Env) => Promise<void>> = {
  [WEBHOOK_QUEUE_NAME]: consumeWebhookBatch,
  [MAIL_QUEUE_NAME]: handleMailBatch,
};

export default {
  fetch: app.fetch,
  async queue(batch, env) {
    const consume = QUEUE_CONSUMERS[batch.queue];
    if (!consume) throw new Error(`No consumer for queue ${batch.queue}`);
    await consume(batch, env);
  },
  async scheduled(controller, env) {
    const swept = await sweepOutbox(env, controller.scheduledTime);
    const mailReenqueued = await reenqueueStuckMail(env, controller.scheduledTime);
    if (controller.cron !== PURGE_CRON) {
      if (swept || mailReenqueued) console.log(JSON.stringify({ msg: "outbox sweep", cron: controller.cron, webhookDeliveries: swept, mailJobs: mailReenqueued }));
      return;
    }
    const { purge, inviteTokens, webhookSecrets, tenantNames } = await runMaintenance(env, controller.scheduledTime);
    const mailJobs = await purgeFinishedMail(env, controller.scheduledTime);
    console.log(JSON.stringify({ msg: "purge", cron: controller.cron, ...purge, mailJobs, sweptWebhookDeliveries: swept, mailReenqueued }));
    console.log(JSON.stringify({ msg: "invite tokens re-encrypted", cron: controller.cron, ...inviteTokens, webhookSecrets }));
    console.log(JSON.stringify({ msg: "tenant name keys renormalized", cron: controller.cron, ...tenantNames }));
  },
} satisfies ExportedHandler<Env>;
