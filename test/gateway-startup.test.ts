/**
 * How the gateway behaves around its start: Redis down at start (it serves, refuses held calls in
 * its own words, and writes the startup audit event once Redis answers), an upstream that cannot
 * start as configured (a configuration problem, not "retry in a few seconds"), and a policy that
 * names no approvers (anyone signed in may decide).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { authorizeDecision } from '../src/approvals/authorize.js';
import { parsePolicy } from '../src/policy/load.js';
import { evaluate } from '../src/policy/evaluate.js';
import { anyApprover } from '../src/policy/types.js';
import { openTestStore } from './helpers/audit.js';
import { startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { startRedisServer, type RedisServerHandle } from './helpers/redis-server.js';
import { databricksMockStdio, repoRoot } from './helpers/upstreams.js';
import { runJobHold } from './helpers/replicas.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const holdRunJob = { version: '1', default: 'allow', tools: { run_job: { action: 'approve', approval: { approvers: ['U0APPROVER1'] } } } };
const runJob = { name: 'run_job', arguments: { params: { job_id: 7, notebook_params: {} } } };

async function gatewayOn(redis: RedisServerHandle, mcpServers: Record<string, unknown> = { databricks: databricksMockStdio() }): Promise<TestGateway> {
  const gw = await startTestGateway({ redisUrl: redis.url, mcpServers, policy: holdRunJob });
  cleanups.push(() => gw.close());
  return gw;
}

describe('a gateway whose Redis is down at start', () => {
  it('serves at once, refuses a held call in its own words, and writes the startup policy_loaded event once Redis answers', async () => {
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    await redis.stop();
    const gw = await gatewayOn(redis);
    expect((await fetch(`${gw.baseUrl}/healthz`)).status).toBe(200);

    const client = await gw.connect('agent-a');
    const refused = await client.callTool(runJob);
    expect(refused.isError).toBe(true);
    expect(refused._meta?.['airlock/error']).toMatchObject({ code: 'state_store_unavailable' });
    expect(textOf(refused)).toMatch(
      /^Airlock cannot reach its state store \(Redis\) right now, so this call cannot be checked or held; nothing was forwarded\./,
    );
    expect(textOf(refused)).not.toMatch(/Stream isn't writeable|enableOfflineQueue|ECONNREFUSED|ioredis/);

    await redis.restart();
    const audit = await openTestStore(gw.prefix, {}, redis.url);
    cleanups.push(() => audit.close());
    const deadline = Date.now() + 15_000;
    let loaded = (await audit.store.query({ type: ['policy_loaded'] })).events;
    while (loaded.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      loaded = (await audit.store.query({ type: ['policy_loaded'] })).events;
    }
    expect(loaded).toHaveLength(1);
    expect(loaded[0]).toMatchObject({ type: 'policy_loaded', actor: { kind: 'system', id: 'airlock' } });
    // And held calls work again without a restart.
    const ready = await fetch(`${gw.baseUrl}/readyz`);
    expect(await ready.json()).toMatchObject({ redis: 'ok' });
  });
});

describe('an upstream that cannot start as configured', () => {
  it('is reported to the agent as a configuration problem naming the upstream and the reason, with no retry hint', async () => {
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const missingScript = `${repoRoot}/examples/no-such-server.js`;
    const gw = await gatewayOn(redis, { databricks: { command: process.execPath, args: [missingScript] } });
    const client = await gw.connect('agent-a');
    expect((await client.listTools()).tools).toEqual([]);
    const result = await client.callTool(runJob);
    expect(result.isError).toBe(true);
    const meta = result._meta?.['airlock/error'] as Record<string, unknown>;
    expect(meta).toMatchObject({ code: 'upstream_misconfigured', upstream: 'databricks' });
    expect(meta['retryAfterSec']).toBeUndefined();
    const text = textOf(result);
    expect(text).toMatch(/upstream "databricks" cannot start because ".*no-such-server\.js" exited during start-up; it said: .*Cannot find module/);
    expect(text).toMatch(/configuration problem on the Airlock side \(mcpServers\.databricks/);
    expect(text).not.toMatch(/retry in a few seconds/i);
    const ready = (await (await fetch(`${gw.baseUrl}/readyz`)).json()) as { notReady: string[] };
    expect(ready.notReady.join('\n')).toMatch(/upstream databricks: disconnected \(.*exited during start-up/);
  });

  it('is told apart from a command that does not exist at all', async () => {
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const gw = await gatewayOn(redis, { databricks: { command: 'airlock-no-such-command' } });
    const client = await gw.connect('agent-a');
    const result = await client.callTool(runJob);
    expect(result._meta?.['airlock/error']).toMatchObject({ code: 'upstream_misconfigured' });
    expect(textOf(result)).toMatch(/the command "airlock-no-such-command" was not found \(ENOENT/);
  });
});

describe('a policy that names no approvers', () => {
  it('lets any signed-in approver decide, while an empty list still means admins only', async () => {
    const open = parsePolicy({ version: '1', default: 'approve' });
    const adminsOnly = parsePolicy({ version: '1', default: 'approve', approval: { approvers: [] } });
    if (!open.ok || !adminsOnly.ok) throw new Error('policies should load');
    const openSettings = evaluate(open.policy, 'agent-a', 'run_job', {});
    const closedSettings = evaluate(adminsOnly.policy, 'agent-a', 'run_job', {});
    if (openSettings.kind !== 'approve' || closedSettings.kind !== 'approve') throw new Error('both hold');
    expect(openSettings.approval.approvers).toEqual([anyApprover]);
    const record = (approvers: string[]) => ({
      ...runJobHold({ settings: { approvers } }),
      id: 'apr_1',
      createdAt: 0,
      expiresAt: 1,
      status: 'pending' as const,
      votes: [],
      decidedBy: undefined,
      decidedAt: undefined,
      reason: undefined,
      execution: undefined,
      channelRefs: {},
      attempt: 1,
      claim: undefined,
      unknownAt: undefined,
      edit: undefined,
      reminded: [],
      escalated: [],
    });
    const someone = { kind: 'dashboard' as const, id: 'dashboard:bob', name: 'bob' };
    expect(await authorizeDecision(someone, record(openSettings.approval.approvers), 'approve', undefined)).toEqual({ allowed: true });
    expect(await authorizeDecision(someone, record(closedSettings.approval.approvers), 'approve', undefined)).toMatchObject({ allowed: false });
    // The agent's owner is still barred from approving its own agent's call.
    const owned = { ...record(openSettings.approval.approvers), owner: 'U0OWNER' };
    expect(await authorizeDecision({ kind: 'slack', id: 'U0OWNER' }, owned, 'approve', undefined)).toMatchObject({ allowed: false });
  });
});
