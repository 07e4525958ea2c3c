/**
 * The audit history as every step of real calls writes it: the SDK client drives allowed, denied,
 * invalid, rate-limited, approved, approver-denied and expired calls through a real gateway, and
 * the admin API reads the events back, exports them and verifies the chain.
 */
import { writeFileSync } from 'node:fs';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../src/audit/types.js';
import { adminApi, type AdminApi } from './helpers/admin-api.js';
import { dumpPrefix, connect, parseJsonLines } from './helpers/audit.js';
import { adminToken, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio } from './helpers/upstreams.js';

const secret = 'dapi-SECRET-7f3a9c';
const policy = {
  version: '1',
  default: 'deny',
  default_reason: 'Not enabled for agents.',
  hide_denied: false,
  tools: {
    list_jobs: { action: 'allow' },
    list_clusters: { action: 'allow', limits: [{ counter: 'cluster_reads', window: 'hour', max: 1, scope: 'grant' }] },
    get_cluster: { action: 'allow', constraints: { 'params.cluster_id': { regex: '^0101-' } } },
    run_job: {
      action: 'approve',
      reason: 'Runs start compute.',
      approval: { timeout: '30s', show: ['params.job_id'], redact: ['params.notebook_params.api_key'] },
    },
  },
};

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(options: { prefix?: string; policy?: unknown } = {}): Promise<TestGateway> {
  const gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog: createCallLog() }) },
    policy: options.policy ?? policy,
    config: { approvals: { progressInterval: '300ms' } },
    ...(options.prefix ? { prefix: options.prefix } : {}),
  });
  gateways.push(gw);
  return gw;
}

async function events(api: AdminApi, query = ''): Promise<AuditEvent[]> {
  const res = await api.get<{ events: AuditEvent[] }>(`/audit?limit=500${query}`);
  expect(res.status).toBe(200);
  return res.body.events.reverse(); // the API answers newest first; the story reads oldest first
}

const runJob = (jobId: number) => ({ name: 'run_job', arguments: { params: { job_id: jobId, notebook_params: { env: 'prod', api_key: secret } } } });

