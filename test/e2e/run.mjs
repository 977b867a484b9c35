// Black-box end-to-end check: starts the repo's own `npm run dev` (wrangler dev) on a free port with
// a throwaway local state directory, drives the API over real HTTP, and always stops wrangler and its
// workerd children (the whole process group) on the way out.
//
//   npm run test:e2e                      # human-readable summary, exit code 0/1
//   npm run test:e2e -- --report out.json # also writes {numPassedTests, numFailedTests, success}
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Webhook } from "standardwebhooks";
import { freePort, jsonRequest, signalGroup, TOOL_ENV } from "../../scripts/lib/local-worker.mjs";
import { browserFlows } from "./browser.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const reportIndex = process.argv.indexOf("--report");
const reportPath = reportIndex > 0 ? process.argv[reportIndex + 1] : undefined;
const READY_TIMEOUT_MS = 120_000;
const PASSWORD = "correct horse battery staple";

const results = [];
let wrangler;
let wranglerLog = "";
let stateDir;
let stopping;
let receiverServer;

/**
 * A webhook receiver over real HTTP on 127.0.0.1 (allowed by ALLOW_LOCAL_WEBHOOKS = "1", which
 * `npm run dev` puts in .dev.vars). `respond` picks each answer's status; every request is kept.
 */
async function startReceiver(respond) {
  const received = [];
  const waiters = [];
  receiverServer = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const entry = { at: Date.now(), method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      received.push(entry);
      res.writeHead(respond(entry, received.length - 1)).end();
      for (const waiter of [...waiters]) {
        if (!waiter.test()) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
  });
  const port = await freePort();
  await new Promise((resolve) => receiverServer.listen(port, "127.0.0.1", resolve));
  /** resolves once `test()` holds, or fails after `ms` */
  const until = (test, ms, what) =>
    test()
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`receiver: ${what} not seen within ${ms / 1000}s (got ${received.length} requests)`)), ms);
          waiters.push({ test, resolve: () => (clearTimeout(timer), resolve()) });
        });
  return { url: `http://127.0.0.1:${port}/hooks/edge-invites`, received, until };
}

async function stopWrangler() {
  if (!wrangler || wrangler.exitCode !== null || wrangler.signalCode !== null) return;
  stopping ??= new Promise((resolve) => {
    const exited = new Promise((done) => wrangler.once("exit", done));
    if (!signalGroup(wrangler, "SIGTERM")) {
      resolve();
      return;
    }
    const force = setTimeout(() => signalGroup(wrangler, "SIGKILL"), 5_000);
    exited.then(() => {
      clearTimeout(force);
      // workerd may outlive the npm/wrangler parents by a moment: make sure the group is empty.
      signalGroup(wrangler, "SIGKILL");
      resolve();
    });
  });
  return stopping;
}

function killGroupNow() {
  if (wrangler?.pid && !stopping) signalGroup(wrangler, "SIGKILL");
}

process.on("exit", killGroupNow);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    killGroupNow();
    process.exit(130);
  });
}

