/**
 * Edit, then approve, through the whole gateway: the policy lists `params.notebook_params` as
 * editable; an approver submits changed values through the REST API; the changed call is checked
 * again (constraints, rules, the upstream's inputSchema) and runs once with the edited arguments —
 * the mock's call log proves which — the agent's answer names the change, and the audit keeps
 * both argument sets and the editor. A bad edit is refused with its reason and nothing runs.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { adminToken, startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio, type CallLog } from './helpers/upstreams.js';

const asked = { params: { job_id: 123, notebook_params: { env: 'prod', date: '2026-11-01' } } };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(callLog: CallLog): Promise<TestGateway> {
  const gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog }) },
    policy: {
      version: '1',
      default: 'allow',
      tools: {
        run_job: {
          action: 'approve',
          constraints: { 'params.notebook_params.env': { in: ['prod', 'staging', 'dev'] } },
          rules: [{ when: { 'params.notebook_params.env': { eq: 'dev' } }, action: 'deny', reason: 'Agents do not run jobs on dev.' }],
          approval: { timeout: '5m', editable: ['params.notebook_params'] },
        },
      },
    },
    config: { approvals: { progressInterval: '300ms' } },
  });
  cleanups.push(() => gw.close());
  return gw;
}

function heldCall(gw: TestGateway): Promise<CallToolResult> {
  return gw.connect('agent-a').then(
    (client) =>
      client.callTool({ name: 'run_job', arguments: asked }, CallToolResultSchema, {
        onprogress: () => undefined,
        resetTimeoutOnProgress: true,
        timeout: 30_000,
      }) as Promise<CallToolResult>,
  );
}

async function story(gw: TestGateway, id: string): Promise<Array<{ type: string; arguments?: unknown; reason?: string; details?: Record<string, unknown> }>> {
  const res = await fetch(`${gw.baseUrl}/api/audit/approvals/${id}`, { headers: { authorization: `Bearer ${adminToken}` } });
  return ((await res.json()) as { events: Array<{ type: string; arguments?: unknown; reason?: string; details?: Record<string, unknown> }> }).events;
}

describe('edit, then approve', () => {
  it('runs once with the edited notebook_params; the agent is told what changed; the audit has both sets and the editor', async () => {
    const callLog = createCallLog();
    const gw = await setup(callLog);
    const api = adminApi(gw.baseUrl);
    const pending = heldCall(gw);
    const [held] = await api.waitForPending();
    const id = held?.id ?? '';
    expect(held?.editable).toEqual(['params.notebook_params']);
    expect(held?.edit).toBeUndefined();

    const edited = { env: 'prod', date: '2026-11-02' };
    const answer = await api.post<{ result?: string; approval?: { status: string; edit?: unknown } }>(
      `/approvals/${id}/approve`,
      { edits: { 'params.notebook_params': edited } },
      'alice',
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      result: 'decided',
      approval: { status: 'approved', edit: { changes: [{ path: 'params.notebook_params', before: asked.params.notebook_params, after: edited }] } },
    });

    const result = await pending;
    expect(result.isError).toBeFalsy();
    expect(JSON.parse((result.content[0] as { text: string }).text)).toHaveProperty('run_id');
    expect(textOf(result)).toContain('params.notebook_params: {"date":"2026-11-01","env":"prod"} → {"date":"2026-11-02","env":"prod"}');
    expect(textOf(result)).toMatch(/changed the arguments of this call/);
    const runs = callLog.calls().filter((c) => c.tool === 'run_job');
    expect(runs).toHaveLength(1);
    expect(runs[0]?.arguments).toEqual({ params: { job_id: 123, notebook_params: edited } });

    const events = await story(gw, id);
    const approved = events.find((e) => e.type === 'approved');
    expect(approved?.arguments).toEqual(asked);
    expect(approved?.details?.['edit']).toMatchObject({
      editor: { kind: 'admin', name: 'alice' },
      arguments: { params: { job_id: 123, notebook_params: edited } },
    });
    const executed = events.find((e) => e.type === 'executed');
    expect(executed?.arguments).toEqual({ params: { job_id: 123, notebook_params: edited } });
    expect(executed?.details?.['originalArguments']).toEqual(asked);
  });

  it('refuses an edit that breaks a constraint, one the rules would deny, and a path that is not editable; nothing runs and the call still waits', async () => {
    const callLog = createCallLog();
    const gw = await setup(callLog);
    const api = adminApi(gw.baseUrl);
    void heldCall(gw).catch(() => undefined);
    const [held] = await api.waitForPending();
    const id = held?.id ?? '';

    const broken = await api.post<{ error?: { code: string; message: string } }>(`/approvals/${id}/approve`, {
      edits: { 'params.notebook_params': { env: 'qa' } },
    });
    expect(broken.status).toBe(400);
    expect(broken.body.error?.message).toMatch(/Edit refused: the edited call breaks the policy's constraints: params\.notebook_params\.env/);

    const denied = await api.post<{ error?: { code: string; message: string } }>(`/approvals/${id}/approve`, {
      edits: { 'params.notebook_params': { env: 'dev' } },
    });
    expect(denied.status).toBe(400);
    expect(denied.body.error?.message).toContain('Agents do not run jobs on dev.');

    const notEditable = await api.post<{ error?: { code: string; message: string } }>(`/approvals/${id}/approve`, { edits: { 'params.job_id': 999 } });
    expect(notEditable.status).toBe(400);
    expect(notEditable.body.error?.message).toMatch(/"params\.job_id" is not editable \(editable paths: params\.notebook_params\)/);

    expect(callLog.calls()).toHaveLength(0);
    expect((await api.get<{ approval: { status: string; edit?: unknown } }>(`/approvals/${id}`)).body.approval).toMatchObject({ status: 'pending' });
    expect((await story(gw, id)).filter((e) => e.type === 'edit_refused')).toHaveLength(3);
  });

  it('refuses an edit after someone approved the call as asked (quorum 2)', async () => {
    const callLog = createCallLog();
    const gw = await startTestGateway({
      mcpServers: { databricks: databricksMockStdio({ callLog }) },
      policy: { version: '1', default: 'allow', tools: { run_job: { action: 'approve', approval: { quorum: 2, editable: ['params.notebook_params'] } } } },
    });
    cleanups.push(() => gw.close());
    void heldCall(gw).catch(() => undefined);
    const api = adminApi(gw.baseUrl);
    const [held] = await api.waitForPending();
    const id = held?.id ?? '';
    expect((await api.approve(id)).body).toMatchObject({ result: 'vote_recorded' });
    const late = await api.post<{ error?: { message: string } }>(`/approvals/${id}/approve`, { edits: { 'params.notebook_params': { env: 'staging' } } });
    expect(late.status).toBe(400);
    expect(late.body.error?.message).toMatch(/already approved as asked/);
    expect(callLog.calls()).toHaveLength(0);
  });
});

describe('approval.editable in the policy language', () => {
  it('refuses a path that is both editable and redacted: an approver cannot change what they may not see', async () => {
    const { parsePolicy } = await import('../src/policy/load.js');
    const { formatProblems } = await import('../src/errors.js');
    const result = parsePolicy(
      { version: '1', tools: { run_job: { action: 'approve', redact: ['params.notebook_params.token'], approval: { editable: ['params.notebook_params'] } } } },
      'p.json',
    );
    if (result.ok) throw new Error('expected the policy to be rejected');
    expect(formatProblems(result.problems)).toMatch(/tools\.run_job\.approval\.editable.*both editable and redacted/);
  });
});
