/**
 * bench:scale-out (issue #16) — what running several replicas costs and buys:
 *
 *   1. failover: the time for an agent to get its result after the replica holding its call dies
 *      (SIGKILL), through HAProxy, p50 over `--failovers` iterations; two more series of
 *      `--fast-failovers` (0 to skip) show the levers: a shorter SSE `retry:` hint (`--fast-retry`),
 *      and what haproxy.cfg's `option redispatch 1` saves (the same with a bare `option redispatch`);
 *   2. event store: what resumability writes to Redis per call (round trips, bytes) for an allowed
 *      JSON call, an allowed call that streams progress, and a held call — resumption on vs off;
 *   3. one vs two replicas behind HAProxy at c=32 (calls/s, p50, CPU per call of each process,
 *      Redis round trips per call), Redis's own capacity on this machine, and from those the calls/s
 *      at which one Redis saturates.
 *
 *   npm run bench:scale-out [-- --failovers 20 --fast-failovers 8 --fast-retry 200ms --seconds 5 --rounds 3 --only failover|store|throughput]
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { repoRoot } from '../test/helpers/upstreams.js';
import { reportFailovers, reportStore, reportThroughput } from './scale-out-report.js';
import { runFailovers, type FailoverSeries } from './scale-out-failover.js';
import { measureEventStore, type StoreMeasure } from './scale-out-store.js';
import { measureThroughput } from './scale-out-throughput.js';

const { values } = parseArgs({
  options: {
    failovers: { type: 'string', default: '20' },
    'fast-failovers': { type: 'string', default: '8' },
    'fast-retry': { type: 'string', default: '200ms' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
  },
});
const parts = values.only ? [values.only] : ['failover', 'store', 'throughput'];
const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  const build = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('build failed');
  const startedAt = Date.now();
  // The machine is shared: the load average says how much of it others were using meanwhile.
  const loadAverage = () =>
    loadavg()
      .map((n) => n.toFixed(1))
      .join(' ');
  const out: string[] = [`Started ${new Date().toISOString()}, load average ${loadAverage()}, ${cpus().length} CPUs.`, ''];
  if (parts.includes('failover')) {
    const redis = await startRedisServer();
    try {
      const series: FailoverSeries[] = [await runFailovers(redis.url, Number(values.failovers), { retry: '1s' }, log)];
      // The two levers: a shorter SSE retry hint, and (backwards) what haproxy.cfg's `option redispatch 1` saves.
      const fast = Number(values['fast-failovers']);
      if (fast > 0) {
        series.push(await runFailovers(redis.url, fast, { retry: values['fast-retry'] }, log));
        series.push(await runFailovers(redis.url, fast, { retry: '1s', redispatchOnLastRetry: true }, log));
      }
      out.push(reportFailovers(series));
    } finally {
      await redis.stop();
    }
  }
  let store: StoreMeasure[] | undefined;
  if (parts.includes('store')) {
    const redis = await startRedisServer();
    try {
      store = await measureEventStore(redis.url, log);
      out.push(reportStore(store));
    } finally {
      await redis.stop();
    }
  }
  if (parts.includes('throughput')) {
    const redis = await startRedisServer();
    try {
      out.push(reportThroughput(await measureThroughput(redis, { seconds: Number(values.seconds), rounds: Number(values.rounds) }, log), store));
    } finally {
      await redis.stop();
    }
  }
  out.push(`Total time: ${((Date.now() - startedAt) / 1_000).toFixed(0)} s; load average at the end ${loadAverage()}.`);
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
