/**
 * Slack pacing across replicas: three gateways on one Redis, each with the Slack channel pointed at
 * the fake Slack Web API, hold a burst of calls between them. The posting slots in Redis keep the
 * channel at one message per `slack.postInterval` for the whole deployment, not per replica.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { startFakeSlack, type FakeSlack } from './helpers/fake-slack.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { databricksMockStdio } from './helpers/upstreams.js';

const postIntervalMs = 300;
const policy = {
  version: '1',
  default: 'allow',
  tools: { run_job: { action: 'approve', approval: { approvers: ['U0APPROVER1'], channel: 'C0DATAAPPROVALS', timeout: '5m' } } },
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function replicas(count: number, slack: FakeSlack): Promise<TestGateway[]> {
  const prefix = `test-${randomUUID()}:`;
  const started: TestGateway[] = [];
  for (let i = 0; i < count; i++) {
    const gw = await startTestGateway({
      prefix,
      mcpServers: { databricks: databricksMockStdio() },
      policy,
      config: { slack: { postInterval: `${postIntervalMs}ms` }, approvals: { answerPendingAfter: '200ms' } },
      env: { SLACK_BOT_TOKEN: 'xoxb-replicas-test', SLACK_SIGNING_SECRET: 'replicas-signing-secret', SLACK_API_URL: slack.url },
    });
    cleanups.push(() => gw.close());
    started.push(gw);
  }
  return started;
}

describe('Slack pacing across replicas', () => {
  it('posts a burst of 20 calls held on three replicas to one channel no faster than one per postInterval, each once, none lost', async () => {
    const slack = await startFakeSlack();
    cleanups.push(() => slack.close());
    const gateways = await replicas(3, slack);
    const clients = await Promise.all(gateways.map((gw) => gw.connect('agent-a')));

    const answers = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => clients[i % 3]?.callTool({ name: 'run_job', arguments: { params: { job_id: 5_000 + i } } }) as Promise<CallToolResult>,
      ),
    );
    const approvalIds = answers.map((a) => (a._meta?.['airlock/error'] as { approvalId?: string } | undefined)?.approvalId);
    expect(approvalIds.every((id) => typeof id === 'string')).toBe(true);

    const posts = await slack.waitFor('chat.postMessage', 20, 60_000);
    await new Promise((r) => setTimeout(r, 2 * postIntervalMs));
    const toChannel = slack.calls('chat.postMessage').filter((c) => c.args['channel'] === 'C0DATAAPPROVALS');
    expect(toChannel).toHaveLength(20);
    const postedIds = posts.map((p) => approvalIds.find((id) => id !== undefined && JSON.stringify(p.args['blocks']).includes(id)));
    expect(new Set(postedIds).size).toBe(20);

    // Three replicas each on its own pace would post three at a time. One shared sequence spaces
    // them: 19 gaps of at least postInterval (less what a request's own jitter can take off one gap).
    const at = toChannel.map((c) => c.at);
    const gaps = at.slice(1).map((t, i) => t - (at[i] ?? t));
    expect(Math.min(...gaps)).toBeGreaterThan(postIntervalMs / 3);
    expect((at[19] ?? 0) - (at[0] ?? 0)).toBeGreaterThanOrEqual(19 * postIntervalMs * 0.9);
  }, 90_000);

  it('posts calls held one after another on different replicas in the order they were held, not replica by replica', async () => {
    const slack = await startFakeSlack();
    cleanups.push(() => slack.close());
    const gateways = await replicas(3, slack);
    const clients = await Promise.all(gateways.map((gw) => gw.connect('agent-a')));

    // Four calls on replica 1, then four on 2, then four on 3, each held before the next is made:
    // a pace per replica would post 1, 2, 3, 1, 2, 3 …; the shared sequence keeps the held order.
    // Each is held (listed pending) before the next is made: tens of ms apart, well inside postInterval.
    const api = adminApi(gateways[0]?.baseUrl ?? '');
    const calls: Array<Promise<CallToolResult>> = [];
    for (let i = 0; i < 12; i++) {
      calls.push(clients[Math.floor(i / 4)]?.callTool({ name: 'run_job', arguments: { params: { job_id: 6_000 + i } } }) as Promise<CallToolResult>);
      await api.waitForPending(i + 1, 10_000);
    }
    const approvalIds = (await Promise.all(calls)).map((a) => (a._meta?.['airlock/error'] as { approvalId?: string } | undefined)?.approvalId ?? '');
    const posts = await slack.waitFor('chat.postMessage', 12, 60_000);
    const postedIds = posts.map((p) => approvalIds.find((id) => id !== '' && JSON.stringify(p.args['blocks']).includes(id)));
    expect(postedIds).toEqual(approvalIds);
  }, 90_000);
});
