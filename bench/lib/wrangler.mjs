// Runs wrangler for the bench: its own persist dir and env file, never the developer's .wrangler or .dev.vars.
import { spawn, execFile } from "node:child_process";
import { createServer } from "node:net";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const WORK = `${ROOT}bench/.work`;
const WRANGLER = `${ROOT}node_modules/.bin/wrangler`;
// Run from bench/.work: wrangler keeps its scratch (.wrangler/) in the working directory, and the developer's stays untouched.
const CONFIG = ["-c", `${ROOT}wrangler.toml`];
// node_modules/.bin first: wrangler needs the repo's Node 22, whatever node started this script.
const ENV = {
  ...process.env,
  PATH: `${ROOT}node_modules/.bin:${process.env.PATH}`,
  CI: "1",
  WRANGLER_SEND_METRICS: "false",
  NO_COLOR: "1",
  FORCE_COLOR: "0",
};

/** Runs a one-shot wrangler command in the repo and returns its stdout. */
export async function wrangler(args, { maxBuffer = 64 * 1024 * 1024 } = {}) {
  const { stdout } = await run(WRANGLER, [...args, ...CONFIG], { cwd: WORK, env: ENV, maxBuffer });
  return stdout;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const running = new Set();

/** Kills a dev server's whole process group (wrangler and its workerd children). */
function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Synchronous, so it also works from process.on("exit"). */
export function killAllDevServers() {
  for (const child of running) killGroup(child, "SIGKILL");
  running.clear();
}

/**
 * Starts `wrangler dev` and resolves once `readyPath` answers 200. `vars` become `--var NAME:value`.
 * Returns { url, port, stop(), readyMs }.
 */
export async function startDevServer({ persistTo, envFile, vars, readyPath, timeoutMs = 90_000, log }) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = [
    "dev",
    ...CONFIG,
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
  const child = spawn(WRANGLER, args, { cwd: WORK, env: ENV, detached: true, stdio: ["ignore", "pipe", "pipe"] });
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
    killGroup(child, "SIGTERM");
    const deadline = Date.now() + 5_000;
    while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (!exited) killGroup(child, "SIGKILL");
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
  return { url, port, stop, readyMs: performance.now() - started, output: () => output };
}
