// Measurement helpers shared by bench/deno_local.ts and bench/remote.ts, so that both print
// figures defined the same way as `cairn bench`: one line per workload,
// `<workload> <ops_per_s> p50_us=<n> p99_us=<n>`, percentiles by nearest rank.

/** Nearest-rank percentile (the smallest sample with at least p of the samples <= it). */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Prints the one contract line for a workload. Latencies are in ms (performance.now()). */
export function report(name: string, ops: number, elapsedMs: number, latenciesMs: Float64Array) {
  const sorted = latenciesMs.slice().sort();
  const us = (ms: number) => Math.round(ms * 1000);
  const opsPerS = Math.round(ops / (elapsedMs / 1000));
  const p50 = us(percentile(sorted, 0.5));
  const p99 = us(percentile(sorted, 0.99));
  console.log(`${name} ${opsPerS} p50_us=${p50} p99_us=${p99}`);
}

/** A uniformly random integer in [0, n). */
export function randomIndex(n: number): number {
  return Math.floor(Math.random() * n);
}
