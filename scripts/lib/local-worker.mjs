// Shared by the black-box e2e run (test/e2e/run.mjs) and the benchmark (bench/): what it takes to run the
// Worker locally under `wrangler dev` and talk to it over HTTP.
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Environment for wrangler and npm children: node_modules/.bin first, so wrangler (and its `node`
 * shebang) run on the repo's Node 22 whatever node started the script; quiet, non-interactive output.
 */
export const TOOL_ENV = {
  ...process.env,
  PATH: `${join(ROOT, "node_modules", ".bin")}${delimiter}${process.env.PATH ?? ""}`,
  CI: "1",
  WRANGLER_SEND_METRICS: "false",
  NO_COLOR: "1",
  FORCE_COLOR: "0",
};

/** A TCP port free on 127.0.0.1 right now. */
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

/** Signals a detached child's whole process group (wrangler and its workerd children); false if it is gone. */
export function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** One JSON request with a client IP (CF-Connecting-IP, which wrangler dev passes through). */
export async function jsonRequest(base, method, path, { token, body, headers = {}, ip, timeoutMs } = {}) {
  const sent = { "CF-Connecting-IP": ip, ...headers };
  if (token) sent.Authorization = `Bearer ${token}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  const signal = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
  const response = await fetch(`${base}${path}`, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body), signal });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}
