// `npm run bench`: throughput and latency against the platform floor, list latency at scale, cost per
// operation and bundle size, measured in one run and written to bench/results.md and bench/results.svg.
// `npm run bench -- --quick` is a shorter smoke run (10,000 instead of 100,000 invites, 2 s measurements).
// `npm run bench -- --profile` adds a V8 CPU profile of the Worker's isolate per hot route (bench/lib/profile.mjs).
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { jsonRequest } from "../scripts/lib/local-worker.mjs";
import { generateSecrets, toDevVars } from "../scripts/secrets.mjs";
import { buildBundle, bundleProblems, contributors } from "../scripts/lib/bundle.mjs";
import { clientIps, measure } from "./lib/load.mjs";
import { connectInspector, profileDuring } from "./lib/profile.mjs";
import { dollarsPerMillion } from "./lib/prices.mjs";
import { hashMs, writeReport } from "./lib/report.mjs";
import { inviteRows } from "./lib/seed.mjs";
import { killAllDevServers, ROOT, startDevServer, WORK, wrangler } from "./lib/wrangler.mjs";

const QUICK = process.argv.includes("--quick");
// `--profile-only`: a small seed, the cost probes and the profile, printed (no load runs, no report): for iterating on a lever.
const PROFILE_ONLY = process.argv.includes("--profile-only");
const PROFILE = PROFILE_ONLY || process.argv.includes("--profile");
const SETTINGS = {
  connections: 8,
  warmupSec: QUICK ? 1 : 2,
  // Each route is measured in several short slices, interleaved with the others (floor included), so
  // a burst of load from elsewhere on this shared machine hits every route alike instead of one.
  rounds: QUICK ? 2 : 3,
  durationSec: QUICK ? 1 : 3,
  scaleConnections: 1,
  scaleWarmupSec: 1,
  scaleDurationSec: QUICK ? 1 : 3,
  smallInvites: 1_000,
  largeInvites: PROFILE_ONLY ? 1_000 : QUICK ? 10_000 : 100_000,
  registerPool: PROFILE_ONLY ? 1_000 : QUICK ? 1_500 : 6_000,
  pageSize: 20,
  profileSec: QUICK ? 2 : 6,
  profileRounds: QUICK ? 2 : 3,
  // One request at a time: the sampled time is then each request's own, not its share of a queue.
  profileConnections: 1,
};
const PASSWORD = "correct horse battery staple";
const STATE = `${WORK}/state`;
const ENV_FILE = `${WORK}/bench.env`;
const HUGE = "1000000000";
// Limits raised so the load is never refused; per-client log sizes stay realistic because requests rotate
// over many client IPs (see clientIps).
const VARS = {
  INVITE_CREATE_LIMIT_PER_HOUR: HUGE,
  LOGIN_FAILURES_PER_HOUR_PER_EMAIL: HUGE,
  LOGIN_SUCCESSES_PER_HOUR_PER_EMAIL: HUGE,
  LOGIN_SUCCESSES_PER_HOUR_PER_IP: HUGE,
  REFRESH_LIMIT_PER_HOUR: HUGE,
  REGISTER_LIMIT_PER_HOUR: HUGE,
  TENANT_SIGNUP_LIMIT_PER_HOUR: HUGE,
  LOGIN_FAILURES_PER_5_MIN: HUGE,
  PREVIEW_LIMIT_PER_HOUR: HUGE,
  TRUSTED_PROXY_LIMIT_PER_HOUR: HUGE,
  LOGIN_FAILURES_PER_HOUR_PER_EMAIL: HUGE,
  LOGIN_SUCCESSES_PER_HOUR_PER_EMAIL: HUGE,
  LOGIN_SUCCESSES_PER_HOUR_PER_IP: HUGE,
  REFRESH_LIMIT_PER_HOUR: HUGE,
  INVITE_CREATE_LIMIT_PER_HOUR: HUGE,
  // MAX_PENDING_INVITES_PER_TENANT stays at its default (1,000): the create load rotates over CREATE_TENANTS
  // tenants, so none reaches it, and each create's quota check reads what it would in production (the
  // tenant's open invites, at most 1,000 index entries) rather than every invite the run piled up.
};
const CREATE_TENANTS = 8;

const say = (message) => process.stdout.write(`[bench] ${message}\n`);

