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
 * Section 2 runs a gateway in this process in front of the Databricks mock (stdio) and times
 * tools/call from the SDK client one call at a time: a tool without limits and the same kind of
 * tool with one limit, interleaved, so noise hits both alike. Redis commands per call come from
 * `INFO commandstats` (the limit check is one EVALSHA).
 *
 *   npx tsx bench/limits.ts [--checks 100000] [--concurrency 64]
 */
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { fetchWithOwnSignal } from '../test/helpers/fetch.js';
import { startInProcessGateway } from '../test/helpers/in-process-gateway.js';
import { databricksMockStdio } from '../test/helpers/upstreams.js';
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
    call: (i) => ({
      limits: [{ counter: `c${i % counters}`, windowSec: 60, max: big, scope: 'grant' }],
      subject: { agent: `agent-${i % 50}`, sessionId: 's' },
    }),
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

const gatewaySection: Section = async (redisUrl) => {
  const { gateway, mcpUrl, tokens } = await startInProcessGateway({
    redisUrl,
    prefix: `bench-gw-${process.pid}:`,
    mcpServers: { databricks: databricksMockStdio() },
    agents: ['bench'],
    policy: {
      version: '1',
      default: 'allow',
      tools: { list_clusters: { action: 'allow', limits: [{ counter: 'bench', window: 'minute', max: big, scope: 'grant' }] } },
    },
  });
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${tokens['bench']}` } }, fetch: fetchWithOwnSignal }),
  );
  const stats = createRedis(redisUrl, { name: 'bench:stats', mode: 'fail-fast' });
  await waitForRedis(stats, 5_000);
  const unlimited = { name: 'list_jobs', arguments: { params: {} } };
  const limited = { name: 'list_clusters', arguments: { params: {} } };
  const rounds = 3_000;
  try {
    for (let i = 0; i < 300; i++) await client.callTool(i % 2 ? limited : unlimited);
    await new Promise((r) => setTimeout(r, 200)); // let the warm-up's audit writes land
    const timed = async (call: typeof limited, n: number) => {
      const before = await commandStats(stats);
      const latencies: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await client.callTool(call);
        latencies.push(performance.now() - t0);
      }
      await new Promise((r) => setTimeout(r, 200));
      const after = await commandStats(stats);
      const evals = ((after.get('evalsha') ?? 0) + (after.get('eval') ?? 0) - (before.get('evalsha') ?? 0) - (before.get('eval') ?? 0)) / n;
      return { latencies, evals };
    };
    const a: number[] = [];
    const b: number[] = [];
    let evalsUnlimited = 0;
    let evalsLimited = 0;
    for (let r = 0; r < 10; r++) {
      const u = await timed(unlimited, rounds / 10);
      const l = await timed(limited, rounds / 10);
      a.push(...u.latencies);
      b.push(...l.latencies);
      evalsUnlimited += u.evals / 10;
      evalsLimited += l.evals / 10;
    }
    a.sort((x, y) => x - y);
    b.sort((x, y) => x - y);
    return [
      `### A tools/call through the gateway, with and without a rate limit (concurrency 1, ${rounds} calls each, interleaved)`,
      '',
      '| tool | p50 ms | p99 ms | Redis scripts per call (limit check + audit append) |',
      '|---|---|---|---|',
      `| list_jobs (no limit) | ${percentile(a, 50).toFixed(3)} | ${percentile(a, 99).toFixed(3)} | ${evalsUnlimited.toFixed(2)} |`,
      `| list_clusters (one limit) | ${percentile(b, 50).toFixed(3)} | ${percentile(b, 99).toFixed(3)} | ${evalsLimited.toFixed(2)} |`,
      '',
      `Added by the limit: p50 ${(percentile(b, 50) - percentile(a, 50)).toFixed(3)} ms, ${(evalsLimited - evalsUnlimited).toFixed(2)} Redis round trips per call.`,
    ].join('\n');
  } finally {
    stats.disconnect();
    await client.close();
    await gateway.close();
  }
};

/** Sections run in order on one Redis. */
const sections: Section[] = [limiterSection, gatewaySection];

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
