import autocannon from "autocannon";

/**
 * A warm-up, then a measured autocannon run against one route. `next()` (optional) returns per-request
 * overrides ({ path, headers, body }) so that every request can carry a fresh token, email or client IP.
 * Returns requests/s (2xx only), latency percentiles (ms), the status codes seen and, given `cpuMs()`
 * (a process's cumulative CPU time), the CPU it used during the measured run.
 */
export async function measure({ url, method = "GET", path, headers = {}, body, next, connections, durationSec, warmupSec, cpuMs, totalCpuMs }) {
  const request = { method, path, headers };
  if (body !== undefined) request.body = body;
  if (next) {
    request.setupRequest = (req) => {
      const override = next();
      return { ...req, ...override, headers: { ...req.headers, ...override.headers } };
    };
  }
  const options = { url, connections, requests: [request], timeout: 30 };
  if (warmupSec > 0) await autocannon({ ...options, duration: warmupSec });
  const cpuBefore = cpuMs?.() ?? null;
  const totalBefore = totalCpuMs?.() ?? null;
  const result = await autocannon({ ...options, duration: durationSec });
  const cpuAfter = cpuMs?.() ?? null;
  const totalAfter = totalCpuMs?.() ?? null;
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]));
  return {
    rps: result["2xx"] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result["2xx"],
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statuses,
    durationSec: result.duration,
    // CPU the Worker's own process spent (local D1 and Durable Objects included); null off Linux.
    workerCpuMs: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore,
    // ... and the whole dev server (wrangler's proxy and Node process too).
    totalCpuMs: totalBefore === null || totalAfter === null ? null : totalAfter - totalBefore,
  };
}

/** Distinct client IPs from 198.18.0.0/15 (the benchmarking range of RFC 2544), used only as header values. */
export function clientIps(count, offset = 0) {
  return Array.from({ length: count }, (_, i) => {
    const n = i + offset;
    return `198.${18 + ((n >> 16) & 1)}.${(n >> 8) & 255}.${n & 255}`;
  });
}
