/**
 * bench:approvals — what holding a call costs.
 *
 * (a) Release latency: two approval-core replicas in this process, each with its own Redis
 *     connections and BullMQ workers (as two gateway processes would have). Replica A holds a call
 *     and waits for it exactly as the gateway's held-call step does; replica B records the decision.
 *     A releases it once: claim under a lease (300 ms here, renewed every 100 ms while the
 *     "upstream" call takes 120 ms, so each release renews once), then the outcome record with
 *     the kept result. Measured: from B's decide() being called to A's release() starting (the
 *     moment the upstream call would leave), over N approvals, one at a time; then, over 200 more
 *     with Redis's MONITOR on, every command clients sent per released call (round trips: a
 *     MULTI…EXEC block counts once, commands a Lua script runs inside Redis not at all).
 * (b) Many held calls: a gateway in this process (run with --expose-gc) in front of the
 *     Databricks mock, a policy that holds run_job; SDK clients in a child process (100 sessions)
 *     hold N calls at once, each with a progress token, so each stays open and gets progress.
 * (c) The control: the same N open calls to an allowed tool whose upstream takes an hour — open
 *     MCP requests with no hold — to show what the hold itself adds.
 *     Measured once every call is in (and every hold created): live heap after a forced full GC,
 *     and resident memory, per waiting call against the idle gateway; event-loop delay
 *     (monitorEventLoopDelay, 10 ms resolution) over the next 15 s while they wait.
 *
 * (d) A standing-grant check (issue #15): one replica holds a run_job pinned to params.job_id and
 *     an admin approves it with a one-hour grant, beside 9 other live grants of the same agent
 *     and tool; then the call path's lookup (`findGrant`) runs N times for a covered call and N
 *     times for one no grant covers: latency p50/p99, and, over 200 more with MONITOR on, the
 *     commands sent per check.
 *
 *   npm run bench:approvals [-- --approvals 1000 --held 10000] [-- --grants-only]
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { runHeldCall } from '../src/front/held-call.js';
import type { CallContext } from '../src/front/call-context.js';
import { startInProcessGateway } from '../test/helpers/in-process-gateway.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { runJobHold, startApprovalReplica, type Replica } from '../test/helpers/replicas.js';
import { databricksMockStdio, repoRoot } from '../test/helpers/upstreams.js';
import { percentile } from './load.js';
import { watchRedisTraffic, type RedisTraffic } from './redis-traffic.js';

const { values } = parseArgs({
  options: {
    approvals: { type: 'string', default: '1000' },
    held: { type: 'string', default: '10000' },
    'release-only': { type: 'boolean', default: false },
    'grants-only': { type: 'boolean', default: false },
  },
});
const approvalCount = Number(values.approvals);
const heldCount = Number(values.held);

async function main(): Promise<void> {
  const redis = process.env['REDIS_URL'] ? undefined : await startRedisServer();
  const redisUrl = process.env['REDIS_URL'] ?? (redis as { url: string }).url;
  try {
    const grants = await grantCheck(redisUrl);
    process.stderr.write(
      `(d) grant check: covered p50 ${grants.hit.p50.toFixed(3)} ms / p99 ${grants.hit.p99.toFixed(3)} ms; not covered p50 ${grants.miss.p50.toFixed(3)} ms / p99 ${grants.miss.p99.toFixed(3)} ms; ${grants.roundTrips.toFixed(2)} round trips per check (${grants.breakdown})\n`,
    );
    if (values['grants-only']) return;
    const release = await releaseLatency(redisUrl);
    process.stderr.write(`(a) release latency p50 ${release.p50.toFixed(2)} ms, p99 ${release.p99.toFixed(2)} ms\n`);
    process.stderr.write(`(a) Redis round trips per released call: ${release.roundTrips.toFixed(2)}\n${release.breakdown}\n`);
    if (values['release-only']) return;
    const held = await manyWaiting(redisUrl, 'held');
    const slow = await manyWaiting(redisUrl, 'slow upstream');
    process.stdout.write(
      [
        '',
        `| measure | value |`,
        `|---|---|`,
        `| (a) decision on replica B → release on replica A, p50 | ${release.p50.toFixed(2)} ms |`,
        `| (a) … p99 (${approvalCount} approvals) | ${release.p99.toFixed(2)} ms |`,
        '',
        '| waiting calls | waiting (of sent) | live V8 heap per call | RSS per call | event-loop delay max | event-loop delay p99 |',
        '|---|---|---|---|---|---|',
        ...[held, slow].map(
          (r) =>
            `| (${r === held ? 'b' : 'c'}) ${r.mode} | ${r.waiting} of ${heldCount} | ${(r.heapPerCall / 1024).toFixed(1)} KB | ${(r.rssPerCall / 1024).toFixed(1)} KB | ${r.lagMaxMs.toFixed(1)} ms | ${r.lagP99Ms.toFixed(1)} ms |`,
        ),
        '',
      ].join('\n'),
    );
  } finally {
    await redis?.stop();
  }
}

/** (d): the lookup a held tool's call makes before it is held, with 10 live grants for the agent and tool. */
async function grantCheck(redisUrl: string) {
  const replica = await startApprovalReplica(redisUrl, `bench-grants-${process.pid}:`);
  const admin = { kind: 'admin' as const, id: 'admin:bench', name: 'bench' };
  let traffic: RedisTraffic | undefined;
  try {
    for (let job = 0; job < 10; job++) {
      const pin = { path: 'params.job_id', digest: `hmac-sha256:job-${job}`, shown: job };
      const input = runJobHold({
        arguments: { params: { job_id: job } },
        settings: { timeoutMs: 600_000, approvers: [], grants: { pin: ['params.job_id'], maxDurationMs: 3_600_000 } },
      });
      const { record } = await replica.approvals.hold({ ...input, grantPins: [pin] });
      await replica.approvals.decide(record.id, admin, 'approve', undefined, { grant: { durationMs: 3_600_000 } });
    }
    const query = (job: number) => ({ agent: 'agent-a', tool: 'run_job', digests: { 'params.job_id': `hmac-sha256:job-${job}` }, maxDurationMs: 3_600_000 });
    const time = async (job: number, expectFound: boolean) => {
      const samples: number[] = [];
      for (let i = 0; i < approvalCount + 100; i++) {
        const started = performance.now();
        const grant = await replica.approvals.findGrant(query(job));
        const elapsed = performance.now() - started;
        if ((grant !== undefined) !== expectFound) throw new Error(`grant lookup for job ${job} answered ${grant ? 'found' : 'none'}`);
        if (i >= 100) samples.push(elapsed);
      }
      samples.sort((x, y) => x - y);
      return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
    };
    const hit = await time(7, true);
    const miss = await time(99, false);
    traffic = await watchRedisTraffic(redisUrl);
    for (let i = 0; i < trafficCount; i++) await replica.approvals.findGrant(query(i % 2 === 0 ? 7 : 99));
    const counted = await traffic.snapshot();
    const breakdown = [...counted.byCommand].map(([name, n]) => `${name} ${(n / trafficCount).toFixed(2)}`).join(', ');
    return { hit, miss, roundTrips: counted.total / trafficCount, breakdown };
  } finally {
    await traffic?.close();
    await replica.close();
  }
}