/** The bench's requests come from one fixed client IP unless a caller picks another. */
async function api(base, method, path, options = {}) {
  // A request that hangs fails the run with its path, rather than stalling it.
  const response = await jsonRequest(base, method, path, { timeoutMs: 120_000, ...options, ip: options.ip ?? "198.19.255.254" }).catch((error) => {
    throw new Error(`${method} ${path}: ${error.message}`);
  });
  return { ...response, body: response.json };
}

function expectStatus(response, status, what) {
  if (response.status !== status) throw new Error(`${what}: expected ${status}, got ${response.status}: ${response.text.slice(0, 400)}`);
  return response.body;
}

const sum = (items, key) => items.reduce((total, item) => total + item[key], 0);

async function probeCost(base, method, path, options) {
  const response = await api(base, method, path, { ...options, headers: { "X-Bench-Cost": "1" } });
  const header = response.headers.get("x-bench-cost");
  if (!header) throw new Error(`cost probe ${method} ${path}: no X-Bench-Cost header (status ${response.status})`);
  const cost = JSON.parse(header);
  return {
    status: response.status,
    statements: cost.statements,
    d1Statements: cost.statements.length,
    d1Calls: cost.d1Calls - (cost.d1CallsAfterResponse ?? 0),
    d1CallsAfterResponse: cost.d1CallsAfterResponse ?? 0,
    d1RowsRead: sum(cost.statements, "rowsRead"),
    d1RowsWritten: sum(cost.statements, "rowsWritten"),
    d1Ms: sum(cost.statements, "durationMs"),
    doRequests: cost.durableObjectRequests,
  };
}

/** The deployed bundle (`wrangler deploy --dry-run`, production entry src/index.ts), checked as CI checks it. */
async function measureBundle() {
  const build = await buildBundle([], { outdir: `${WORK}/dist` });
  return {
    asConfigured: { rawBytes: build.rawBytes, gzipBytes: build.gzipBytes, wranglerReport: build.wranglerReport },
    problems: await bundleProblems(build),
    contributors: contributors(build.meta),
  };
}

async function measureStartup() {
  try {
    const stdout = await wrangler(["check", "startup", "--outfile", `${WORK}/startup.cpuprofile`]);
    const active = /Active:\s*([\d.]+)\s*ms/.exec(stdout);
    const window = /Profile window:\s*([\d.]+)\s*ms/.exec(stdout);
    return { activeMs: active ? Number(active[1]) : null, windowMs: window ? Number(window[1]) : null };
  } catch (error) {
    return { activeMs: null, windowMs: null, error: String(error.message ?? error).slice(0, 200) };
  }
}

async function versions() {
  const read = async (path) => JSON.parse(await readFile(`${ROOT}node_modules/${path}/package.json`, "utf8")).version;
  return { wrangler: await read("wrangler"), workerd: await read("workerd"), autocannon: await read("autocannon"), node: process.version };
}

