/**
 * A closed-loop load generator shared by the benchmarks: each worker issues its next request as
 * soon as the previous one answers, for a fixed time; latencies are recorded per request.
 */
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  calls: number;
  errors: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
}

/** Runs `request` from every worker in a loop for `seconds`; one worker per element of `workers`. */
export async function runLoad<W>(workers: readonly W[], request: (worker: W) => Promise<unknown>, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + seconds * 1_000;
  await Promise.all(
    workers.map(async (worker) => {
      while (performance.now() < until) {
        const t0 = performance.now();
        try {
          await request(worker);
          latencies.push(performance.now() - t0);
        } catch {
          errors += 1;
        }
      }
    }),
  );
  const elapsedSec = (performance.now() - started) / 1_000;
  latencies.sort((a, b) => a - b);
  return { calls: latencies.length, errors, throughput: latencies.length / elapsedSec, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number; // index is clamped into the array's bounds
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}
