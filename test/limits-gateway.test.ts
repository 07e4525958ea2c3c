/**
 * Rate limits through real gateways on real Redis, checked before anything is forwarded or held:
 * the Databricks mock's call log counts what got through, the approvals API and a fake Slack
 * count what was queued and posted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { startFakeSlack, type FakeSlack } from './helpers/fake-slack.js';
import { startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { startRedisServer, type RedisServerHandle } from './helpers/redis-server.js';
import { createCallLog, databricksMockStdio, type CallLog } from './helpers/upstreams.js';

const policyLayerExample = {
  version: '1',
  default: 'deny',
  tools: { run_job: { limits: [{ counter: 'run_job_rate', window: 'minute', max: 10, scope: 'grant' }] } },
};
const runJob = (jobId: number) => ({ name: 'run_job', arguments: { params: { job_id: jobId } } });
const runJobCalls = (log: CallLog) => log.calls().filter((c) => c.tool === 'run_job').length;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gateway(callLog: CallLog, policy: unknown, extra: Partial<Parameters<typeof startTestGateway>[0]> = {}): Promise<TestGateway> {
  const gw = await startTestGateway({ mcpServers: { databricks: databricksMockStdio({ callLog }) }, policy, ...extra });
  cleanups.push(() => gw.close());
  return gw;
}

describe('rate limits at the gateway', () => {
  it('admits exactly 10 of 15 concurrent run_job calls under the PolicyLayer example, and gives a second agent its own 10', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog, policyLayerExample);
    const [a, b] = await Promise.all([gw.connect('agent-a'), gw.connect('agent-b')]);
    const results = await Promise.all(Array.from({ length: 15 }, (_, i) => a.callTool(runJob(101 + (i % 3)))));
    const refused = results.filter((r) => r.isError);
    expect(runJobCalls(callLog)).toBe(10);
    expect(refused).toHaveLength(5);
    for (const r of refused) {
      expect(r._meta?.['airlock/error']).toMatchObject({
        code: 'rate_limited',
        counter: 'run_job_rate',
        max: 10,
        windowSec: 60,
        scope: 'grant',
        retryAfterSec: expect.any(Number),
      });
      expect(textOf(r)).toMatch(/Rate limit "run_job_rate" reached: at most 10 calls per 1 min per agent.*Retry in \d+ s/);
    }
    const other = await Promise.all(Array.from({ length: 10 }, () => b.callTool(runJob(101))));
    expect(other.every((r) => !r.isError)).toBe(true);
    expect(runJobCalls(callLog)).toBe(20);
  });

  it('admits exactly max across two gateway replicas sharing one Redis', async () => {
    const callLog = createCallLog();
    const policy = { version: '1', default: 'allow', tools: { list_jobs: { limits: [{ counter: 'shared', window: 'hour', max: 50, scope: 'global' }] } } };
    const a = await gateway(callLog, policy);
    const b = await gateway(callLog, policy, { prefix: a.prefix });
    const clients = await Promise.all([a.connect('agent-a'), a.connect('agent-b'), b.connect('agent-a'), b.connect('agent-b')]);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => clients[i % 4]!.callTool({ name: 'list_jobs', arguments: { params: {} } })));
    expect(results.filter((r) => r && !r.isError)).toHaveLength(50);
    expect(callLog.calls().filter((c) => c.tool === 'list_jobs')).toHaveLength(50);
  });

  it('refuses a held tool over its limit at once: no approval is queued and nothing reaches Slack', async () => {
    const slack: FakeSlack = await startFakeSlack();
    cleanups.push(() => slack.close());
    const callLog = createCallLog();
    const policy = {
      version: '1',
      default: 'allow',
      tools: {
        run_job: {
          action: 'approve',
          limits: [{ counter: 'held_runs', window: 'hour', max: 1, scope: 'grant' }],
          approval: { channel: 'C0APPROVALS', timeout: '10m' },
        },
      },
    };
    const gw = await gateway(callLog, policy, {
      env: { SLACK_BOT_TOKEN: 'xoxb-test', SLACK_SIGNING_SECRET: 'test-secret', SLACK_API_URL: slack.url },
      config: { approvals: { answerPendingAfter: '300ms' } },
    });
    const client = await gw.connect('agent-a');
    const first = await client.callTool(runJob(101));
    expect(first._meta?.['airlock/error']).toMatchObject({ code: 'approval_pending' });
    await slack.waitFor('chat.postMessage', 1);

    const second = await client.callTool(runJob(102));
    expect(second._meta?.['airlock/error']).toMatchObject({ code: 'rate_limited', counter: 'held_runs' });
    // The identical call again attaches to its approval and is not counted again (nor is another
    // replica's re-dispatch of it after a session takeover, which takes the same path).
    const again = await client.callTool(runJob(101));
    expect(again._meta?.['airlock/error']).toMatchObject({
      code: 'approval_pending',
      approvalId: (first._meta?.['airlock/error'] as { approvalId?: string }).approvalId,
    });
    expect(await adminApi(gw.baseUrl).approvals()).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(slack.calls('chat.postMessage')).toHaveLength(1);
    expect(runJobCalls(callLog)).toBe(0);
  });

  it('admits again once the window has rolled over', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog, {
      version: '1',
      default: 'allow',
      tools: { list_jobs: { limits: [{ counter: 'burst', window: 1, max: 2, scope: 'session' }] } },
    });
    const client = await gw.connect('agent-a');
    const call = () => client.callTool({ name: 'list_jobs', arguments: { params: {} } });
    expect((await call()).isError).toBeFalsy();
    expect((await call()).isError).toBeFalsy();
    const refused = await call();
    expect(refused._meta?.['airlock/error']).toMatchObject({ code: 'rate_limited', retryAfterSec: 1 });
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await call()).isError).toBeFalsy();
  });
});

describe('when Redis goes away', () => {
  let redis: RedisServerHandle;

  it('refuses limited calls with "state store unavailable", serves unlimited ones, and recovers without a restart', async () => {
    redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const callLog = createCallLog();
    const policy = {
      version: '1',
      default: 'allow',
      tools: {
        run_job: { limits: [{ counter: 'runs', window: 'minute', max: 100, scope: 'grant' }] },
        list_clusters: { limits: [{ counter: 'reads', window: 'minute', max: 100, scope: 'grant' }], on_state_error: 'open' },
      },
    };
    const gw = await gateway(callLog, policy, { redisUrl: redis.url });
    const client = await gw.connect('agent-a');
    expect((await client.callTool(runJob(101))).isError).toBeFalsy();

    await redis.stop();
    const refused = await client.callTool(runJob(101));
    expect(refused.isError).toBe(true);
    expect(refused._meta?.['airlock/error']).toMatchObject({ code: 'state_store_unavailable', retryAfterSec: expect.any(Number) });
    expect(textOf(refused)).toMatch(/cannot reach its state store \(Redis\) right now.*nothing was forwarded/);
    // Our own words only: nothing of the Redis client's internals reaches the agent.
    expect(textOf(refused)).not.toMatch(/Stream isn't writeable|enableOfflineQueue|ECONNREFUSED|Connection is closed/);
    expect(runJobCalls(callLog)).toBe(1);
    // Tools without limits, and a tool whose policy chose fail-open, still work.
    expect((await client.callTool({ name: 'list_jobs', arguments: { params: {} } })).isError).toBeFalsy();
    expect((await client.callTool({ name: 'list_clusters', arguments: { params: {} } })).isError).toBeFalsy();

    await redis.restart();
    const deadline = Date.now() + 15_000;
    let back = await client.callTool(runJob(101));
    while (back.isError && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      back = await client.callTool(runJob(101));
    }
    expect(back.isError).toBeFalsy();
    expect(runJobCalls(callLog)).toBe(2);
  });
});