/** Round trips are counted over this many released calls, in a second pass (MONITOR slows Redis, so not while timing). */
const trafficCount = 200;

async function releaseLatency(redisUrl: string): Promise<{ p50: number; p99: number; roundTrips: number; breakdown: string }> {
  const prefix = `bench-approvals-${process.pid}:`;
  const options = { executionLeaseMs: 300 };
  const [a, b] = [await startApprovalReplica(redisUrl, prefix, options), await startApprovalReplica(redisUrl, prefix, options)];
  const samples: number[] = [];
  let traffic: RedisTraffic | undefined;
  let counted: Awaited<ReturnType<RedisTraffic['snapshot']>> | undefined;
  try {
    for (let i = 0; i < approvalCount + 50; i++) {
      const sample = await releaseOne(a, b, i);
      if (i >= 50) samples.push(sample); // the first 50 warm up JIT and connections
    }
    traffic = await watchRedisTraffic(redisUrl);
    for (let i = 0; i < trafficCount; i++) await releaseOne(a, b, approvalCount + 50 + i);
    counted = await traffic.snapshot();
  } finally {
    await traffic?.close();
    await a.close();
    await b.close();
  }
  samples.sort((x, y) => x - y);
  if (!counted) throw new Error('no traffic counted');
  const perCall = (n: number) => (n / trafficCount).toFixed(2);
  const sortedEntries = (map: Map<string, number>) => [...map].sort((x, y) => y[1] - x[1]);
  const breakdown = [
    ...sortedEntries(counted.byConnection).map(([name, n]) => `  ${name}: ${perCall(n)}`),
    `  by command: ${sortedEntries(counted.byCommand)
      .map(([name, n]) => `${name} ${perCall(n)}`)
      .join(', ')}`,
  ].join('\n');
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), roundTrips: counted.total / trafficCount, breakdown };
}

