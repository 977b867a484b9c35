// The Worker `npm run bench` runs (bench/run.mjs starts `wrangler dev bench/worker.ts`): the production app
// plus bench-only routes (bench/routes.ts) and a cost meter. The deployed bundle's entry is src/index.ts.
import { createApp } from "../src/app";
import type { Env } from "../src/env";
import production from "../src/index";
import { AFTER_RESPONSE_SQL, BENCH_COST_HEADER, benchRoutes, meteredD1, meteredNamespace, type RequestCost } from "./routes";

export { RateLimiter } from "../src/rate-limit/rate-limiter";

const app = createApp(benchRoutes);

/**
 * A request sent with `X-Bench-Cost: 1` runs against metered bindings and gets back the D1 `meta` of
 * every statement it ran, its D1 round trips and its Durable Object calls, as JSON in the same header.
 * It is a probe for the cost model, not for timing: load runs never send the header.
 */
export default {
  ...production,
  async fetch(request, env, ctx) {
    if (request.headers.get(BENCH_COST_HEADER) !== "1") return app.fetch(request, env, ctx);
    const cost: RequestCost = { statements: [], d1Calls: 0, durableObjectRequests: 0 };
    const metered = { ...env, DB: meteredD1(env.DB, cost), RATE_LIMITER: meteredNamespace(env.RATE_LIMITER, cost) };
    // The outbox hand-off runs in waitUntil: count what the response did not wait for apart.
    const pending: Promise<unknown>[] = [];
    const tracked = { waitUntil: (promise: Promise<unknown>) => (pending.push(promise), ctx.waitUntil(promise)), passThroughOnException: () => ctx.passThroughOnException(), props: ctx.props } as ExecutionContext;
    const response = await app.fetch(request, metered, tracked);
    await Promise.allSettled(pending);
    cost.d1CallsAfterResponse = new Set(cost.statements.filter((s) => AFTER_RESPONSE_SQL.test(s.sql)).map((s) => s.call)).size;
    const reported = new Response(response.body, response);
    reported.headers.set(BENCH_COST_HEADER, JSON.stringify(cost));
    return reported;
  },
} satisfies ExportedHandler<Env>;