async function check(name, fn) {
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`  ✓ ${name}`);
  } catch (error) {
    results.push({ name, ok: false, error: String(error?.message ?? error) });
    console.log(`  ✗ ${name}\n      ${String(error?.message ?? error).split("\n").join("\n      ")}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

async function main() {
  const port = await freePort();
  const inspectorPort = await freePort();
  stateDir = mkdtempSync(join(tmpdir(), "edge-invites-e2e-"));
  const base = `http://127.0.0.1:${port}`;
  const api = `${base}/api/v1`;

  console.log(`e2e: applying migrations to ${stateDir}`);
  // `predev` migrates the default .wrangler/state; this run uses its own directory, migrated here.
  try {
    execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", stateDir], { cwd: root, env: TOOL_ENV, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    throw new Error(`migrations failed: ${error.message}\n${error.stdout ?? ""}${error.stderr ?? ""}`);
  }

  console.log(`e2e: starting npm run dev on ${base}`);
  // PUBLIC_URL: mailed links and the hosted forms' Origin check must name this server (npm run dev's default is :8787).
  const devArgs = ["run", "dev", "--", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(inspectorPort), "--persist-to", stateDir, "--show-interactive-dev-session=false", "--log-level", "warn", "--var", `PUBLIC_URL:${base}`];
  wrangler = spawn(process.platform === "win32" ? "npm.cmd" : "npm", devArgs, { cwd: root, env: TOOL_ENV, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const collect = (chunk) => {
    wranglerLog = (wranglerLog + chunk.toString()).slice(-20_000);
  };
  wrangler.stdout.on("data", collect);
  wrangler.stderr.on("data", collect);

  const started = Date.now();
  for (;;) {
    if (wrangler.exitCode !== null) throw new Error(`npm run dev exited with ${wrangler.exitCode} before serving`);
    try {
      const response = await fetch(`${api}/__e2e_readiness_probe`, { signal: AbortSignal.timeout(2_000) });
      if (response.status === 404) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > READY_TIMEOUT_MS) throw new Error(`wrangler dev not ready after ${READY_TIMEOUT_MS / 1000}s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  console.log(`e2e: ready after ${((Date.now() - started) / 1000).toFixed(1)}s`);

  const randomIp = () => `198.18.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 254) + 1}`;
  const request = (method, path, { ip = randomIp(), ...options } = {}) =>
    jsonRequest(path.startsWith("http") ? "" : api, method, path, { ip, ...options });
  const expectStatus = (response, status, what) => assert(response.status === status, `${what}: expected ${status}, got ${response.status} ${response.text.slice(0, 300)}`);
  function expectEnvelope(response, status, code) {
    expectStatus(response, status, code);
    assert(/^application\/json/.test(response.headers.get("content-type") ?? ""), `content type ${response.headers.get("content-type")}`);
    const { json } = response;
    assert(json && json.code === code && json.statusCode === status && typeof json.error === "string" && typeof json.message === "string" && json.details && typeof json.details === "object", `not the error envelope: ${response.text}`);
  }

  const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const ownerEmail = `owner-${run}@e2e.test`;
  const memberEmail = `member-${run}@e2e.test`;
  const state = {};

  await check("POST /tenants → 201 tenant and Owner", async () => {
    const response = await request("POST", "/tenants", { body: { name: `E2E ${run}`, adminEmail: ownerEmail, adminPassword: PASSWORD } });
    expectStatus(response, 201, "sign-up");
    assert(response.json.adminRole === "Owner" && response.json.adminEmail === ownerEmail && response.json.tenantId, `body ${response.text}`);
    state.tenantId = response.json.tenantId;
  });
  await check("POST /auth/login → 200 Bearer token pair", async () => {
    const response = await request("POST", "/auth/login", { body: { email: ownerEmail, password: PASSWORD } });
    expectStatus(response, 200, "login");
    assert(response.json.tokenType === "Bearer" && response.json.expiresIn === 900 && response.json.accessToken?.split(".").length === 3 && response.json.refreshToken?.startsWith("rt_"), `body ${response.text}`);
    state.token = response.json.accessToken;
  });
  await check("POST /invites → 201 with Location and an inv_ token", async () => {
    const response = await request("POST", "/invites", { token: state.token, body: { validityDays: 3, role: "Viewer" } });
    expectStatus(response, 201, "create invite");
    assert(/^inv_[A-Za-z0-9_-]{43}$/.test(response.json.token) && response.json.status === "Pending" && response.json.targetRole === "Viewer", `body ${response.text}`);
    assert(response.headers.get("location") === `/api/v1/invites/${response.json.id}`, `Location ${response.headers.get("location")}`);
    state.invite = response.json;
  });
  await check("POST /invites/{token}/register → 201 user with the invite's role", async () => {
    const response = await request("POST", `/invites/${state.invite.token}/register`, { body: { email: memberEmail, password: `${PASSWORD}!` } });
    expectStatus(response, 201, "register");
    assert(response.json.role === "Viewer" && response.json.tenantId === state.tenantId && response.json.email === memberEmail && response.json.status === "Active", `body ${response.text}`);
  });
  await check("GET /invites?Status=Used → the redeemed invite, total 1", async () => {
    const response = await request("GET", "/invites?Status=Used&CpOrd=createdAt&TpOrd=Desc&Qt=10&Pg=1", { token: state.token });
    expectStatus(response, 200, "list");
    assert(response.json.total === 1 && response.json.items?.[0]?.id === state.invite.id && response.json.items[0].status === "Used" && response.json.items[0].usedAt, `body ${response.text}`);
  });
  await check("npm run operator -- grant (wrangler d1 execute on the local D1) → the Owner reads GET /operator/tenants; revoke → 403", async () => {
    const operator = (...args) => execFileSync("npm", ["run", "--silent", "operator", "--", ...args, "--persist-to", stateDir], { cwd: root, env: TOOL_ENV, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expectEnvelope(await request("GET", "/operator/tenants", { token: state.token }), 403, "FORBIDDEN");
    const granted = operator("grant", ownerEmail.toUpperCase());
    assert(granted.includes(`${ownerEmail} (`) && granted.includes("is now a platform operator"), `operator grant said: ${granted}`);
    const tenants = await request("GET", "/operator/tenants?Qt=100", { token: state.token });
    expectStatus(tenants, 200, "operator tenants");
    assert(tenants.json.items.some((tenant) => tenant.id === state.tenantId), `body ${tenants.text.slice(0, 300)}`);
    const invites = await request("GET", `/operator/invites?TenantId=${state.tenantId}`, { token: state.token });
    expectStatus(invites, 200, "operator invites");
    assert(invites.json.items[0]?.id === state.invite.id && !invites.text.includes("inv_"), `body ${invites.text.slice(0, 300)}`);
    operator("revoke", ownerEmail);
    expectEnvelope(await request("GET", "/operator/tenants", { token: state.token }), 403, "FORBIDDEN");
    let refused;
    try {
      operator("grant", "x' OR '1'='1");
    } catch (error) {
      refused = error;
    }
    assert(refused?.status === 2 && /not an email address/.test(refused.stderr), `junk email: ${refused?.status} ${refused?.stderr}`);
  });
  await check("the new member logs in", async () => {
    expectStatus(await request("POST", "/auth/login", { body: { email: memberEmail, password: `${PASSWORD}!` } }), 200, "member login");
  });
  await check("the used invite again → 409 INVITE_USED", async () => {
    expectEnvelope(await request("POST", `/invites/${state.invite.token}/register`, { body: { email: `late-${run}@e2e.test`, password: PASSWORD } }), 409, "INVITE_USED");
  });
  await check("no token → 401 UNAUTHORIZED", async () => {
    expectEnvelope(await request("GET", "/invites"), 401, "UNAUTHORIZED");
  });
  await check("unknown route → 404 NOT_FOUND envelope", async () => {
    expectEnvelope(await request("GET", "/no-such-route"), 404, "NOT_FOUND");
  });
  // The bundled Worker (wrangler.toml's stand-ins in place) serves the document generated at build time.
  await check("GET /openapi.json → public/openapi.json as committed, with this server as its origin", async () => {
    const response = await request("GET", `${base}/openapi.json`);
    expectStatus(response, 200, "openapi.json");
    const { servers, ...served } = response.json;
    const committed = JSON.parse(readFileSync(join(root, "public", "openapi.json"), "utf8"));
    assert(JSON.stringify(served) === JSON.stringify(committed), "the served document differs from public/openapi.json");
    assert(servers?.length === 1 && servers[0].url === base, `servers ${JSON.stringify(servers)}`);
    assert(response.headers.get("x-request-id") && response.headers.get("x-content-type-options") === "nosniff", "the Worker's headers are missing: was the asset served without the Worker?");
  });
  await check("an invalid body → 400 VALIDATION_ERROR naming the field, from the bundled zod", async () => {
    const response = await request("POST", "/invites", { token: state.token, body: { validityDays: 31, role: "Viewer" } });
    expectEnvelope(response, 400, "VALIDATION_ERROR");
    assert(response.json.details.fields?.validityDays?.[0] === "validityDays must be between 1 and 30", `body ${response.text}`);
  });
  // Webhooks over real HTTP: the Worker's Queue consumer POSTs to a Node receiver on this machine.
  const failFirstRotation = new Set();
  const receiver = await startReceiver((entry) => {
    const type = JSON.parse(entry.body || "{}").type;
    // The first attempt of webhook.secret_rotated fails (500): the Queue must retry it ~5 s later.
    if (type === "webhook.secret_rotated" && !failFirstRotation.has(entry.headers["webhook-id"])) {
      failFirstRotation.add(entry.headers["webhook-id"]);
      return 500;
    }
    return 204;
  });
  await check("POST /webhooks (Owner, http://127.0.0.1 receiver) → 201 with a whsec_ secret", async () => {
    const response = await request("POST", "/webhooks", { token: state.token, body: { url: receiver.url } });
    expectStatus(response, 201, "create webhook");
    assert(/^whsec_[A-Za-z0-9+/]{43}=$/.test(response.json.secret) && response.json.url === receiver.url && response.json.enabled === true, `body ${response.text}`);
    state.webhook = response.json;
  });
  await check("the receiver gets webhook.created over HTTP, and standardwebhooks verifies it", async () => {
    await receiver.until(() => receiver.received.length >= 1, 30_000, "webhook.created");
    const [first] = receiver.received;
    const payload = new Webhook(state.webhook.secret).verify(first.body, first.headers);
    assert(payload.type === "webhook.created" && payload.data.webhookId === state.webhook.id && payload.data.tenantId === state.tenantId, `payload ${first.body}`);
    assert(first.method === "POST" && first.path === "/hooks/edge-invites" && first.headers["content-type"] === "application/json", `request ${JSON.stringify(first.headers)}`);
  });
  await check("rotate-secret: the first attempt fails (500), the retry ~5 s later carries the same webhook-id and two signatures (old and new secret)", async () => {
    const rotated = await request("POST", `/webhooks/${state.webhook.id}/rotate-secret`, { token: state.token });
    expectStatus(rotated, 200, "rotate");
    const isRotation = (entry) => JSON.parse(entry.body).type === "webhook.secret_rotated";
    await receiver.until(() => receiver.received.filter(isRotation).length >= 2, 60_000, "the retried webhook.secret_rotated");
    const [failed, retried] = receiver.received.filter(isRotation);
    assert(failed.headers["webhook-id"] === retried.headers["webhook-id"], "webhook-id changed between attempts");
    assert(retried.at - failed.at >= 4_000, `retried after ${retried.at - failed.at} ms, expected about 5 s`);
    assert(retried.headers["webhook-signature"].split(" ").length === 2, `signature header ${retried.headers["webhook-signature"]}`);
    new Webhook(rotated.json.secret).verify(retried.body, retried.headers);
    new Webhook(state.webhook.secret).verify(retried.body, retried.headers);
    state.rotationEventId = retried.headers["webhook-id"];
    state.rotatedSecret = rotated.json.secret;
  });
  await check("an invite redeemed over HTTP → the receiver gets invite.created, invite.accepted and member.added, signed", async () => {
    const invite = await request("POST", "/invites", { token: state.token, body: { role: "Developer" } });
    expectStatus(invite, 201, "create invite");
    const joined = await request("POST", `/invites/${invite.json.token}/register`, { body: { email: `hooked-${run}@e2e.test`, password: PASSWORD } });
    expectStatus(joined, 201, "register");
    const about = (entry) => JSON.parse(entry.body).data.inviteId === invite.json.id;
    await receiver.until(() => receiver.received.filter(about).length >= 3, 30_000, "the invite's three events");
    const byType = Object.fromEntries(receiver.received.filter(about).map((entry) => [JSON.parse(entry.body).type, entry]));
    for (const type of ["invite.created", "invite.accepted", "member.added"]) assert(byType[type], `no ${type}`);
    const accepted = new Webhook(state.rotatedSecret).verify(byType["invite.accepted"].body, byType["invite.accepted"].headers);
    assert(accepted.data.memberId === joined.json.id && accepted.data.via === "register" && accepted.data.actor.type === "public", `payload ${JSON.stringify(accepted)}`);
    assert(!receiver.received.some((entry) => entry.body.includes("inv_") || entry.body.includes(PASSWORD)), "a token or password in a webhook body");
  });
  await check("GET /webhooks/{id}/deliveries logs both attempts (500, then 204); GET /events lists the audit trail", async () => {
    let attempts = [];
    for (let i = 0; i < 40; i++) {
      const log = await request("GET", `/webhooks/${state.webhook.id}/deliveries?Qt=10`, { token: state.token });
      expectStatus(log, 200, "deliveries");
      attempts = log.json.items.filter((d) => d.eventId === state.rotationEventId);
      if (attempts.some((d) => d.status === "Succeeded")) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const summary = attempts.map((d) => `${d.attempt}:${d.status}:${d.responseStatus}`).join(",");
    assert(summary === "2:Succeeded:204,1:Failed:500", `attempts ${summary}`);
    const events = await request("GET", "/events?Qt=10", { token: state.token });
    expectStatus(events, 200, "events");
    const types = events.json.items.map((e) => e.type);
    assert(types.includes("webhook.created") && types.includes("webhook.secret_rotated") && events.json.items.every((e) => e.tenantId === state.tenantId), `types ${types}`);
    assert(!events.text.includes("whsec_"), "a secret in the events");
  });

  await check("the 11th register request from one CF-Connecting-IP within the hour → 429 RATE_LIMITED with Retry-After", async () => {
    const ip = randomIp();
    const unknown = `inv_${"e".repeat(43)}`;
    for (let i = 0; i < 10; i++) expectEnvelope(await request("POST", `/invites/${unknown}/register`, { ip, body: { email: `rl-${i}-${run}@e2e.test`, password: PASSWORD } }), 404, "INVITE_NOT_FOUND");
    const refused = await request("POST", `/invites/${unknown}/register`, { ip, body: { email: `rl-x-${run}@e2e.test`, password: PASSWORD } });
    expectEnvelope(refused, 429, "RATE_LIMITED");
    assert(Number(refused.headers.get("retry-after")) > 0, `Retry-After ${refused.headers.get("retry-after")}`);
    expectEnvelope(await request("POST", `/invites/${unknown}/register`, { body: { email: `rl-y-${run}@e2e.test`, password: PASSWORD } }), 404, "INVITE_NOT_FOUND");
  });

  await browserFlows({ check, assert, request, base, root, run, password: PASSWORD, ownerToken: () => state.token });
}

let fatal;
const startedAt = Date.now();
try {
  await main();
} catch (error) {
  fatal = error;
} finally {
  await stopWrangler();
  receiverServer?.close();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}

if (fatal) {
  results.push({ name: "start wrangler dev", ok: false, error: String(fatal?.message ?? fatal) });
  console.log(`  ✗ ${fatal?.message ?? fatal}`);
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
if (failed > 0 && wranglerLog) console.log(`--- wrangler dev output (tail) ---\n${wranglerLog.slice(-4_000)}\n---`);
console.log(`e2e: ${passed} passed, ${failed} failed in ${((Date.now() - startedAt) / 1000).toFixed(1)}s`);
if (reportPath) {
  mkdirSync(dirname(reportPath), { recursive: true });
  writeFileSync(reportPath, JSON.stringify({ numPassedTests: passed, numFailedTests: failed, numPendingTests: 0, success: failed === 0, results }, null, 2));
}
process.exit(failed === 0 ? 0 : 1);
