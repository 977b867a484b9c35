// `npm run bench -- --profile`: a V8 CPU profile of the Worker's isolate over the DevTools protocol
// (`wrangler dev --inspector-port`), with self time grouped by module. Node 22's built-in WebSocket
// speaks the protocol, so no dependency is added. The dev server runs an unminified build, in which
// esbuild starts every module's code with a `// path/of/module.js` comment: that maps each sampled
// function's line to the module it came from.

/** Opens the inspector's WebSocket; returns { send(method, params), close() }. */
export async function connectInspector(inspectorPort) {
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl);
  if (!target) throw new Error(`no inspector target on port ${inspectorPort}: ${JSON.stringify(targets)}`);
  // The inspector proxy only accepts local DevTools origins.
  const socket = new WebSocket(target.webSocketDebuggerUrl, { headers: { Origin: "http://127.0.0.1" } });
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", () => reject(new Error(`cannot connect to ${target.webSocketDebuggerUrl}`)), { once: true });
  });
  let nextId = 1;
  const pending = new Map();
  const scripts = new Map();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data));
    if (message.id !== undefined && pending.has(message.id)) {
      const { resolve, reject } = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) reject(new Error(`${message.error.message} (${message.error.code})`));
      else resolve(message.result);
    } else if (message.method === "Debugger.scriptParsed") {
      scripts.set(message.params.scriptId, message.params.url);
    }
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params }));
    });
  return { send, scripts, close: () => socket.close() };
}

/** Line index → module path, from the `// path` comments esbuild writes before each module's code. */
function moduleMap(source) {
  const lines = source.split("\n");
  const modules = new Array(lines.length);
  let current = "(esbuild helpers)";
  const marker = /^\/\/ ((?:\.\.\/)*(?:node_modules\/|src\/|bench\/)\S+)$/;
  for (let i = 0; i < lines.length; i++) {
    const m = marker.exec(lines[i]);
    if (m) current = m[1].replace(/^(\.\.\/)+/, "");
    modules[i] = current;
  }
  return modules;
}

/** Samples of code that runs in this isolate only under wrangler dev (the Durable Object, miniflare's wrappers). */
export const LOCAL_ONLY = "(local only: Durable Object and emulation)";

/**
 * Samples under the Worker's `queue()` handler (the mail and webhook consumers, which locally run in the
 * same isolate right after the request that enqueued them): in production a separate invocation, billed
 * as its own request, not the enqueuing request's CPU.
 */
export const QUEUE_CONSUMER = "(queue consumer: a separate invocation)";

/** A module path as a row label: a package name for dependencies, the file for our own code. */
export function moduleGroup(path) {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
  return pkg ? pkg[1] : path;
}

/**
 * Runs `work()` (a load slice) under the profiler and returns { totalMs, idleMs, activeMs, byModule: Map<label, ms> }.
 * Native frames (crypto, JSON, Response, console) have no script: they are charged to the module of their
 * nearest JavaScript caller, as "<module> (native calls)".
 */
export async function profileDuring(inspector, work, { samplingIntervalUs = 200 } = {}) {
  await inspector.send("Debugger.enable");
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.setSamplingInterval", { interval: samplingIntervalUs });
  await inspector.send("Profiler.start");
  const result = await work();
  const { profile } = await inspector.send("Profiler.stop");
  const sources = new Map();
  const scriptModule = async (frame) => {
    const url = frame.url || inspector.scripts.get(frame.scriptId) || "";
    if (!frame.scriptId || frame.scriptId === "0" || !url) return null;
    if (!sources.has(frame.scriptId)) {
      const { scriptSource } = await inspector.send("Debugger.getScriptSource", { scriptId: frame.scriptId }).catch(() => ({ scriptSource: "" }));
      sources.set(frame.scriptId, moduleMap(scriptSource));
    }
    const modules = sources.get(frame.scriptId);
    const module = modules[frame.lineNumber] ? moduleGroup(modules[frame.lineNumber]) : `(script) ${url}`;
    // Locally the rate limiter's Durable Object shares the Worker's isolate; in production it runs elsewhere.
    if (module === "src/rate-limit/rate-limiter.ts") return LOCAL_ONLY;
    // Only our bundle (worker.js) is the Worker; miniflare's wrapper scripts emulate the platform.
    return /(^|\/)worker\.js$/.test(url) ? module : LOCAL_ONLY;
  };
  const parentOf = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
  const nodeLabel = new Map();
  const underQueue = new Map();
  const isUnderQueue = async (node) => {
    if (underQueue.has(node.id)) return underQueue.get(node.id);
    const frame = node.callFrame;
    let result = false;
    if (frame.functionName === "queue" && (await scriptModule(frame)) === "src/index.ts") result = true;
    else {
      const parent = parentOf.get(node.id);
      result = parent ? await isUnderQueue(parent) : false;
    }
    underQueue.set(node.id, result);
    return result;
  };
  for (const node of profile.nodes) {
    if (await isUnderQueue(node)) {
      nodeLabel.set(node.id, QUEUE_CONSUMER);
      continue;
    }
    const name = node.callFrame.functionName;
    if (["(idle)", "(program)", "(garbage collector)", "(root)"].includes(name)) {
      nodeLabel.set(node.id, name);
      continue;
    }
    const own = await scriptModule(node.callFrame);
    if (own) {
      nodeLabel.set(node.id, own);
      continue;
    }
    // Native code (crypto, JSON, Response, console): charged to the nearest JS caller's module.
    let caller = parentOf.get(node.id);
    let callerModule = null;
    while (caller && !(callerModule = await scriptModule(caller.callFrame))) caller = parentOf.get(caller.id);
    nodeLabel.set(node.id, callerModule ? `${callerModule} (native calls)` : `(native) ${name || "(anonymous)"}`);
  }
  const byModule = new Map();
  const byFunction = new Map();
  const nodeById = new Map(profile.nodes.map((node) => [node.id, node]));
  let totalUs = 0;
  let idleUs = 0;
  // timeDeltas[i] is the time since the previous sample: charge it to sample i's function (self time).
  profile.samples.forEach((nodeId, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const label = nodeLabel.get(nodeId) ?? "(unknown)";
    totalUs += us;
    if (label.startsWith(LOCAL_ONLY)) byModule.set(LOCAL_ONLY, (byModule.get(LOCAL_ONLY) ?? 0) + us / 1000);
    if (label === QUEUE_CONSUMER) byModule.set(QUEUE_CONSUMER, (byModule.get(QUEUE_CONSUMER) ?? 0) + us / 1000);
    if (label === "(idle)" || label === "(root)" || label.startsWith(LOCAL_ONLY) || label === QUEUE_CONSUMER) idleUs += us;
    else {
      byModule.set(label, (byModule.get(label) ?? 0) + us / 1000);
      const frame = nodeById.get(nodeId)?.callFrame;
      const fn = `${label} ${frame?.functionName || "(anonymous)"}:${frame?.lineNumber ?? "?"}`;
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + us / 1000);
    }
  });
  await inspector.send("Profiler.disable");
  // activeMs leaves out idle time, LOCAL_ONLY and QUEUE_CONSUMER samples (shown in byModule, but not this request's own work).
  return { result, totalMs: totalUs / 1000, idleMs: idleUs / 1000, activeMs: (totalUs - idleUs) / 1000, byModule, byFunction };
}
