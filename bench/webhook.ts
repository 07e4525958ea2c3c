/**
 * bench:webhook — how long a signed webhook decision takes to release a held call (the same
 * method as bench:slack).
 *
 * Two approval-service replicas share one Redis: replica A holds run_job calls and waits for their
 * outcome (that is when the gateway would send the call upstream); replica B serves
 * `POST /webhooks/decisions` on a real HTTP port, like the gateway a receiver's request happens to
 * reach. For each call: hold on A, then post a signed approve decision to B and measure (1) the
 * HTTP answer the receiver gets (after the signature, replay and approver checks and the recorded
 * decision) and (2) the time until replica A sees the approval. Sequential, after a warm-up.
 *
 *   npx tsx bench/webhook.ts [--calls 200]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createApp } from '../src/http/app.js';
import { createLogger } from '../src/log.js';
import { redisOnceStore } from '../src/state/once-store.js';
import { decisionRouter } from '../src/webhook/decision-router.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { numberedRunJobHold, startApprovalReplica } from '../test/helpers/replicas.js';
import { signedDecision } from '../test/helpers/webhook-receiver.js';
import { percentile } from './load.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '200' }, warmup: { type: 'string', default: '20' } } });
const calls = Number(values.calls);
const warmup = Number(values.warmup);
const keySecret = 'bench-webhook-key-secret-0123456789';

const hold = (i: number) => numberedRunJobHold(i, 200_000);

async function main(): Promise<void> {
  const redisServer = process.env['REDIS_URL'] ? undefined : await startRedisServer();
  const redisUrl = process.env['REDIS_URL'] ?? (redisServer as { url: string }).url; // one of the two is set
  const prefix = `bench-webhook-${process.pid}:`;
  const [holder, deciding] = [await startApprovalReplica(redisUrl, prefix), await startApprovalReplica(redisUrl, prefix)];
  const router = decisionRouter({
    approvals: deciding.approvals,
    keys: new Map([['bench', { secret: keySecret, identity: 'U0BENCH', name: 'bench' }]]),
    once: redisOnceStore(deciding.redis, `${prefix}once:`),
    replayWindowMs: 300_000,
    log: createLogger({ level: 'silent' }),
    now: Date.now,
  });
  const server = createServer(createApp({ root: [], mounted: [{ path: '/webhooks', router }] }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/decisions`; // TCP listener

  const answerMs: number[] = [];
  const releaseMs: number[] = [];
  const never = new AbortController().signal;
  try {
    for (let i = 0; i < warmup + calls; i += 1) {
      const { record } = await holder.approvals.hold(hold(i));
      const outcome = holder.approvals.waitForOutcome(record.id, 10_000, never);
      const request = signedDecision('bench', keySecret, { approvalId: record.id, verdict: 'approve' });
      const t0 = performance.now();
      const response = await fetch(url, { method: 'POST', headers: request.headers, body: request.body });
      const answered = performance.now();
      await response.arrayBuffer();
      const final = await outcome;
      const released = performance.now();
      if (response.status !== 200 || final.status !== 'approved') throw new Error(`decision ${i}: HTTP ${response.status}, approval ${final.status}`);
      if (i < warmup) continue;
      answerMs.push(answered - t0);
      releaseMs.push(released - t0);
    }
  } finally {
    server.close();
    await Promise.all([holder.close(), deciding.close()]);
    await redisServer?.stop();
  }
  const row = (name: string, samples: number[]) => {
    const sorted = [...samples].sort((a, b) => a - b);
    const f = (ms: number) => ms.toFixed(2);
    return `| ${name} | ${f(percentile(sorted, 50))} | ${f(percentile(sorted, 99))} | ${f(sorted.at(-1) ?? Number.NaN)} |`;
  };
  const lines = [
    '| measure | p50 ms | p99 ms | max ms |',
    '|---|---|---|---|',
    row('answer: signed decision → HTTP 200 to the receiver (decision recorded)', answerMs),
    row('release: signed decision → holding replica sees "approved"', releaseMs),
  ];
  process.stdout.write(`\n${lines.join('\n')}\n\n(${answerMs.length} approvals, sequential, after ${warmup} warm-up; two replicas on one local Redis)\n`);
}

await main();