const never = new AbortController().signal;

/** Holds one call on A, approves it on B, and returns the ms from B's decide() to A's release(). */
async function releaseOne(a: Replica, b: Replica, i: number): Promise<number> {
  const { record } = await a.approvals.hold(
    runJobHold({ arguments: { params: { job_id: i, notebook_params: { run: String(i) } } }, settings: { timeoutMs: 600_000 } }),
  );
  let releasedAt = 0;
  const ctx: CallContext = {
    agent: { name: 'bench', owner: undefined, policy: undefined },
    sessionId: 'bench',
    requestId: i,
    progressToken: 1,
    signal: never,
    traceparent: undefined,
    canWaitLong: true,
    sendProgress: async () => undefined,
    forward: async () => ({ content: [] }), // release() stands in for the upstream
  };
  const waiting = runHeldCall(
    { approvals: a.approvals, answerPendingAfterMs: 60_000, progressIntervalMs: 60_000, describeChannel: () => 'bench' },
    {
      ctx,
      record,
      release: async () => {
        releasedAt = performance.now();
        await new Promise((r) => setTimeout(r, 120)); // the upstream call: long enough for one lease renewal
        return { content: [{ type: 'text', text: JSON.stringify({ run_id: 900_000 + i, number_in_job: 1 }) }] };
      },
    },
  );
  await new Promise((r) => setTimeout(r, 2)); // let A subscribe, as a real held call has long done
  const decidedAt = performance.now();
  await b.approvals.decide(record.id, { kind: 'admin', id: 'admin:bench', name: 'bench' }, 'approve', undefined);
  await waiting;
  return releasedAt - decidedAt;
}

/**
 * (b) `held`: run_job held for approval; (c) `slow upstream`: list_jobs allowed but the upstream
 * takes an hour — the same number of open MCP requests with no hold, to show what a hold adds.
 */
async function manyWaiting(redisUrl: string, mode: 'held' | 'slow upstream') {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc (npm run bench:approvals does)');
  const { gateway, mcpUrl, tokens } = await startInProcessGateway({
    redisUrl,
    prefix: `bench-${mode === 'held' ? 'held' : 'slow'}-${process.pid}:`,
    mcpServers: { databricks: { ...databricksMockStdio({ delayMs: mode === 'held' ? 0 : 3_600_000 }), callTimeout: '2h' } },
    agents: ['bench'],
    policy: { version: '1', default: 'allow', tools: { run_job: { action: 'approve', approval: { timeout: '30m' } } } },
  });
  const live = () => {
    gc();
    gc();
    return process.memoryUsage();
  };
  await new Promise((r) => setTimeout(r, 1_000));
  const before = live();
  const tool = mode === 'held' ? 'run_job' : 'list_jobs';
  const clients = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'bench/waiting-clients.ts'), mcpUrl, tokens['bench'] ?? '', tool, String(heldCount)],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  try {
    const deadline = Date.now() + 300_000;
    let settledFor = 0;
    let last = -1;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1_000));
      const waiting = gateway.pipeline.inflightCount;
      const holds = mode === 'held' ? await gateway.approvals.pendingCount() : waiting;
      process.stderr.write(`${mode}: ${waiting}/${heldCount} waiting${mode === 'held' ? `, ${holds} holds` : ''}\n`);
      const done = waiting >= heldCount && holds >= heldCount;
      settledFor = waiting === last ? settledFor + 1 : 0;
      last = waiting;
      if (done || settledFor >= 10 || Date.now() > deadline) break;
    }
    await new Promise((r) => setTimeout(r, 3_000)); // let the last holds' notifications and audit settle
    const waiting = gateway.pipeline.inflightCount;
    const during = live();
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    await new Promise((r) => setTimeout(r, 15_000));
    delay.disable();
    return {
      mode,
      waiting,
      heapPerCall: (during.heapUsed - before.heapUsed) / waiting,
      rssPerCall: (during.rss - before.rss) / waiting,
      lagMaxMs: delay.max / 1e6,
      lagP99Ms: delay.percentile(99) / 1e6,
    };
  } finally {
    clients.kill('SIGKILL');
    await gateway.close();
  }
}

await main();