describe('the audit history of real calls', () => {
  it('records every step with who, what, which rule and how it ended, in order', async () => {
    const gw = await gateway();
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const wait = { onprogress: () => undefined, resetTimeoutOnProgress: true, timeout: 20_000 };

    await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
    await client.callTool({ name: 'terminate_cluster', arguments: { params: { cluster_id: 'x' } } });
    await client.callTool({ name: 'get_cluster', arguments: { params: { cluster_id: 'nope' } } });
    await client.callTool({ name: 'list_clusters', arguments: { params: {} } });
    await client.callTool({ name: 'list_clusters', arguments: { params: {} } });

    const approved = client.callTool(runJob(101), CallToolResultSchema, wait);
    const [first] = await api.waitForPending();
    await api.approve(first?.id ?? '', 'alice');
    await approved;
    const denied = client.callTool(runJob(102), CallToolResultSchema, wait);
    const [second] = await api.waitForPending();
    await api.deny(second?.id ?? '', 'not on a Friday', 'bob');
    await denied;

    const all = await events(api);
    const calls = all.filter((e) => e.type !== 'policy_loaded');
    expect(calls.map((e) => e.type)).toEqual([
      'allowed',
      'denied',
      'invalid_arguments',
      'allowed',
      'rate_limited',
      'approval_requested',
      'approved',
      'executed',
      'approval_requested',
      'approval_denied',
    ]);
    expect(all.find((e) => e.type === 'policy_loaded')).toMatchObject({ policyVersion: expect.any(String), actor: { kind: 'system' } });
    for (const e of calls) {
      expect(e).toMatchObject({
        agent: 'agent-a',
        upstream: 'databricks',
        session: expect.any(String),
        policyVersion: expect.any(String),
        rule: expect.any(String),
        argumentsHash: expect.stringMatching(/^hmac-sha256:[0-9a-f]{64}$/),
      });
    }
    expect(calls[0]).toMatchObject({ tool: 'list_jobs', outcome: 'success', latency: { totalMs: expect.any(Number) } });
    expect(calls[1]).toMatchObject({ tool: 'terminate_cluster', rule: 'default', reason: 'Not enabled for agents.' });
    expect(calls[2]?.details?.['violations']).toEqual([expect.objectContaining({ path: 'params.cluster_id' })]);
    expect(calls[4]).toMatchObject({ tool: 'list_clusters', details: expect.objectContaining({ counter: 'cluster_reads', max: 1 }) });
    expect(calls[6]).toMatchObject({ approvalId: first?.id, actor: { kind: 'admin', id: 'admin:alice' }, latency: { decisionMs: expect.any(Number) } });
    expect(calls[7]).toMatchObject({
      approvalId: first?.id,
      outcome: 'success',
      latency: { upstreamMs: expect.any(Number), heldMs: expect.any(Number) },
      details: { summary: expect.stringMatching(/^run_id \d+/) },
    });
    expect(calls[9]).toMatchObject({ approvalId: second?.id, actor: { id: 'admin:bob' }, reason: 'not on a Friday' });

    const story = await api.get<{ events: AuditEvent[] }>(`/audit/approvals/${first?.id}`);
    expect(story.body.events.map((e) => e.type)).toEqual(['approval_requested', 'approved', 'executed']);
    expect((await api.get<{ ok: boolean }>('/audit/verify')).body).toMatchObject({ ok: true });
  });

  it('records an expired hold, and filters by type and agent', async () => {
    const gw = await gateway({ policy: { ...policy, tools: { run_job: { action: 'approve', approval: { timeout: '1s' } } } } });
    const api = adminApi(gw.baseUrl);
    await (await gw.connect('agent-b')).callTool(runJob(103), CallToolResultSchema, { onprogress: () => undefined, resetTimeoutOnProgress: true });
    const expired = await events(api, '&type=expired');
    expect(expired).toHaveLength(1);
    expect(expired[0]).toMatchObject({ agent: 'agent-b', tool: 'run_job', actor: { kind: 'system' }, latency: { heldMs: expect.any(Number) } });
    expect(await events(api, '&agent=agent-a')).toHaveLength(0);
  });

  it('never writes a redacted argument to Redis nor to an export', async () => {
    const gw = await gateway();
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const held = client.callTool(runJob(101), CallToolResultSchema, { onprogress: () => undefined, resetTimeoutOnProgress: true });
    const [pending] = await api.waitForPending();
    expect(JSON.stringify(pending)).not.toContain(secret);
    await api.approve(pending?.id ?? '');
    await held;

    const redis = await connect();
    try {
      const stored = await dumpPrefix(redis, gw.prefix);
      expect(stored).toContain('[redacted]');
      expect(stored).not.toContain(secret);
    } finally {
      redis.disconnect();
    }
    for (const format of ['jsonl', 'csv']) {
      const res = await fetch(`${gw.baseUrl}/api/audit/export?format=${format}`, { headers: { authorization: `Bearer ${adminToken}` } });
      const text = await res.text();
      expect(text).toContain('run_job');
      expect(text).not.toContain(secret);
    }
  });

  it('keeps one valid chain while two gateway replicas write at once, and audits policy reloads', async () => {
    const a = await gateway();
    const b = await gateway({ prefix: a.prefix });
    const clients = await Promise.all([a.connect('agent-a'), b.connect('agent-b')]);
    await Promise.all(Array.from({ length: 60 }, (_, i) => clients[i % 2]!.callTool({ name: 'list_jobs', arguments: { params: {} } })));

    writeFileSync(a.policyFile, JSON.stringify({ ...policy, tools: { list_jobs: { action: 'sometimes' } } }));
    await adminApi(a.baseUrl).post('/policy/reload');

    const api = adminApi(b.baseUrl);
    const verify = await api.get<{ ok: boolean; events: number }>('/audit/verify');
    expect(verify.body).toMatchObject({ ok: true });
    const res = await fetch(`${b.baseUrl}/api/audit/export?format=jsonl`, { headers: { authorization: `Bearer ${adminToken}` } });
    const exported = parseJsonLines(await res.text());
    expect(exported.filter((e) => e.type === 'allowed')).toHaveLength(60);
    expect(new Set(exported.map((e) => e.seq)).size).toBe(exported.length);
    const rejected = exported.find((e) => e.type === 'policy_rejected');
    expect(rejected?.reason).toMatch(/\$\.tools\.list_jobs\.action/);
  });
});
