/**
 * bench:limits — what a rate-limit check costs.
 *
 * Section 1 drives RedisRateLimiter.check from this one process (one Node core) against a
 * redis-server of its own (or REDIS_URL) at a fixed concurrency, and reports checks per second,
 * p50/p99 latency per check and Redis round trips per check, from `INFO commandstats` deltas:
 * every command the limiter sends is an EVALSHA (or EVAL once, to load the script); the commands
 * a script runs inside Redis are listed by commandstats too but cost no round trip.
 * Scenarios: one limit per call, mostly admitted; one limit, mostly refused; three limits per call
 * (grant + session + global, like a realistic run_job entry), mostly admitted.
 *
 * Later sections (the added latency of a limited tools/call through the gateway) append their
 * own table: add a `Section` to `sections` below.
 *
 *   npx tsx bench/limits.ts [--checks 100000] [--concurrency 64]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { RedisRateLimiter } from '../src/limits/redis-limiter.js';
import type { LimitSubject } from '../src/limits/types.js';
import type { LimitSpec } from '../src/policy/types.js';
import { createRedis, waitForRedis, type Redis } from '../src/state/redis.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { percentile } from './load.js';

const { values } = parseArgs({ options: { checks: { type: 'string', default: '100000' }, concurrency: { type: 'string', default: '64' } } });
const totalChecks = Number(values.checks);
const concurrency = Number(values.concurrency);

/** One bench section: gets a Redis URL, returns its markdown. */
type Section = (redisUrl: string) => Promise<string>;

interface Scenario {
  name: string;
  /** The limits and subject of the i-th check. */
  call(i: number): { limits: LimitSpec[]; subject: LimitSubject };
}

interface ScenarioResult {
  name: string;
  checks: number;
  admitted: number;
  checksPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Commands the limiter sent (EVALSHA + EVAL) per check: its round trips. */
  roundTripsPerCheck: number;
  /** Commands other than EVALSHA/EVAL/INFO and those the script runs inside Redis: should be 0. */
  otherCommands: number;
}

const big = 1_000_000_000;
const counters = 1_000;
const scenarios: Scenario[] = [
  {
    name: '1 limit, mostly admitted',
    call: (i) => ({ limits: [{ counter: `c${i % counters}`, windowSec: 60, max: big, scope: 'grant' }], subject: { agent: `agent-${i % 50}`, sessionId: 's' } }),
  },
  {
    name: '1 limit, mostly refused',
    call: (i) => ({ limits: [{ counter: `r${i % 100}`, windowSec: 60, max: 10, scope: 'global' }], subject: { agent: 'agent', sessionId: 's' } }),
  },
  {
    name: '3 limits (grant+session+global), mostly admitted',
    call: (i) => ({
      limits: [
        { counter: 'run_job_rate', windowSec: 60, max: big, scope: 'grant' },
        { counter: 'run_job_session', windowSec: 60, max: big, scope: 'session' },
        { counter: 'all_jobs', windowSec: 3_600, max: big, scope: 'global' },
      ],
      subject: { agent: `agent-${i % 50}`, sessionId: `session-${i % 500}` },
    }),
  },
];

/** Commands a check script runs inside Redis: counted by commandstats, but no round trip. */
const insideScript = new Set(['time', 'hget', 'hset', 'zremrangebyscore', 'zcount', 'zrangebyscore', 'zadd', 'pexpire']);

async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const text = await redis.info('commandstats');
  const stats = new Map<string, number>();
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(match[1] ?? '', Number(match[2]));
  return stats;
}

async function runScenario(limiter: RedisRateLimiter, stats: Redis, scenario: Scenario): Promise<ScenarioResult> {
  const before = await commandStats(stats);
  const latencies = new Float64Array(totalChecks);
  let next = 0;
  let admitted = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < totalChecks; i = next++) {
        const { limits, subject } = scenario.call(i);
        const t0 = performance.now();
        const result = await limiter.check(limits, subject);
        latencies[i] = performance.now() - t0;
        if (result.admitted) admitted += 1;
      }
    }),
  );
  const elapsedSec = (performance.now() - started) / 1_000;
  const after = await commandStats(stats);
  const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  let otherCommands = 0;
  for (const name of after.keys()) if (!insideScript.has(name) && !['evalsha', 'eval', 'info'].includes(name)) otherCommands += delta(name);
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    name: scenario.name,
    checks: totalChecks,
    admitted,
    checksPerSec: totalChecks / elapsedSec,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    roundTripsPerCheck: (delta('evalsha') + delta('eval')) / totalChecks,
    otherCommands,
  };
}

const limiterSection: Section = async (redisUrl) => {
  const redis = createRedis(redisUrl, { name: 'bench:limits', mode: 'fail-fast' });
  const stats = createRedis(redisUrl, { name: 'bench:stats', mode: 'fail-fast' });
  if (!(await waitForRedis(redis, 5_000)) || !(await waitForRedis(stats, 5_000))) throw new Error(`cannot reach Redis at ${redisUrl}`);
  const limiter = new RedisRateLimiter({ redis, prefix: `bench-${process.pid}:` });
  try {
    // Warm up: load the script (NOSCRIPT → EVAL once), JIT the path.
    for (let i = 0; i < 2_000; i++) await limiter.check([{ counter: 'warm', windowSec: 1, max: big, scope: 'global' }], { agent: 'w', sessionId: 'w' });
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios) {
      const result = await runScenario(limiter, stats, scenario);
      process.stderr.write(`${result.name}: ${result.checksPerSec.toFixed(0)} checks/s, p50 ${result.p50Ms.toFixed(3)} ms\n`);
      results.push(result);
    }
    const lines = [
      `### Rate-limit checks: one process, concurrency ${concurrency}, ${totalChecks.toLocaleString('en-US')} checks per scenario`,
      '',
      '| scenario | admitted | checks/s | p50 ms | p99 ms | Redis round trips per check | other commands |',
      '|---|---|---|---|---|---|---|',
      ...results.map(
        (r) =>
          `| ${r.name} | ${((r.admitted / r.checks) * 100).toFixed(1)}% | ${r.checksPerSec.toFixed(0)} | ${r.p50Ms.toFixed(3)} | ${r.p99Ms.toFixed(3)} | ${r.roundTripsPerCheck.toFixed(3)} | ${r.otherCommands} |`,
      ),
    ];
    return lines.join('\n');
  } finally {
    redis.disconnect();
    stats.disconnect();
  }
};

/** Sections run in order on one Redis; the gateway end-to-end section goes after this one. */
const sections: Section[] = [limiterSection];

async function main(): Promise<void> {
  const server = process.env['REDIS_URL'] ? undefined : await startRedisServer();
  const redisUrl = process.env['REDIS_URL'] ?? server?.url;
  if (redisUrl === undefined) throw new Error('no Redis: set REDIS_URL or put redis-server on PATH');
  try {
    const out: string[] = [];
    for (const section of sections) out.push(await section(redisUrl));
    process.stdout.write(`\n${out.join('\n\n')}\n\n(Node ${process.version}, one process; Redis at ${redisUrl})\n`);
  } finally {
    await server?.stop();
  }
}

await main();
