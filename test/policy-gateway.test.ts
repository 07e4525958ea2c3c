/**
 * The policy in the path of every tools/list and tools/call, through a real gateway with the SDK
 * client and the Databricks mock, whose call log proves what reached the upstream.
 */
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio, type CallLog } from './helpers/upstreams.js';

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(callLog: CallLog, policy: unknown): Promise<TestGateway> {
  const gw = await startTestGateway({ mcpServers: { databricks: databricksMockStdio({ callLog }) }, policy });
  gateways.push(gw);
  return gw;
}

const readOnly = {
  version: '1',
  default: 'deny',
  default_reason: 'Only read-only tools are enabled for agents.',
  tools: {
    'list_*': { action: 'allow' },
    get_cluster: { action: 'allow' },
    run_job: { action: 'allow', constraints: { 'params.job_id': { in: [101, 102] } } },
    terminate_cluster: { action: 'deny', reason: 'Clusters are shared; terminating one stops everyone’s work.' },
  },
};

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the policy at the gateway', () => {
  it('hides tools the agent can never call from tools/list, and lists them with hide_denied false', async () => {
    const hidden = await (await gateway(createCallLog(), readOnly)).connect('agent-a');
    const names = (await hidden.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(['get_cluster', 'list_clusters', 'list_files', 'list_jobs', 'list_notebooks', 'run_job']);

    const shown = await (await gateway(createCallLog(), { ...readOnly, hide_denied: false })).connect('agent-a');
    expect((await shown.listTools()).tools).toHaveLength(11);
  });

  it('answers a denied call with the rule and the reason, and it never reaches the upstream', async () => {
    const callLog = createCallLog();
    const client = await (await gateway(callLog, { ...readOnly, hide_denied: false })).connect('agent-a');
    const result = await client.callTool({ name: 'terminate_cluster', arguments: { params: { cluster_id: '0101-120000-abcd1234' } } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/Blocked by Airlock policy \(rule tools\.terminate_cluster\): Clusters are shared/);
    expect(result._meta?.['airlock/error']).toMatchObject({ code: 'policy_denied', rule: 'tools.terminate_cluster' });
    const byDefault = await client.callTool({ name: 'execute_sql', arguments: { params: { statement: 'SELECT 1' } } });
    expect(textOf(byDefault)).toContain('Only read-only tools are enabled for agents.');
    expect(callLog.calls()).toHaveLength(0);
  });

  it('rejects a call that breaks a constraint with the path, the rule and the value, before anything runs', async () => {
    const callLog = createCallLog();
    const client = await (await gateway(callLog, readOnly)).connect('agent-a');
    const result = await client.callTool({ name: 'run_job', arguments: { params: { job_id: 999 } } });
    expect(result.isError).toBe(true);
    expect(result._meta?.['airlock/error']).toMatchObject({ code: 'invalid_arguments' });
    expect(textOf(result)).toMatch(/params\.job_id: .*999.*in \[101, ?102\]/);
    expect(callLog.calls()).toHaveLength(0);
    const allowed = await client.callTool({ name: 'run_job', arguments: { params: { job_id: 101 } } });
    expect(JSON.parse(textOf(allowed))).toHaveProperty('run_id');
    expect(callLog.calls()).toHaveLength(1);
  });

  it('rejects arguments the upstream’s own inputSchema refuses, so no approver is ever asked about them', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog, { version: '1', default: 'allow', tools: { run_job: { action: 'approve' } } });
    const client = await gw.connect('agent-a');
    const result = await client.callTool({ name: 'run_job', arguments: { job_id: 123 } });
    expect(result.isError).toBe(true);
    expect(result._meta?.['airlock/error']).toMatchObject({ code: 'invalid_arguments' });
    expect(textOf(result)).toMatch(/params/);
    expect(await adminApi(gw.baseUrl).approvals()).toHaveLength(0);
    expect(callLog.calls()).toHaveLength(0);
  });

  it('swaps in a changed policy file, and keeps the last good one when the next file is broken', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog, readOnly);
    const client = await gw.connect('agent-a');
    const sql = { name: 'execute_sql', arguments: { params: { statement: 'SELECT 1', warehouse_id: 'wh-1' } } };
    expect((await client.callTool(sql)).isError).toBe(true);

    writeFileSync(gw.policyFile, JSON.stringify({ ...readOnly, tools: { ...readOnly.tools, execute_sql: { action: 'allow' } } }));
    await until(async () => !(await client.callTool(sql)).isError);

    writeFileSync(gw.policyFile, JSON.stringify({ ...readOnly, tools: { execute_sql: { action: 'maybe' } } }));
    const reload = await adminApi(gw.baseUrl).post<{ reloaded: boolean; files: Array<{ status: string; problems: Array<{ path: string; message: string }> }> }>(
      '/policy/reload',
    );
    expect(reload.status).toBe(422);
    expect(reload.body.files[0]?.problems[0]?.path).toBe('$.tools.execute_sql.action');
    expect((await client.callTool(sql)).isError).toBeFalsy();
    expect(callLog.calls().filter((c) => c.tool === 'execute_sql').length).toBeGreaterThanOrEqual(2);
  });

  it('explains a decision through the admin API, with its trace', async () => {
    const gw = await gateway(createCallLog(), readOnly);
    const res = await adminApi(gw.baseUrl).post<{ decision: { kind: string; rule: { id: string }; trace: string[] } }>('/policy/explain', {
      agent: 'agent-a',
      tool: 'terminate_cluster',
      arguments: { params: { cluster_id: 'x' } },
    });
    expect(res.status).toBe(200);
    expect(res.body.decision).toMatchObject({ kind: 'deny', rule: { id: 'tools.terminate_cluster' } });
    expect(res.body.decision.trace.length).toBeGreaterThan(0);
  });
});
