import { writeFile } from "node:fs/promises";
import { PRICES, SIZE_LIMITS, SOURCES } from "./prices.mjs";
import { ROOT } from "./wrangler.mjs";

const GOAL_BUNDLE_GZIP_BYTES = 120 * 1024;
const fmt = (n, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? "n/a" : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }));
const kib = (bytes) => `${fmt(bytes / 1024, 1)} KiB`;
const usd = (n) => (n >= 100 ? `$${fmt(n, 0)}` : n >= 1 ? `$${fmt(n, 2)}` : `$${fmt(n, 3)}`);
const mark = (met) => (met === null ? "n/a" : met ? "✅ met" : "❌ not met");
const escapeXml = (s) => String(s).replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]);

/** The routes the "one round trip" goal is about (issue 16), with the labels the tables use. */
export const HOT_ROUTES = [
  ["list", "GET /invites (list)"],
  ["create", "POST /invites (create)"],
  ["preview", "GET /invites/{token} (preview)"],
  ["getInvite", "GET /invites/{id}"],
  ["usersList", "GET /users (list)"],
];
const OTHER_ROUTES = [
  ["register", "POST /invites/{token}/register"],
  ["login", "POST /auth/login"],
];

/** Profiled in-isolate time per request (bench/lib/profile.mjs: idle and local-only samples left out). */
export const isolateMs = (profile) => (profile ? profile.activeMs / Math.max(1, profile.requests) : null);

/** ms per request sampled in the password hash (src/security/passwords.ts and the WebCrypto it calls). */
export const hashMs = (profile) =>
  profile.byModule.filter(([label]) => label.startsWith("src/security/passwords.ts")).reduce((a, [, ms]) => a + ms, 0) / Math.max(1, profile.requests);

/** The figures the issue's goals are about, each with its threshold and whether it holds. */
export function goals(r) {
  const t = r.throughput;
  const ratio = (key) => (t[key] ? t[key].rps / r.floorRps : null);
  const largeK = `${r.settings.largeInvites / 1000}k`;
  const scaleRatio = r.scale.largeFirst.p50 / r.scale.smallFirst.p50;
  const p = r.profiles;
  const cpuRatio = (key) => (p?.[key] && p.floor ? isolateMs(p[key]) / isolateMs(p.floor) : null);
  // The request's own PBKDF2 samples (src/security/passwords.ts, its native deriveBits included): the
  // same run, the same requests, so the load of the moment weighs on both sides alike.
  const overHash = (key) => (p?.[key] ? isolateMs(p[key]) - hashMs(p[key]) : null);
  const registerCost = r.operations.find((o) => o.name === "register")?.dollars.total ?? null;
  const list = [
    ...HOT_ROUTES.map(([key, label]) => {
      const c = r.calls[key];
      return {
        key: `calls-${key}`,
        label: `one round trip: ${label}, D1 calls · DO calls`,
        value: c ? Math.max(c.d1Calls, c.doCalls) : null,
        display: c ? `${c.d1Calls} · ${c.doCalls}${c.d1CallsAfterResponse ? ` (+${c.d1CallsAfterResponse} D1 after the response)` : ""}` : "n/a",
        goal: 1,
        goalText: "≤ 1 · ≤ 1",
        atLeast: false,
        chart: false,
      };
    }),
    ...["list", "create", "preview"].map((key) => ({ key: `cpu-${key}`, label: `${key}: in-isolate CPU ÷ floor's`, value: cpuRatio(key), goal: 2, atLeast: false, profile: true })),
    ...["register", "login"].map((key) => ({ key: `cpu-${key}`, label: `${key}: in-isolate CPU beyond its own hash (ms)`, value: overHash(key), goal: 1, atLeast: false, profile: true, chart: false })),
    { key: "list", label: "list ÷ floor (req/s)", value: ratio("list"), goal: 0.6, atLeast: true },
    { key: "create", label: "create ÷ floor (req/s)", value: ratio("create"), goal: 0.6, atLeast: true },
    { key: "preview", label: "preview ÷ floor (req/s)", value: ratio("preview"), goal: 0.6, atLeast: true },
    { key: "register", label: "register ÷ PBKDF2-only (req/s)", value: t.register.rps / t.pbkdf2.rps, goal: 0.8, atLeast: true },
    { key: "scale", label: `list p50 at ${largeK} ÷ at 1k invites`, value: scaleRatio, goal: 1.5, atLeast: false },
    r.scale.largeCursorLast
      ? { key: "deep", label: `list p50, last page via cursor (starting_after) ÷ first page at ${largeK}`, value: r.scale.largeCursorLast.p50 / r.scale.largeFirst.p50, goal: 1.5, atLeast: false }
      : { key: "deep", label: `list p50, last page ÷ first page at ${largeK}`, value: r.scale.largeLast.p50 / r.scale.largeFirst.p50, goal: 1.5, atLeast: false },
    { key: "cost", label: "$ per million registrations", value: registerCost, goal: 5, atLeast: false, chart: false },
    { key: "bundle", label: "bundle gzip (KiB)", value: r.bundle.asConfigured.gzipBytes / 1024, goal: GOAL_BUNDLE_GZIP_BYTES / 1024, atLeast: false },
  ];
  return list.map((g) => ({ ...g, met: g.value === null ? null : g.atLeast ? g.value >= g.goal : g.value <= g.goal }));
}

