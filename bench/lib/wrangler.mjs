// Runs wrangler for the bench: its own persist dir and env file, never the developer's .wrangler or .dev.vars.
// The dev server runs bench/worker.ts (the production app plus the bench-only routes and cost meter).
import { spawn, execFile, execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { freePort, ROOT, signalGroup, TOOL_ENV } from "../../scripts/lib/local-worker.mjs";

const run = promisify(execFile);
export { ROOT };
export const WORK = `${ROOT}bench/.work`;
const WRANGLER = `${ROOT}node_modules/.bin/wrangler`;
// Run from bench/.work: wrangler keeps its scratch (.wrangler/) in the working directory, and the developer's stays untouched.
const CONFIG = ["-c", `${ROOT}wrangler.toml`];
export const BENCH_WORKER = `${ROOT}bench/worker.ts`;
/** Runs a one-shot wrangler command in the repo and returns its stdout. */
export async function wrangler(args, { maxBuffer = 64 * 1024 * 1024 } = {}) {
  const { stdout } = await run(WRANGLER, [...args, ...CONFIG], { cwd: WORK, env: TOOL_ENV, maxBuffer });
  return stdout;
}

const running = new Set();

/** Synchronous, so it also works from process.on("exit"). */
export function killAllDevServers() {
  for (const child of running) signalGroup(child, "SIGKILL");
  running.clear();
}

/**
 * Starts `wrangler dev bench/worker.ts` and resolves once `readyPath` answers 200. `vars` become `--var NAME:value`.
 * `minify: false` builds unminified (for the CPU profile: esbuild marks each module's code with a `// path` line).
 * Returns { url, port, inspectorPort, stop(), readyMs }.
 */
export async function startDevServer({ persistTo, envFile, vars, readyPath, minify = true, timeoutMs = 90_000, log }) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = [
    "dev",
    BENCH_WORKER,
    ...CONFIG,
    ...(minify ? [] : ["--no-minify"]),
    "--ip", "127.0.0.1",
    "--port", String(port),
    "--inspector-port", String(inspectorPort),
    "--persist-to", persistTo,
    "--env-file", envFile,
    "--show-interactive-dev-session=false",
    "--log-level", "warn",
    ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
  ];
  const started = performance.now();
  // detached: its own process group, so stop() reaches workerd too.
  // From the repo root: with an entry given on the command line, wrangler resolves wrangler.toml's [alias]
  // paths against the working directory. Its scratch bundles go to .wrangler/tmp; state stays in persistTo.
  const child = spawn(WRANGLER, args, { cwd: ROOT, env: TOOL_ENV, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let output = "";
  const collect = (chunk) => {
    output = (output + chunk.toString()).slice(-20_000);
    log?.(chunk.toString());
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  let exited = null;
  child.on("exit", (code, signal) => {
    exited = { code, signal };
    running.delete(child);
  });

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (exited) return;
    signalGroup(child, "SIGTERM");
    const deadline = Date.now() + 5_000;
    while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (!exited) signalGroup(child, "SIGKILL");
    running.delete(child);
  };

  while (true) {
    if (exited) throw new Error(`wrangler dev exited (${JSON.stringify(exited)}) before it was ready:\n${output}`);
    if (performance.now() - started > timeoutMs) {
      await stop();
      throw new Error(`wrangler dev was not ready within ${timeoutMs} ms:\n${output}`);
    }
    try {
      const response = await fetch(`${url}${readyPath}`);
      await response.arrayBuffer();
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const readyMs = performance.now() - started;
  const workerPid = findWorkerProcess(child.pid, port);
  const groupPids = processGroup(child.pid);
  const groupCpuMs = () => {
    const each = groupPids.map(processCpuMs);
    return each.includes(null) || each.length === 0 ? null : each.reduce((a, b) => a + b, 0);
  };
  return { url, port, inspectorPort, stop, readyMs, output: () => output, workerCpuMs: () => processCpuMs(workerPid), groupCpuMs };
}

/**
 * wrangler dev runs two workerd processes: a proxy bound to the dev port, and the one that runs the
 * Worker itself with its local D1 and Durable Objects (the one with an inspector). Linux only; null elsewhere.
 */
function groupRows(groupId) {
  return execFileSync("ps", ["-eo", "pid=,pgid=,args="], { encoding: "utf8" })
    .split("\n")
    .map((line) => line.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter((m) => m && Number(m[2]) === groupId);
}

/** Every process of a dev server: wrangler's Node processes and both workerd processes. */
function processGroup(groupId) {
  try {
    return groupRows(groupId).map((m) => Number(m[1]));
  } catch {
    return [];
  }
}

function findWorkerProcess(groupId, port) {
  try {
    const rows = groupRows(groupId).filter((m) => /workerd/.test(m[3]) && / serve /.test(m[3]));
    const worker = rows.find((m) => m[3].includes("--inspector-addr")) ?? rows.find((m) => !m[3].includes(`entry=127.0.0.1:${port}`));
    return worker ? Number(worker[1]) : null;
  } catch {
    return null;
  }
}

/** User + system CPU time a process has used so far, from /proc (clock ticks of 10 ms). */
function processCpuMs(pid) {
  if (pid === null) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}