async function main() {
  const startedAt = new Date();
  const runId = startedAt.getTime().toString(36);
  await rm(STATE, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  const secrets = generateSecrets();
  await writeFile(ENV_FILE, toDevVars(secrets), { mode: 0o600 });

  say("applying migrations to bench/.work/state");
  await wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", STATE]);

  // 1. Tenants and Owners through the public API (a cold start of the dev server, too).
  say("starting wrangler dev (tenants)");
  let server = await startDevServer({ persistTo: STATE, envFile: ENV_FILE, vars: VARS, readyPath: "/__bench/floor", minify: !PROFILE });
  const coldReadyMs = server.readyMs;
  const tenants = {};
  for (const key of ["small", "large", "create", ...Array.from({ length: CREATE_TENANTS - 1 }, (_, i) => `create${i + 1}`), "register"]) {
    const email = `owner-${key}-${runId}@bench.test`;
    const created = expectStatus(
      await api(server.url, "POST", "/api/v1/tenants", { body: { name: `bench-${key}-${runId}`, adminEmail: email, adminPassword: PASSWORD } }),
      201,
      "sign-up",
    );
    tenants[key] = { id: created.tenantId, ownerId: created.adminUserId, email };
  }
  await server.stop();

  // 2. Bulk invites straight into the bench's local D1 (the server is stopped: one writer at a time).
  say(`seeding ${SETTINGS.smallInvites} + ${SETTINGS.largeInvites} + ${SETTINGS.registerPool} invites`);
  const seedStarted = performance.now();
  const key = secrets.INVITE_TOKEN_KEY;
  const small = inviteRows({ tenantId: tenants.small.id, createdBy: tenants.small.ownerId, count: SETTINGS.smallInvites, keyBase64: key, mixStatuses: true });
  const large = inviteRows({ tenantId: tenants.large.id, createdBy: tenants.large.ownerId, count: SETTINGS.largeInvites, keyBase64: key, mixStatuses: true });
  const pool = inviteRows({ tenantId: tenants.register.id, createdBy: tenants.register.ownerId, count: SETTINGS.registerPool, keyBase64: key, role: "Developer" });
  await writeFile(`${WORK}/seed.sql`, [...small.statements, ...large.statements, ...pool.statements].join("\n"));
  await wrangler(["d1", "execute", "DB", "--local", "--persist-to", STATE, "--file", `${WORK}/seed.sql`, "--yes"]);
  await rm(`${WORK}/seed.sql`, { force: true });
  const seedSec = (performance.now() - seedStarted) / 1000;

  // 3. Measurements against a warm server.
  say("starting wrangler dev (measurements)");
  server = await startDevServer({ persistTo: STATE, envFile: ENV_FILE, vars: VARS, readyPath: "/__bench/floor", minify: !PROFILE });
  let base = server.url;
  for (const tenant of Object.values(tenants)) {
    tenant.token = expectStatus(await api(base, "POST", "/api/v1/auth/login", { body: { email: tenant.email, password: PASSWORD } }), 200, "login").accessToken;
  }
  const listTotal = async (tenant) =>
    expectStatus(await api(base, "GET", "/api/v1/invites?Qt=1", { token: tenant.token }), 200, "seeded list").total;
  const seeded = { small: await listTotal(tenants.small), large: await listTotal(tenants.large) };
  if (seeded.small !== SETTINGS.smallInvites || seeded.large !== SETTINGS.largeInvites) {
    throw new Error(`seeding mismatch: ${JSON.stringify(seeded)}`);
  }

  const previewTokens = small.pendingTokens;
  const previewCheck = await api(base, "GET", `/api/v1/invites/${previewTokens[0]}`);
  const preview = previewCheck.status === 200 ? { available: true } : { available: false, reason: `GET /api/v1/invites/{token} answered ${previewCheck.status} ${previewCheck.body?.code ?? ""}`.trim() };

  const probeTokens = pool.pendingTokens.slice(-10);
  const registerTokens = pool.pendingTokens.slice(0, -10);
  const json = { "content-type": "application/json" };
  const auth = (tenant) => ({ authorization: `Bearer ${tenant.token}` });
  // A pool of returning clients whose limiter objects exist (warmed below), and, for one extra register
  // run, a new client per request (a new limiter object each time, as for a first-time invitee).
  const previewIps = clientIps(64, 0);
  const registerIps = clientIps(64, 1024);
  const newClientIps = clientIps(16384, 16384);
  const createTenants = Object.entries(tenants).filter(([key]) => key.startsWith("create")).map(([, tenant]) => tenant);
  let createCursor = 0;
  let previewCursor = 0;
  let registerCursor = 0;
  let newClientCursor = 0;
  for (const ip of previewIps) await api(base, "GET", `/api/v1/invites/${previewTokens[0]}`, { ip });
  for (const ip of registerIps) expectStatus(await api(base, "POST", "/api/v1/invites/inv_unknown/register", { ip, body: { email: "warm@bench.test", password: PASSWORD } }), 404, "limiter warm-up");
  const registerRequest = (ips, cursor) => () => {
    const i = registerCursor++;
    const client = cursor();
    return {
      path: `/api/v1/invites/${registerTokens[i % registerTokens.length]}/register`,
      headers: { "cf-connecting-ip": ips[client % ips.length] },
      body: JSON.stringify({ email: `member-${i}-${runId}@bench.test`, password: PASSWORD }),
    };
  };
  const load = { url: base, connections: SETTINGS.connections, durationSec: SETTINGS.durationSec, warmupSec: SETTINGS.warmupSec, cpuMs: server.workerCpuMs, totalCpuMs: server.groupCpuMs };
  const routes = [
    { key: "floorStart", label: "floor: GET /__bench/floor (no-op)", path: "/__bench/floor" },
    { key: "list", label: `GET /invites (Qt=${SETTINGS.pageSize}, ${SETTINGS.smallInvites} invites)`, path: `/api/v1/invites?Qt=${SETTINGS.pageSize}`, headers: auth(tenants.small) },
    {
      key: "create",
      label: `POST /invites (${CREATE_TENANTS} tenants in turn)`,
      method: "POST",
      path: "/api/v1/invites",
      headers: { ...auth(tenants.create), ...json },
      body: "{}",
      next: () => ({ headers: auth(createTenants[createCursor++ % createTenants.length]) }),
    },
    preview.available && {
      key: "preview",
      label: "GET /invites/{token} (preview)",
      path: "/api/v1/invites/x",
      next: () => {
        const i = previewCursor++;
        return { path: `/api/v1/invites/${previewTokens[i % previewTokens.length]}`, headers: { "cf-connecting-ip": previewIps[i % previewIps.length] } };
      },
    },
    { key: "pbkdf2", label: "PBKDF2 only: POST /__bench/pbkdf2", method: "POST", path: "/__bench/pbkdf2" },
    {
      key: "register",
      label: "POST /invites/{token}/register",
      method: "POST",
      path: "/api/v1/invites/x/register",
      headers: json,
      next: registerRequest(registerIps, () => registerCursor),
    },
    {
      key: "registerNewClients",
      label: "register, each request from a new client IP",
      method: "POST",
      path: "/api/v1/invites/x/register",
      headers: json,
      next: registerRequest(newClientIps, () => newClientCursor++),
    },
    { key: "floorEnd", label: "floor again, after the others in the round", path: "/__bench/floor" },
  ].filter(Boolean);

  const slices = Object.fromEntries(routes.map((route) => [route.key, []]));
  for (let round = 1; round <= (PROFILE_ONLY ? 0 : SETTINGS.rounds); round++) {
    for (const route of routes) {
      say(`load, round ${round}/${SETTINGS.rounds}: ${route.label}`);
      slices[route.key].push(await measure({ ...load, ...route, warmupSec: round === 1 ? SETTINGS.warmupSec : 0 }));
    }
  }
  const registerUsed = registerCursor;
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const throughput = {};
  for (const route of routes) {
    const runs = slices[route.key];
    const seconds = sum(runs, "durationSec");
    throughput[route.key] = {
      label: route.label,
      rps: sum(runs, "ok") / seconds,
      p50: median(runs.map((m) => m.p50)),
      p99: median(runs.map((m) => m.p99)),
      ok: sum(runs, "ok"),
      non2xx: sum(runs, "non2xx"),
      errors: sum(runs, "errors"),
      timeouts: sum(runs, "timeouts"),
      statuses: runs.map((m) => m.statuses),
      perRound: runs.map((m) => m.rps),
      workerCpuMsPerRequest: runs.every((m) => m.workerCpuMs !== null) ? sum(runs, "workerCpuMs") / sum(runs, "total") : null,
      totalCpuMsPerRequest: runs.every((m) => m.totalCpuMs !== null) ? sum(runs, "totalCpuMs") / sum(runs, "total") : null,
    };
  }
  // Per-round ratios to that round's floor: their spread shows how much the machine's noise moved them.
  const floorPerRound = slices.floorStart.map((m, i) => (m.rps + slices.floorEnd[i].rps) / 2);
  for (const route of routes) {
    throughput[route.key].roundRatios = slices[route.key].map((m, i) => m.rps / floorPerRound[i]);
  }

  const scaleLoad = { url: base, connections: SETTINGS.scaleConnections, durationSec: SETTINGS.scaleDurationSec, warmupSec: SETTINGS.scaleWarmupSec, cpuMs: server.workerCpuMs, totalCpuMs: server.groupCpuMs };
  const lastSmall = Math.ceil(SETTINGS.smallInvites / SETTINGS.pageSize);
  const lastLarge = Math.ceil(SETTINGS.largeInvites / SETTINGS.pageSize);
  const q = `Qt=${SETTINGS.pageSize}`;
  // Issue 15's keyset pages: the last page of the 100k tenant reached by cursor (the page before it, read
  // once by Pg, hands out the cursor), to set against the same page by Pg and the first page.
  const lastByCursor = expectStatus(await api(base, "GET", `/api/v1/invites?${q}&Pg=${lastLarge - 1}`, { token: tenants.large.token }), 200, "the cursor of the last page").nextCursor;
  const scaleCases = [
    { key: "smallFirst", tenant: "small", label: "Pg=1, sort id", query: `${q}&Pg=1` },
    { key: "smallExpires", tenant: "small", label: "Pg=1, sort expiresAt Asc", query: `${q}&Pg=1&CpOrd=expiresAt&TpOrd=Asc` },
    { key: "smallLast", tenant: "small", label: `Pg=${lastSmall} (last page)`, query: `${q}&Pg=${lastSmall}` },
    { key: "largeFirst", tenant: "large", label: "Pg=1, sort id", query: `${q}&Pg=1` },
    { key: "largeExpires", tenant: "large", label: "Pg=1, sort expiresAt Asc", query: `${q}&Pg=1&CpOrd=expiresAt&TpOrd=Asc` },
    { key: "largeDeep", tenant: "large", label: "Pg=500", query: `${q}&Pg=500` },
    { key: "largeLast", tenant: "large", label: `Pg=${lastLarge} (last page)`, query: `${q}&Pg=${lastLarge}` },
    { key: "largeCursorLast", tenant: "large", label: "starting_after (the last page, by cursor)", query: `${q}&starting_after=${lastByCursor}` },
  ];
  // Interleaved rounds again: 1k and 100k alternate, so the machine's noise cannot favour one size.
  const scaleSlices = Object.fromEntries(scaleCases.map((item) => [item.key, []]));
  for (let round = 1; round <= (PROFILE_ONLY ? 0 : SETTINGS.rounds); round++) {
    for (const item of scaleCases) {
      say(`scale, round ${round}/${SETTINGS.rounds}: ${item.tenant} ${item.label}`);
      const path = `/api/v1/invites?${item.query}`;
      scaleSlices[item.key].push(await measure({ ...scaleLoad, warmupSec: round === 1 ? SETTINGS.scaleWarmupSec : 0, path, headers: auth(tenants[item.tenant]) }));
    }
  }
  const scale = {};
  for (const item of scaleCases) {
    const runs = scaleSlices[item.key];
    const cost = await probeCost(base, "GET", `/api/v1/invites?${item.query}`, { token: tenants[item.tenant].token });
    scale[item.key] = {
      ...item,
      invites: item.tenant === "small" ? SETTINGS.smallInvites : SETTINGS.largeInvites,
      rps: sum(runs, "ok") / sum(runs, "durationSec"),
      p50: median(runs.map((m) => m.p50)),
      p99: median(runs.map((m) => m.p99)),
      total: sum(runs, "total"),
      workerCpuMs: runs.every((m) => m.workerCpuMs !== null) ? sum(runs, "workerCpuMs") : null,
      cost,
    };
  }

  say("cost probes");
  const someInviteId = expectStatus(await api(base, "GET", "/api/v1/invites?Qt=1", { token: tenants.small.token }), 200, "an invite id").items[0].id;
  const loginBody = { email: tenants.small.email, password: PASSWORD };
  const costs = {
    list: await probeCost(base, "GET", `/api/v1/invites?Qt=${SETTINGS.pageSize}`, { token: tenants.small.token }),
    listLarge: scale.largeFirst.cost,
    create: await probeCost(base, "POST", "/api/v1/invites", { token: tenants.create.token, body: {} }),
    preview: preview.available ? await probeCost(base, "GET", `/api/v1/invites/${previewTokens[1]}`, { ip: "198.19.250.1" }) : null,
    getInvite: await probeCost(base, "GET", `/api/v1/invites/${someInviteId}`, { token: tenants.small.token }),
    usersList: await probeCost(base, "GET", "/api/v1/users", { token: tenants.small.token }),
    register: await probeCost(base, "POST", `/api/v1/invites/${probeTokens[0]}/register`, {
      body: { email: `probe-${runId}@bench.test`, password: PASSWORD },
      ip: "198.19.250.2",
    }),
    login: await probeCost(base, "POST", "/api/v1/auth/login", { body: loginBody, ip: "198.19.250.3" }),
  };
  for (const [name, cost] of Object.entries(costs)) {
    if (cost && (cost.status < 200 || cost.status > 299)) throw new Error(`cost probe ${name} answered ${cost.status}`);
  }

  // In-isolate CPU per route: the same load under the V8 profiler, one slice per route (after the timed
  // runs, so profiling never slows them). Self time is grouped by the module the sampled code belongs to.
  let profiles = null;
  let profileError = null;
  for (let attempt = 1; PROFILE && !profiles && attempt <= 2; attempt++) {
   try {
    const inspector = await connectInspector(server.inspectorPort);
    const byKey = Object.fromEntries(routes.map((route) => [route.key, route]));
    const loginIps = clientIps(64, 4096);
    let loginCursor = 0;
    const profiled = [
      byKey.floorStart && { ...byKey.floorStart, key: "floor", label: "floor (no-op)" },
      // Headers again: a restarted server (second attempt) signed new tokens.
      { ...byKey.list, headers: auth(tenants.small) },
      byKey.create,
      byKey.preview,
      { key: "getInvite", label: "GET /invites/{id}", path: `/api/v1/invites/${someInviteId}`, headers: auth(tenants.small) },
      { key: "usersList", label: "GET /users", path: "/api/v1/users", headers: auth(tenants.small) },
      {
        key: "limiterCall",
        label: "floor + one limiter call: /__bench/limiter-call",
        path: "/__bench/limiter-call",
        next: () => ({ headers: { "cf-connecting-ip": previewIps[previewCursor++ % previewIps.length] } }),
      },
      byKey.pbkdf2,
      byKey.register,
      {
        key: "login",
        label: "POST /auth/login",
        method: "POST",
        path: "/api/v1/auth/login",
        headers: json,
        body: JSON.stringify(loginBody),
        next: () => ({ headers: { "cf-connecting-ip": loginIps[loginCursor++ % loginIps.length] } }),
      },
    ].filter(Boolean);
    profiles = {};
    expectStatus(await api(base, "POST", "/__bench/console?quiet=1"), 200, "quiet console");
    // Interleaved rounds, as for the load runs: a burst of load from elsewhere on the machine lands on
    // every route's samples alike instead of on one route's whole slice.
    const merged = Object.fromEntries(profiled.map((route) => [route.key, { requests: 0, ok: 0, activeMs: 0, totalMs: 0, byModule: new Map(), byFunction: new Map() }]));
    for (const route of profiled) await measure({ ...load, ...route, connections: SETTINGS.profileConnections, warmupSec: 0, durationSec: 1 });
    for (let round = 1; round <= SETTINGS.profileRounds; round++) {
      for (const route of profiled) {
        say(`profile, round ${round}/${SETTINGS.profileRounds}: ${route.label}`);
        const slice = { ...load, ...route, connections: SETTINGS.profileConnections, warmupSec: 0, durationSec: SETTINGS.profileSec / SETTINGS.profileRounds };
        const run = await profileDuring(inspector, () => measure(slice));
        const into = merged[route.key];
        into.requests += run.result.total;
        into.ok += run.result.ok;
        into.activeMs += run.activeMs;
        into.totalMs += run.totalMs;
        for (const [label, ms] of run.byModule) into.byModule.set(label, (into.byModule.get(label) ?? 0) + ms);
        for (const [label, ms] of run.byFunction) into.byFunction.set(label, (into.byFunction.get(label) ?? 0) + ms);
      }
    }
    for (const route of profiled) {
      const run = merged[route.key];
      profiles[route.key] = {
        label: route.label,
        requests: run.requests,
        ok: run.ok,
        activeMs: run.activeMs,
        totalMs: run.totalMs,
        byModule: [...run.byModule.entries()].sort((a, b) => b[1] - a[1]),
        byFunction: [...run.byFunction.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40),
      };
    }
    inspector.close();
    expectStatus(await api(base, "POST", "/__bench/console?quiet=0"), 200, "console back");
   } catch (error) {
    // The report says the profile is missing and why; everything else measured stays.
    profiles = null;
    profileError = String(error.message ?? error).slice(0, 300);
    say(`profile failed (attempt ${attempt}): ${profileError}`);
    // A dev server that lost its inspector is restarted on the same state, for a second try and the rest.
    await server.stop();
    server = await startDevServer({ persistTo: STATE, envFile: ENV_FILE, vars: VARS, readyPath: "/__bench/floor", minify: !PROFILE });
    base = server.url;
    for (const tenant of Object.values(tenants)) {
      tenant.token = expectStatus(await api(base, "POST", "/api/v1/auth/login", { body: { email: tenant.email, password: PASSWORD } }), 200, "login").accessToken;
    }
    load.url = base;
    load.cpuMs = server.workerCpuMs;
    load.totalCpuMs = server.groupCpuMs;
   }
  }
  const levers = await api(base, "GET", "/__bench/levers").then(
    (response) => (response.status === 200 ? response.body : null),
    () => null,
  );
  const limiterRows = expectStatus(await api(base, "GET", "/__bench/limiter-rows?inWindow=5"), 200, "limiter rows");
  await server.stop();
  if (PROFILE_ONLY) {
    await writeFile(`${WORK}/profile-only.json`, JSON.stringify({ costs, profiles, profileError, levers, loadAverage: os.loadavg() }, null, 2));
    const floorMs = profiles?.floor ? profiles.floor.activeMs / profiles.floor.requests : NaN;
    for (const [key, p] of Object.entries(profiles ?? {})) {
      const perRequest = p.activeMs / p.requests;
      const hash = hashMs(p);
      say(`${key.padEnd(11)} ${perRequest.toFixed(3)} ms/req (${(perRequest / floorMs).toFixed(2)}× floor)${hash ? `, ${(perRequest - hash).toFixed(2)} beyond its hash` : ""}, ${p.requests} requests`);
    }
    for (const [key, cost] of Object.entries(costs)) {
      if (cost) say(`${key.padEnd(10)} D1 calls ${cost.d1Calls} (+${cost.d1CallsAfterResponse} after) · DO ${cost.doRequests} · rows read ${cost.d1RowsRead} written ${cost.d1RowsWritten}`);
    }
    say(`details in bench/.work/profile-only.json; profile error: ${profileError ?? "none"}`);
    return;
  }

  say("bundle and startup");
  const bundle = await measureBundle();
  const startup = await measureStartup();

  // Per-operation cost: D1 and DO counts measured above; CPU bounded by the isolate's service time at saturation.
  const floorRps = (throughput.floorStart.rps + throughput.floorEnd.rps) / 2;
  const limiterCall = {
    rowsRead: sum(limiterRows.newClient, "rowsRead"),
    rowsWritten: sum(limiterRows.newClient, "rowsWritten"),
    returningRowsRead: sum(limiterRows.returningClient, "rowsRead"),
    returningRowsWritten: sum(limiterRows.returningClient, "rowsWritten"),
  };
  const operation = (name, cost, cpuMs) =>
    cost && {
      name,
      ...cost,
      doRowsRead: cost.doRequests * limiterCall.rowsRead,
      doRowsWritten: cost.doRequests * limiterCall.rowsWritten,
      cpuMs: cpuMs ?? null,
    };
  const cpu = (key) => throughput[key]?.workerCpuMsPerRequest;
  const operations = [
    operation("list (1k invites)", costs.list, cpu("list")),
    operation(`list (${SETTINGS.largeInvites / 1000}k invites)`, costs.listLarge, scale.largeFirst.workerCpuMs === null ? null : scale.largeFirst.workerCpuMs / scale.largeFirst.total),
    operation("create", costs.create, cpu("create")),
    operation("preview", costs.preview, cpu("preview")),
    operation("register", costs.register, cpu("register")),
  ].filter(Boolean);
  const calls = Object.fromEntries(Object.entries(costs).filter(([, cost]) => cost).map(([key, cost]) => [key, { d1Calls: cost.d1Calls, d1CallsAfterResponse: cost.d1CallsAfterResponse, doCalls: cost.doRequests, statements: cost.d1Statements }]));
  for (const op of operations) op.dollars = dollarsPerMillion({ ...op, cpuMs: op.cpuMs ?? 0, doActiveMs: 1 });

  const results = {
    startedAt,
    quick: QUICK,
    settings: SETTINGS,
    machine: {
      cpu: os.cpus()[0]?.model ?? "unknown",
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.type()} ${os.release()}`,
      loadAverage: os.loadavg().map((n) => n.toFixed(2)).join(" "),
    },
    versions: await versions(),
    coldReadyMs,
    seedSec,
    preview,
    registerUsed,
    registerPool: registerTokens.length,
    floorRps,
    throughput,
    scale,
    costs,
    limiterRows,
    limiterCall,
    operations,
    calls,
    profiles,
    profileError,
    levers,
    bundle,
    startup,
  };
  await writeFile(`${WORK}/results.json`, JSON.stringify(results, null, 2));
  await writeReport(results);
  say("wrote bench/results.md and bench/results.svg");
}

process.on("exit", killAllDevServers);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    process.stderr.write(`\n[bench] ${signal}: stopping wrangler\n`);
    killAllDevServers();
    process.exit(130);
  });
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`[bench] failed: ${error.stack ?? error}\n`);
    killAllDevServers();
    process.exit(1);
  },
);