const LEVERS = {
  requestLogLine: ["request log line", "`JSON.stringify` of an object", "one-pass text (`requestLogLine`)"],
  jwtKeyRing: ["JWT key ring", "parse + `importJWK` (private and public)", "`loadKeyRing`, cached per isolate by the secret strings"],
  aesKey: ["invite-token AES key", "`crypto.subtle.importKey`", "`loadTokenKeyring`, cached per isolate by the secret strings"],
  drizzleInstance: ["drizzle handle (several per request)", "`drizzle(d1, { schema })`", "`drizzle(d1)` (no relational config to rebuild)"],
  listQueryBuilding: ["list page query", "drizzle builder + `toSQL` + prepare/bind", "fixed SQL string + prepare/bind"],
};

function leverSection(r) {
  if (!r.levers) return [];
  return [
    "## CPU levers, before and after",
    "",
    "`GET /__bench/levers` times each lever's old and new code side by side in the Worker's isolate (mean µs per call after a warm-up, over at least 40 ms: the Workers clock moves in whole milliseconds).",
    "",
    "| lever | before | µs | after | µs | after ÷ before |",
    "|---|---|---:|---|---:|---:|",
    ...Object.entries(r.levers).map(([key, m]) => {
      const [name, before, after] = LEVERS[key] ?? [key, "", ""];
      return `| ${name} | ${before} | ${fmt(m.beforeUs, 2)} | ${after} | ${fmt(m.afterUs, 2)} | ${fmt(m.ratio, 3)} |`;
    }),
    "",
  ];
}

