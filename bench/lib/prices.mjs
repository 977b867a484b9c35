// Cloudflare list prices beyond the Workers Paid plan's monthly inclusions (USD). Check the cited pages
// before relying on them: this is what they said when the bench was written (November 2026).
export const PRICES = {
  workerRequestPerMillion: 0.3, // 10 M requests/month included
  workerCpuMsPerMillion: 0.02, // 30 M CPU-ms/month included
  d1RowReadPerMillion: 0.001, // 25 B rows/month included
  d1RowWrittenPerMillion: 1.0, // 50 M rows/month included
  doRequestPerMillion: 0.15, // 1 M requests/month included (every RPC method call is one request)
  doGbSecondPerMillion: 12.5, // 400,000 GB-s/month included; 128 MB billed per active object
  doRowReadPerMillion: 0.001, // SQLite-backed objects: 25 B rows/month included
  doRowWrittenPerMillion: 1.0, // SQLite-backed objects: 50 M rows/month included
};

export const SOURCES = {
  workers: "https://developers.cloudflare.com/workers/platform/pricing/",
  d1: "https://developers.cloudflare.com/d1/platform/pricing/",
  durableObjects: "https://developers.cloudflare.com/durable-objects/platform/pricing/",
  limits: "https://developers.cloudflare.com/workers/platform/limits/",
  sizeLimitChange: "https://github.com/cloudflare/cloudflare-docs/pull/31002",
};

/** Worker size limits: the long-standing compressed limits, and the single uncompressed one documented since May 2026. */
export const SIZE_LIMITS = {
  freeCompressedBytes: 3 * 1024 * 1024,
  paidCompressedBytes: 10 * 1024 * 1024,
  uncompressedBytes: 64 * 1024 * 1024,
  startupMs: 1000,
};

/**
 * Marginal $ per million operations (usage above the plan's inclusions). `cost` holds per-operation counts:
 * cpuMs, d1RowsRead, d1RowsWritten, doRequests, doRowsRead, doRowsWritten, doActiveMs.
 */
export function dollarsPerMillion(cost) {
  const parts = {
    workerRequests: PRICES.workerRequestPerMillion,
    workerCpu: cost.cpuMs * PRICES.workerCpuMsPerMillion,
    d1Reads: cost.d1RowsRead * PRICES.d1RowReadPerMillion,
    d1Writes: cost.d1RowsWritten * PRICES.d1RowWrittenPerMillion,
    doRequests: cost.doRequests * PRICES.doRequestPerMillion,
    doDuration: cost.doRequests * (cost.doActiveMs / 1000) * 0.125 * PRICES.doGbSecondPerMillion,
    doRows: cost.doRowsRead * PRICES.doRowReadPerMillion + cost.doRowsWritten * PRICES.doRowWrittenPerMillion,
  };
  return { ...parts, total: Object.values(parts).reduce((a, b) => a + b, 0) };
}
