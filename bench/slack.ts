/**
 * bench:slack — how long a Slack approval click takes to release a held call.
 *
 * Two approval-service replicas share one Redis: replica A holds run_job calls and waits for their
 * outcome (that is when the gateway would send the call upstream); replica B serves the Slack
 * router on a real HTTP port, like the gateway that Slack's request happens to reach. For each
 * call: hold on A, wait for its message at the fake Slack API, then post a signed Approve click to
 * B and measure (1) the ack — the HTTP response Slack gets — and (2) the time until replica A sees
 * the approval. Sequential, after a warm-up.
 *
 *   npx tsx bench/slack.ts [--calls 200]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { attachSlack, blockActionsPayload, interactionBody, signSlackRequest, startFakeSlack } from '../test/helpers/fake-slack.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { numberedRunJobHold, startApprovalReplica } from '../test/helpers/replicas.js';
import { percentile } from './load.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '200' }, warmup: { type: 'string', default: '20' } } });
const calls = Number(values.calls);
const warmup = Number(values.warmup);

const hold = (i: number) => numberedRunJobHold(i, 100_000);

async function main(): Promise<void> {
  const redisServer = process.env['REDIS_URL'] ? undefined : await startRedisServer();
  const redisUrl = process.env['REDIS_URL'] ?? (redisServer as { url: string }).url; // one of the two is set
  const prefix = `bench-slack-${process.pid}:`;
  const fake = await startFakeSlack();
  const [holder, slackSide] = [await startApprovalReplica(redisUrl, prefix), await startApprovalReplica(redisUrl, prefix)];
  const slack = await attachSlack(slackSide.approvals, fake, { postIntervalMs: 0 });
  const server = createServer(slack.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const eventsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`; // TCP listener

  const ackMs: number[] = [];
  const releaseMs: number[] = [];
  const never = new AbortController().signal;
  try {
    for (let i = 0; i < warmup + calls; i += 1) {
      const { record } = await holder.approvals.hold(hold(i));
      await fake.waitFor('chat.postMessage', i + 1);
      const outcome = holder.approvals.waitForOutcome(record.id, 10_000, never);
      const body = interactionBody(blockActionsPayload({ action: 'airlock_approve', approvalId: record.id, user: 'U0BENCH' }));
      const t0 = performance.now();
      const response = await fetch(eventsUrl, {
        method: 'POST',
        headers: { ...signSlackRequest(body, slack.secret), 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      const acked = performance.now();
      await response.arrayBuffer();
      const final = await outcome;
      const released = performance.now();
      if (response.status !== 200 || final.status !== 'approved') throw new Error(`click ${i}: HTTP ${response.status}, approval ${final.status}`);
      if (i < warmup) continue;
      ackMs.push(acked - t0);
      releaseMs.push(released - t0);
    }
  } finally {
    server.close();
    await Promise.all([holder.close(), slackSide.close()]);
    await fake.close();
    await redisServer?.stop();
  }
  report(ackMs, releaseMs);
}

function report(ackMs: number[], releaseMs: number[]): void {
  const row = (name: string, samples: number[]) => {
    const sorted = [...samples].sort((a, b) => a - b);
    const f = (ms: number) => ms.toFixed(2);
    return `| ${name} | ${f(percentile(sorted, 50))} | ${f(percentile(sorted, 99))} | ${f(sorted.at(-1) ?? Number.NaN)} |`;
  };
  const lines = [
    '| measure | p50 ms | p99 ms | max ms |',
    '|---|---|---|---|',
    row('ack: signed click → HTTP 200 to Slack', ackMs),
    row('release: signed click → holding replica sees "approved"', releaseMs),
  ];
  process.stdout.write(
    `\n${lines.join('\n')}\n\n(${ackMs.length} approvals, sequential, after ${warmup} warm-up; two replicas on one local Redis; fake Slack Web API)\n`,
  );
}

await main();