function profileSection(r) {
  const p = r.profiles;
  if (!p) return [...leverSection(r), "## CPU profile", "", r.profileError ? `The profile failed in this run: ${r.profileError}` : "Not measured in this run: `npm run bench -- --profile` adds it.", ""];
  const keys = Object.keys(p);
  const floorMs = isolateMs(p.floor);
  const perRequest = (key, label) => (p[key].byModule.find(([l]) => l === label)?.[1] ?? 0) / Math.max(1, p[key].requests);
  const totals = new Map();
  for (const key of keys) for (const [label] of p[key].byModule) totals.set(label, (totals.get(label) ?? 0) + perRequest(key, label));
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 18).map(([label]) => label);
  const rest = (key) => p[key].byModule.filter(([label]) => !top.includes(label)).reduce((a, [, ms]) => a + ms, 0) / Math.max(1, p[key].requests);
  return [
    ...leverSection(r),
    "## CPU profile",
    "",
    `A V8 CPU profile of the Worker's isolate over the inspector (\`wrangler dev --inspector-port\`, DevTools \`Profiler.start/stop\`, ${r.settings.profileSec} s per route of the same requests in ${r.settings.profileRounds ?? 1} interleaved rounds, ${r.settings.profileConnections ?? 8} at a time, ` +
      "sampling every 200 µs), taken after the timed runs so it never slows them. It covers only the Worker's own isolate: local D1 and the rate limiter's Durable Object run in other isolates " +
      "and are not in it, as in production. The run is unminified (`--no-minify`), so each sampled line maps to its module through the `// path` markers esbuild writes. " +
      "Samples are wall-clock while the isolate executes, so on this shared machine they also count time the thread was preempted: compare routes within the run, not with other machines. " +
      "`console.log` is silenced for these slices (`POST /__bench/console?quiet=1`): locally it blocks on wrangler dev's log pipe for longer than the whole process's CPU per request (read from /proc), which says nothing about a deployed Worker; the line is still built. " +
      "Samples of the rate limiter's Durable Object and of miniflare's wrapper scripts, which share the isolate only locally, are shown as *(local only)* and left out of *in-isolate ms*; " +
      "so are samples under the Worker's `queue()` handler (the mail consumer sending a registration's verification mail runs in the same isolate right after it locally): *(queue consumer)*, a separate invocation in production. " +
      "*hash ms* is the request's own samples in `src/security/passwords.ts` (PBKDF2 and the WebCrypto it calls).",
    "",
    "| route | requests | in-isolate ms/req | ÷ floor | hash ms/req | beyond the hash |",
    "|---|---:|---:|---:|---:|---:|",
    ...keys.map((key) => {
      const hash = hashMs(p[key]);
      return `| ${p[key].label} | ${fmt(p[key].requests)} | ${fmt(isolateMs(p[key]), 2)} | ${fmt(isolateMs(p[key]) / floorMs, 2)} | ${hash ? fmt(hash, 2) : "–"} | ${hash ? fmt(isolateMs(p[key]) - hash, 2) : "–"} |`;
    }),
    "",
    "Self time by module, ms per request (native code — WebCrypto, JSON, Response, console — is charged to the module that called it, as *(native calls)*):",
    "",
    `| module | ${keys.join(" | ")} |`,
    `|---|${keys.map(() => "---:").join("|")}|`,
    ...top.map((label) => `| ${label} | ${keys.map((key) => fmt(perRequest(key, label), 3)).join(" | ")} |`),
    `| (other) | ${keys.map((key) => fmt(rest(key), 3)).join(" | ")} |`,
    "",
  ];
}

