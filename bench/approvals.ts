/**
 * bench:approvals — what holding a call costs.
 *
 * (a) Release latency: two approval-core replicas in this process, each with its own Redis
 *     connections and BullMQ workers (as two gateway processes would have). Replica A holds a call
 *     and waits for it exactly as the gateway's held-call step does; replica B records the decision.
 *     Measured: from B's decide() being called to A's release() starting (the moment the upstream
 *     call would leave), over N approvals, one at a time.
 * (b) Many held calls: a gateway in its own process (compiled JavaScript) in front of the
 *     Databricks mock, a policy that holds run_job; SDK clients hold H calls at once (each sent a
 *     progress token, so each is kept alive with progress notifications). Measured from the
 *     gateway's own /metrics: resident memory and V8 heap before and while holding, per held call,
 *     and the event-loop delay (max and p99) sampled every second while they wait.
 *
 *   npm run bench:approvals [-- --approvals 1000 --held 10000]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { ApprovalService } from '../src/approvals/approval-service.js';
import type { AuditSink } from '../src/audit/types.js';
import { runHeldCall } from '../src/front/held-call.js';
import type { CallContext } from '../src/front/call-context.js';
import { generateToken, hashToken } from '../src/identity/tokens.js';
import { fetchWithOwnSignal } from '../src/upstream/upstream-connection.js';
import { createLogger } from '../src/log.js';
import { createRedis, waitForRedis } from '../src/state/redis.js';
import { argumentsHash } from '../src/util/canonical.js';
import { freePort, startRedisServer } from '../test/helpers/redis-server.js';
import { repoRoot } from '../test/helpers/upstreams.js';
import { percentile } from './load.js';

const { values } = parseArgs({ options: { approvals: { type: 'string', default: '1000' }, held: { type: 'string', default: '10000' } } });
const approvalCount = Number(values.approvals);
const heldCount = Number(values.held);

async function main(): Promise<void> {
  const redis = process.env['REDIS_URL'] ? undefined : await startRedisServer();
  const redisUrl = process.env['REDIS_URL'] ?? (redis as { url: string }).url;
  try {
    const release = await releaseLatency(redisUrl);
    process.stderr.write(`(a) release latency p50 ${release.p50.toFixed(2)} ms, p99 ${release.p99.toFixed(2)} ms\n`);
    const held = await manyHeld(redisUrl);
    process.stdout.write(
      [
        '',
        `| measure | value |`,
        `|---|---|`,
        `| (a) decision on replica B → release on replica A, p50 | ${release.p50.toFixed(2)} ms |`,
        `| (a) … p99 (${approvalCount} approvals) | ${release.p99.toFixed(2)} ms |`,
        `| (b) calls held at once (of ${heldCount} sent at once) | ${held.held} |`,
        `| (b) answered before a decision | ${JSON.stringify(held.early)} |`,
        `| (b) resident memory per held call | ${(held.rssPerCall / 1024).toFixed(1)} KB |`,
        `| (b) V8 heap per held call | ${(held.heapPerCall / 1024).toFixed(1)} KB |`,
        `| (b) event-loop delay while holding, max | ${held.lagMaxMs.toFixed(1)} ms |`,
        `| (b) event-loop delay while holding, p99 (worst 1 s sample) | ${held.lagP99Ms.toFixed(1)} ms |`,
        '',
      ].join('\n'),
    );
  } finally {
    await redis?.stop();
  }
}

async function releaseLatency(redisUrl: string): Promise<{ p50: number; p99: number }> {
  const log = createLogger({ level: 'silent' });
  const prefix = `bench-approvals-${process.pid}:`;
  const audit: AuditSink = { append: async () => undefined };
  const replica = async () => {
    const redis = createRedis(redisUrl, { name: 'bench', mode: 'fail-fast', log });
    await waitForRedis(redis, 5_000);
    const approvals = new ApprovalService({ redis, redisUrl, prefix, log, audit, retryValidityMs: 60_000, runWorkers: true });
    await approvals.start();
    return { approvals, close: async () => (await approvals.close(), redis.disconnect()) };
  };
  const [a, b] = [await replica(), await replica()];
  const samples: number[] = [];
  const never = new AbortController().signal;
  try {
    for (let i = 0; i < approvalCount + 50; i++) {
      const args = { params: { job_id: i, notebook_params: { run: String(i) } } };
      const { record } = await a.approvals.hold({
        agent: 'bench',
        sessionId: 'bench',
        upstream: 'databricks',
        tool: 'run_job',
        displayArguments: args,
        argumentsHash: argumentsHash(args),
        policyVersion: 'bench',
        rule: 'tools.run_job',
        settings: { approvers: [], quorum: 1, timeoutMs: 600_000, show: [], allowSelfApproval: false },
      });
      let decidedAt = 0;
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
      };
      const waiting = runHeldCall(
        { approvals: a.approvals, answerPendingAfterMs: 60_000, progressIntervalMs: 60_000, describeChannel: () => 'bench' },
        {
          ctx,
          record,
          release: async () => {
            releasedAt = performance.now();
            return { content: [{ type: 'text', text: '{"run_id": 1}' }] };
          },
        },
      );
      await new Promise((r) => setTimeout(r, 2)); // let A subscribe, as a real held call has long done
      decidedAt = performance.now();
      await b.approvals.decide(record.id, { kind: 'admin', id: 'admin:bench', name: 'bench' }, 'approve', undefined);
      await waiting;
      if (i >= 50) samples.push(releasedAt - decidedAt); // the first 50 warm up JIT and connections
    }
  } finally {
    await a.close();
    await b.close();
  }
  samples.sort((x, y) => x - y);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function manyHeld(redisUrl: string) {
  const build = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('build failed');
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-'));
  const token = generateToken();
  const port = await freePort();
  const policy = path.join(dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ version: '1', default: 'allow', tools: { run_job: { action: 'approve', approval: { timeout: '30m' } } } }));
  const config = path.join(dir, 'airlock.config.json');
  writeFileSync(
    config,
    JSON.stringify({
      port,
      host: '127.0.0.1',
      redis: { url: redisUrl, prefix: `bench-held-${process.pid}:` },
      mcpServers: { databricks: { command: process.execPath, args: [path.join(repoRoot, 'dist/examples/databricks-mock/server.js')] } },
      agents: { bench: { tokenSha256: hashToken(token) } },
      policy,
    }),
  );
  const gateway = await startGateway(['dist/src/cli.js', 'serve', '--config', config], port);
  const metrics = async () => parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  try {
    const sessions = 100;
    const clients = await Promise.all(
      Array.from({ length: sessions }, async () => {
        const client = new Client({ name: 'bench', version: '1' });
        const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } }, fetch: fetchWithOwnSignal });
        await client.connect(transport);
        return client;
      }),
    );
    await new Promise((r) => setTimeout(r, 2_000));
    await metrics();
    const before = await metrics();
    const controller = new AbortController();
    setMaxListeners(heldCount + 10, controller.signal); // one listener per held call, on purpose
    const early = new Map<string, number>(); // calls answered before any decision: why
    // Sent in waves of 500 (20 ms apart): 10,000 connections opened in the same millisecond
    // overflow the listen backlog, which measures the kernel, not the held calls.
    const calls = Array.from({ length: heldCount }, (_, i) =>
      new Promise((r) => setTimeout(r, Math.floor(i / 500) * 20)).then(() => (clients[i % sessions] as Client)
        .callTool({ name: 'run_job', arguments: { params: { job_id: i } } }, CallToolResultSchema, {
          onprogress: () => undefined,
          resetTimeoutOnProgress: true,
          timeout: 3_600_000,
          signal: controller.signal,
        })
        .then(
          (result) => {
            if (controller.signal.aborted) return;
            const code = String((result._meta?.['airlock/error'] as { code?: string } | undefined)?.code ?? 'answered');
            early.set(code, (early.get(code) ?? 0) + 1);
          },
          (error: unknown) => {
            if (controller.signal.aborted) return;
            const why = (error as Error).message.slice(0, 80);
            early.set(why, (early.get(why) ?? 0) + 1);
          },
        )),
    );
    const deadline = Date.now() + 300_000;
    let pending = 0;
    let settledFor = 0;
    while (pending < heldCount && Date.now() < deadline && settledFor < 10) {
      await new Promise((r) => setTimeout(r, 1_000));
      const now = (await metrics())['airlock_approvals_pending'] ?? 0;
      settledFor = now === pending && now > 0 ? settledFor + 1 : 0;
      pending = now;
      const failed = [...early.values()].reduce((a, b) => a + b, 0);
      process.stderr.write(`held: ${pending}/${heldCount}, answered early: ${failed}\n`);
    }
    await metrics(); // reset the event-loop histogram: measure the waiting, not the ramp-up
    let lagMax = 0;
    let lagP99 = 0;
    let during = before;
    for (let s = 0; s < 15; s++) {
      await new Promise((r) => setTimeout(r, 1_000));
      during = await metrics();
      lagMax = Math.max(lagMax, during['airlock_nodejs_eventloop_lag_max_seconds'] ?? 0);
      lagP99 = Math.max(lagP99, during['airlock_nodejs_eventloop_lag_p99_seconds'] ?? 0);
    }
    const rss = (during['airlock_process_resident_memory_bytes'] ?? 0) - (before['airlock_process_resident_memory_bytes'] ?? 0);
    const heap = (during['airlock_nodejs_heap_size_used_bytes'] ?? 0) - (before['airlock_nodejs_heap_size_used_bytes'] ?? 0);
    controller.abort();
    await Promise.all(calls);
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    if (early.size > 0) process.stderr.write(`answered before a decision: ${JSON.stringify(Object.fromEntries(early))}\n`);
    return { held: pending, early: Object.fromEntries(early), rssPerCall: rss / pending, heapPerCall: heap / pending, lagMaxMs: lagMax * 1_000, lagP99Ms: lagP99 * 1_000 };
  } finally {
    gateway.kill('SIGKILL');
  }
}

/** Unlabelled samples of a Prometheus text page, by metric name. */
function parseMetrics(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+) ([0-9.e+-]+)$/.exec(line);
    if (match?.[1] && match[2]) out[match[1]] = Number(match[2]);
  }
  return out;
}

async function startGateway(args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(500) });
      return child;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('gateway did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

await main();