function countAnalysis(r) {
  const statements = r.scale.largeFirst.cost.statements;
  const count = statements.find((s) => /^select count/i.test(s.sql));
  const page = statements.find((s) => /^select/i.test(s.sql) && !/count\(/i.test(s.sql) && /from "invites"/i.test(s.sql));
  if (!count) return null;
  return { count, page, rowsRead: sum(statements, "rowsRead"), d1Ms: sum(statements, "durationMs") };
}
const sum = (items, key) => items.reduce((total, item) => total + item[key], 0);

function svgChart(list) {
  // The bundle goal is a size: charted as a ratio to its 120 KiB budget.
  const rows = list.filter((g) => g.chart !== false && g.value !== null).map((g) => (g.key === "bundle" ? { ...g, label: "bundle gzip ÷ 120 KiB goal", value: g.value / g.goal, goal: 1 } : g));
  const width = 760;
  const rowHeight = 50;
  const left = 250;
  const right = 70;
  const top = 58;
  const height = top + rows.length * rowHeight + 56;
  const max = Math.max(1.6, ...rows.map((g) => g.value ?? 0)) * 1.05;
  const x = (v) => left + (v / max) * (width - left - right);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="16" y="26" font-size="16" font-weight="600">edge-invites bench: ratios measured in one run</text>`,
    `<text x="16" y="45" fill="#555">bar = measured ratio; black tick = goal (green: met, red: not met); 1.0 = dashed</text>`,
  ];
  for (let v = 0; v <= max; v += 0.5) {
    parts.push(`<line x1="${x(v)}" y1="${top - 6}" x2="${x(v)}" y2="${top + rows.length * rowHeight}" stroke="${v === 1 ? "#888" : "#e5e5e5"}" ${v === 1 ? 'stroke-dasharray="4 3"' : ""}/>`);
    parts.push(`<text x="${x(v)}" y="${top + rows.length * rowHeight + 24}" text-anchor="middle" fill="#555">${v.toFixed(1)}</text>`);
  }
  rows.forEach((g, i) => {
    const y = top + i * rowHeight;
    const value = g.value ?? 0;
    const color = g.met === null ? "#bbbbbb" : g.met ? "#2e9d5b" : "#d64545";
    parts.push(`<text x="${left - 10}" y="${y + 22}" text-anchor="end">${escapeXml(g.label)}</text>`);
    if (g.value === null) {
      parts.push(`<text x="${left + 6}" y="${y + 22}" fill="#777">n/a</text>`);
    } else {
      parts.push(`<rect x="${left}" y="${y + 8}" width="${Math.max(1, x(value) - left)}" height="20" rx="3" fill="${color}"/>`);
      parts.push(`<text x="${Math.max(x(value), x(g.goal)) + 8}" y="${y + 23}" font-weight="600">${value.toFixed(2)}</text>`);
    }
    parts.push(`<line x1="${x(g.goal)}" y1="${y + 3}" x2="${x(g.goal)}" y2="${y + 33}" stroke="#111" stroke-width="2.5"/>`);
    parts.push(`<text x="${x(g.goal)}" y="${y + 44}" text-anchor="middle" font-size="11" fill="#333">${g.atLeast ? "≥" : "≤"} ${g.goal}</text>`);
  });
  parts.push(`<text x="16" y="${height - 8}" fill="#777" font-size="11">Regenerated by npm run bench; numbers in bench/results.md.</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

export async function writeReport(r) {
  const list = goals(r);
  const t = r.throughput;
  const largeK = `${r.settings.largeInvites / 1000}k`;
  const lines = [];
  const push = (...l) => lines.push(...l);
  push(
    "# Benchmark results",
    "",
    `Generated by \`npm run bench\`${r.quick ? " **--quick** (a smoke run: short measurements, 10k instead of 100k invites — do not quote)" : ""} on ${r.startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC.`,
    "Do not edit by hand: the command rewrites this file and [results.svg](results.svg).",
    "",
    `**Machine:** ${r.machine.cores} × ${r.machine.cpu}, ${r.machine.memoryGiB} GiB, ${r.machine.platform}; shared with other work ` +
      `(load average ${r.machine.loadAverage} at the end). Node ${r.versions.node}, wrangler ${r.versions.wrangler} (workerd ${r.versions.workerd}), autocannon ${r.versions.autocannon}. ` +
      "The load generator runs on the same cores as the worker, so absolute numbers mean little; the **ratios**, measured side by side in one run, are the figures that count.",
    "",
    "## Goals",
    "",
    "| goal | measured | target | |",
    "|---|---:|---:|---|",
    ...list.map(
      (g) =>
        `| ${g.label} | ${g.display ?? (g.value === null ? "n/a" : fmt(g.value, 2))} | ${g.goalText ?? `${g.atLeast ? "≥" : "≤"} ${g.goal}`} | ${g.value === null && g.profile ? "n/a (run with `--profile`)" : mark(g.met)} |`,
    ),
    "",
    "Where a goal is not met, the README's Performance section says why, with the profile below.",
    "",
    "![ratios](results.svg)",
    "",
    "## Round trips per request",
    "",
    "Counted by bench/worker.ts on one probed request per route (`X-Bench-Cost: 1`): a D1 call is one `run`/`all`/`first`/`raw` or one `batch` " +
      "(however many statements it holds) — one network round trip to the database in production; a DO call is one RPC to a Durable Object (the rate limiter). " +
      "*After the response*: the webhook outbox hand-off (src/http/outbox-dispatch.ts) that a write which recorded an event runs in `waitUntil` — a D1 call the client does not wait for.",
    "",
    "| route | D1 calls | D1 statements | DO calls | |",
    "|---|---:|---:|---:|---|",
    ...[...HOT_ROUTES, ...OTHER_ROUTES]
      .filter(([key]) => r.calls[key])
      .map(([key, label]) => {
        const c = r.calls[key];
        const hot = HOT_ROUTES.some(([k]) => k === key);
        return `| ${label} | ${c.d1Calls}${c.d1CallsAfterResponse ? ` (+${c.d1CallsAfterResponse} after the response)` : ""} | ${c.statements} | ${c.doCalls} | ${hot ? mark(c.d1Calls <= 1 && c.doCalls <= 1) : "(not a hot route)"} |`;
      }),
    "",
    ...profileSection(r),
    "## Throughput and latency",
    "",
    `autocannon, ${r.settings.connections} connections, against \`wrangler dev\` on 127.0.0.1. Each route gets a ${r.settings.warmupSec} s warm-up, then ${r.settings.rounds} rounds of ${r.settings.durationSec} s; ` +
      "within a round the routes run one after another, opening and closing with the floor route, so load from elsewhere on the machine hits all of them alike. " +
      "req/s counts 2xx responses over all rounds; p50/p99 are the median of the rounds'. The reference is the mean of all floor slices.",
    "",
    "| route | req/s | p50 ms | p99 ms | ÷ floor | ÷ floor, per round | CPU ms/req: Worker · whole dev server | non-2xx |",
    "|---|---:|---:|---:|---:|---|---:|---:|",
  );
  for (const [key, m] of Object.entries(t)) {
    const extra = key === "register" ? ` (÷ PBKDF2-only: **${fmt(m.rps / t.pbkdf2.rps, 2)}**)` : "";
    const rounds = m.roundRatios.map((v) => fmt(v, 2)).join(" · ");
    push(
      `| ${m.label} | ${fmt(m.rps)} | ${fmt(m.p50, 1)} | ${fmt(m.p99, 1)} | ${fmt(m.rps / r.floorRps, 2)}${extra} | ${rounds} | ${fmt(m.workerCpuMsPerRequest, 2)} · ${fmt(m.totalCpuMsPerRequest, 2)} | ${m.non2xx + m.errors + m.timeouts} |`,
    );
  }
  if (!r.preview.available) push(`| GET /invites/{token} (preview) | n/a | | | | | | ${r.preview.reason} |`);
  const floorCpu = (t.floorStart.workerCpuMsPerRequest + t.floorEnd.workerCpuMsPerRequest) / 2;
  const floorTotal = (t.floorStart.totalCpuMsPerRequest + t.floorEnd.totalCpuMsPerRequest) / 2;
  push(
    "",
    "CPU ms/req is read from /proc around each slice: *Worker* is the workerd process that runs the Worker with its local D1 and Durable Objects; " +
      "*whole dev server* adds wrangler's proxy workerd and its Node process (which also receives every log line). " +
      (Number.isFinite(floorCpu) && Number.isFinite(floorTotal)
        ? `On the floor route only ${fmt((floorCpu / floorTotal) * 100)}% of the dev server's CPU (${fmt(floorCpu, 2)} of ${fmt(floorTotal, 2)} ms) is the Worker's: ` +
          "most of the floor is `wrangler dev`'s own machinery, which the platform does not charge to a Worker, and which makes the req/s ratios a local measure only. " +
          `Worker-process CPU relative to the floor's: ${["list", "create", "preview", "pbkdf2", "register", "registerNewClients"].filter((k) => t[k]).map((k) => `${k} ${fmt(t[k].workerCpuMsPerRequest / floorCpu, 1)}×`).join(", ")}.`
        : ""),
    "",
    `Register used ${fmt(r.registerUsed)} of ${fmt(r.registerPool)} pre-seeded pending invites (a fresh token and email per request). ` +
      "Preview and register rotate over 64 client IPs each (CF-Connecting-IP from 198.18.0.0/15, sent to 127.0.0.1 only) whose rate-limiter objects are warmed first, so each client's log stays as small as real traffic keeps it; " +
      "the limits themselves are raised through `--var`. The extra register run sends every request from a new client IP, so each one also creates a limiter object (its SQLite database and table): " +
      (t.registerNewClients ? `${fmt(t.registerNewClients.rps / t.pbkdf2.rps, 2)} × the PBKDF2-only route's req/s. ` : "") +
      "Locally that object runs in the Worker's own process; in production it runs elsewhere and is billed as a Durable Object request, not as the Worker's CPU.",
    "",
    "## List latency at scale",
    "",
    `One tenant with 1,000 invites, one with ${fmt(r.settings.largeInvites)} (10% used, 5% revoked, 10% expired); ${r.settings.scaleConnections} connection, Qt=${r.settings.pageSize}, ` +
      `${r.settings.rounds} interleaved rounds of ${r.settings.scaleDurationSec} s per case (p50/p99: median of the rounds'). ` +
      "D1 rows read and SQL time per request come from the D1 `meta` of one probed request.",
    "",
    "| invites | page | req/s | p50 ms | p99 ms | Worker CPU ms/req | D1 rows read | D1 SQL ms (whole ms locally) |",
    "|---:|---|---:|---:|---:|---:|---:|---:|",
    ...Object.values(r.scale).map(
      (s) =>
        `| ${fmt(s.invites)} | ${s.label} | ${fmt(s.rps)} | ${fmt(s.p50, 1)} | ${fmt(s.p99, 1)} | ${s.workerCpuMs === null ? "n/a" : fmt(s.workerCpuMs / s.total, 2)} | ${fmt(s.cost.d1RowsRead)} | ${fmt(s.cost.d1Ms)} |`,
    ),
    "",
    `Ratios (${largeK} ÷ 1k, p50): first page ${fmt(r.scale.largeFirst.p50 / r.scale.smallFirst.p50, 2)}, sort by expiresAt ${fmt(r.scale.largeExpires.p50 / r.scale.smallExpires.p50, 2)}, ` +
      `last page ${fmt(r.scale.largeLast.p50 / r.scale.smallLast.p50, 2)}; Pg=500 at ${largeK} ÷ first page at 1k: ${fmt(r.scale.largeDeep.p50 / r.scale.smallFirst.p50, 2)}. ` +
      (r.scale.largeCursorLast
        ? `At ${largeK}, the last page through its cursor ÷ the first page: ${fmt(r.scale.largeCursorLast.p50 / r.scale.largeFirst.p50, 2)} (p50), ${fmt(r.scale.largeCursorLast.cost.d1RowsRead)} vs ${fmt(r.scale.largeFirst.cost.d1RowsRead)} D1 rows read; by Pg: ${fmt(r.scale.largeLast.p50 / r.scale.largeFirst.p50, 2)}, ${fmt(r.scale.largeLast.cost.d1RowsRead)} rows. `
        : "") +
      (r.scale.largeFirst.workerCpuMs !== null
        ? `Worker CPU per request, first page: ${fmt(r.scale.largeFirst.workerCpuMs / r.scale.largeFirst.total, 2)} ms at ${largeK} vs ${fmt(r.scale.smallFirst.workerCpuMs / r.scale.smallFirst.total, 2)} ms at 1k ` +
          `(${fmt(r.scale.largeFirst.workerCpuMs / r.scale.largeFirst.total / (r.scale.smallFirst.workerCpuMs / r.scale.smallFirst.total), 2)}×).`
        : ""),
    "",
  );
  const analysis = countAnalysis(r);
  if (analysis) {
    const share = analysis.count.rowsRead / Math.max(1, analysis.rowsRead);
    push(
      `**\`total\` (COUNT) at ${largeK}:** the \`SELECT count(*)\` statement reads ${fmt(analysis.count.rowsRead)} rows (${fmt(share * 100, 1)}% of the request's ${fmt(analysis.rowsRead)}) ` +
        `and takes ${fmt(analysis.count.durationMs, 2)} ms of the request's ${fmt(analysis.d1Ms, 2)} ms of SQL time` +
        (analysis.page ? `; the page query reads ${fmt(analysis.page.rowsRead)} rows in ${fmt(analysis.page.durationMs, 2)} ms.` : ".") +
        " SQLite already counts from a covering index on `(tenant_id, …)` (the planner picks the narrowest), so no index can help: the count is linear in the tenant's invites. " +
        "It is what grows the first page's latency and CPU between 1k and the large tenant, and nearly all of its rows read (D1 bills per row read). " +
        "Deep pages add OFFSET's cost on top: two rows read (index entry and table row) per skipped row. The proposed fixes are in the README's Performance section.",
      "",
    );
  }
  push(
    "## Cost per operation",
    "",
    "D1 rows come from the `meta` of every statement the request ran (`X-Bench-Cost: 1`, see `bench/worker.ts`); " +
      "Durable Object requests are the limiter RPC calls the request made. Durable Object SQLite rows per limiter call are measured by replaying the limiter's three statements " +
      `(prune, count, record) on a scratch table with D1's counters: a new client costs ${r.limiterCall.rowsRead} rows read / ${r.limiterCall.rowsWritten} written, ` +
      `a returning client with 5 hits in the window and 1 expired ${r.limiterCall.returningRowsRead} / ${r.limiterCall.returningRowsWritten}; the table uses the new-client figures. ` +
      "CPU ms is the Worker process's CPU per request from the load runs above (the list at scale from its own run): an overestimate of billed Workers CPU, " +
      "since locally that process also executes D1's SQL and the limiter object and serializes every log line. " +
      "Durable Object duration assumes 1 ms active per call (128 MB).",
    "",
    "| operation | D1 statements | D1 rows read | D1 rows written | DO requests | DO rows read / written | CPU ms | $ per million |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...r.operations.map(
      (o) =>
        `| ${o.name} | ${o.d1Statements} | ${fmt(o.d1RowsRead)} | ${fmt(o.d1RowsWritten)} | ${o.doRequests} | ${fmt(o.doRowsRead)} / ${fmt(o.doRowsWritten)} | ${fmt(o.cpuMs, 1)} | **${usd(o.dollars.total)}** |`,
    ),
    "",
    "Breakdown of $ per million operations (marginal: usage beyond the Workers Paid plan's monthly inclusions, list prices):",
    "",
    "| operation | Workers requests | Workers CPU | D1 reads | D1 writes | DO requests | DO duration | DO rows |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...r.operations.map(
      (o) =>
        `| ${o.name} | ${usd(o.dollars.workerRequests)} | ${usd(o.dollars.workerCpu)} | ${usd(o.dollars.d1Reads)} | ${usd(o.dollars.d1Writes)} | ${usd(o.dollars.doRequests)} | ${usd(o.dollars.doDuration)} | ${usd(o.dollars.doRows)} |`,
    ),
    "",
    `Prices used: Workers $${PRICES.workerRequestPerMillion}/M requests and $${PRICES.workerCpuMsPerMillion}/M CPU-ms ([Workers pricing](${SOURCES.workers})); ` +
      `D1 $${PRICES.d1RowReadPerMillion}/M rows read and $${PRICES.d1RowWrittenPerMillion}/M rows written ([D1 pricing](${SOURCES.d1})); ` +
      `Durable Objects $${PRICES.doRequestPerMillion}/M requests (each RPC call is one), $${PRICES.doGbSecondPerMillion}/M GB-s, SQLite storage $${PRICES.doRowReadPerMillion}/M rows read and $${PRICES.doRowWrittenPerMillion}/M rows written ([Durable Objects pricing](${SOURCES.durableObjects})). ` +
      "Plan fee ($5/month) and inclusions are left out; storage (GB-month) is not per-operation and is left out too.",
    "",
    "## Bundle and startup",
    "",
    "`wrangler deploy --dry-run --outdir` (no upload). gzip is Node's zlib at its default level over the emitted modules.",
    "",
    "| build | raw | gzip | wrangler says |",
    "|---|---:|---:|---|",
    `| as configured (what \`wrangler deploy\` uploads: src/index.ts, minified, zod stand-ins) | ${kib(r.bundle.asConfigured.rawBytes)} | ${kib(r.bundle.asConfigured.gzipBytes)} | ${r.bundle.asConfigured.wranglerReport ?? "n/a"} |`,
    "",
    r.bundle.problems.length ? `**Bundle check failed:** ${r.bundle.problems.join("; ")}.` : "`npm run bundle:check` (in CI) passes: within budget, no bench code, the zod stand-ins replace only zod's modules (src/lib/zod-bundle/README.md).",
    "",
    `Limits ([Workers limits](${SOURCES.limits})): the long-standing Worker size limit is 3 MB (Free) / 10 MB (Paid) after compression — ` +
      `${fmt((r.bundle.asConfigured.gzipBytes / SIZE_LIMITS.freeCompressedBytes) * 100, 1)}% / ${fmt((r.bundle.asConfigured.gzipBytes / SIZE_LIMITS.paidCompressedBytes) * 100, 1)}% used; ` +
      `since May 2026 the docs state a single 64 MiB uncompressed limit on all plans ([cloudflare-docs#31002](${SOURCES.sizeLimitChange})) — ${fmt((r.bundle.asConfigured.rawBytes / SIZE_LIMITS.uncompressedBytes) * 100, 1)}% used. ` +
      `The issue's own goal is ≤ 120 KiB gzip.`,
    "",
    "Largest contributors to the bundle (esbuild metafile, bytes in output before compression):",
    "",
    "| input | bytes |",
    "|---|---:|",
    ...r.bundle.contributors.map(([name, bytes]) => `| ${name} | ${kib(bytes)} |`),
    "",
    `Startup: \`wrangler check startup\` profiles the Worker's global scope locally: ${r.startup.activeMs === null ? `n/a${r.startup.error ? ` (${r.startup.error})` : ""}` : `${fmt(r.startup.activeMs, 1)} ms active CPU (profile window ${fmt(r.startup.windowMs, 1)} ms)`}, ` +
      `against a ${SIZE_LIMITS.startupMs} ms startup limit (local CPU, so indicative only). A cold \`wrangler dev\` took ${fmt(r.coldReadyMs / 1000, 1)} s from spawn to its first 200 (tooling, not the Worker).`,
    "",
    "## How it was measured",
    "",
    "- `bench/run.mjs` applies the migrations to its own `bench/.work/state` (never the developer's `.wrangler/`), writes fresh secrets (`scripts/secrets.mjs`) to `bench/.work/bench.env` and starts " +
      "`wrangler dev bench/worker.ts --persist-to bench/.work/state --env-file bench/.work/bench.env --var …_LIMIT…:1000000000` on a free port.",
    `- Tenants and Owners are created through \`POST /tenants\`; the server is stopped and ${fmt(r.settings.smallInvites + r.settings.largeInvites + r.settings.registerPool)} invites are inserted with \`wrangler d1 execute --local --file\` ` +
      `(${fmt(r.seedSec, 1)} s), their tokens hashed and AES-256-GCM-encrypted in Node exactly as \`src/security/tokens.ts\` does (so list decrypts them); the server is started again and the seeded totals are checked through the API.`,
    "- `bench/worker.ts` (the bench's own entry; the deployed one is src/index.ts, whose bundle holds none of this — tested in `test/http/bench-routes.test.ts` and checked by `npm run bundle:check`) is the production app plus `/__bench/floor` (a no-op JSON response through the whole middleware stack), " +
      "`/__bench/pbkdf2` (one `hashPassword()`, as register does) and `/__bench/limiter-rows`, and lets a request with `X-Bench-Cost: 1` report its D1 `meta` and Durable Object calls. Load runs never send that header.",
    "- wrangler and its workerd children run in their own process group and are killed on exit, failure and Ctrl-C.",
    "",
  );
  await writeFile(`${ROOT}bench/results.md`, lines.join("\n"));
  await writeFile(`${ROOT}bench/results.svg`, svgChart(list));
}
