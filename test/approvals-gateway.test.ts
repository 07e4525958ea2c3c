/**
 * Held calls end to end: the official SDK client calls run_job through a real gateway in front of
 * the Databricks mock; the call is held in BullMQ (real Redis) until an operator decides through
 * the admin REST API. The mock's call log proves what reached the upstream, and how many times.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio, type CallLog } from './helpers/upstreams.js';

const runJobArgs = { params: { job_id: 123, notebook_params: { env: 'prod', date: '2026-11-01' } } };

function holdRunJob(approval: Record<string, unknown> = {}) {
  return {
    version: '1',
    default: 'allow',
    tools: {
      run_job: {
        action: 'approve',
        approval: { approvers: ['U0APPROVER1', 'U0APPROVER2'], timeout: '60s', show: ['params.job_id', 'params.notebook_params'], ...approval },
      },
    },
  };
}

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(
  callLog: CallLog,
  options: { policy?: unknown; prefix?: string; approvals?: Record<string, unknown>; delayMs?: number } = {},
): Promise<TestGateway> {
  const gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog, ...(options.delayMs ? { delayMs: options.delayMs } : {}) }) },
    policy: options.policy ?? holdRunJob(),
    config: { approvals: { progressInterval: '300ms', answerPendingAfter: '1s', ...options.approvals } },
    ...(options.prefix ? { prefix: options.prefix } : {}),
  });
  gateways.push(gw);
  return gw;
}

/** A held call from a client that asked for progress (so it may wait past its own timeout). */
function callWithProgress(
  client: Awaited<ReturnType<TestGateway['connect']>>,
  options: { timeoutMs?: number; signal?: AbortSignal; progress?: string[] } = {},
) {
  return client.callTool({ name: 'run_job', arguments: runJobArgs }, CallToolResultSchema, {
    onprogress: (p) => options.progress?.push(p.message ?? ''),
    resetTimeoutOnProgress: true,
    timeout: options.timeoutMs ?? 10_000,
    ...(options.signal ? { signal: options.signal } : {}),
  }) as Promise<CallToolResult>;
}

const runJobCalls = (log: CallLog) => log.calls().filter((c) => c.tool === 'run_job');

/**
 * On `gw`, a replica sharing the holding gateway's prefix: the approval is still the one pending,
 * an operator approves it there, and the agent's identical retry collects the result, run once.
 */
async function approveOnAnotherReplicaAndRetry(gw: TestGateway, approvalId: string, callLog: CallLog): Promise<void> {
  const api = adminApi(gw.baseUrl);
  expect((await api.approvals('pending')).map((a) => a.id)).toEqual([approvalId]);
  expect((await api.approve(approvalId)).status).toBe(200);
  const retried = await (await gw.connect('agent-a')).callTool({ name: 'run_job', arguments: runJobArgs });
  expect(JSON.parse(textOf(retried))).toHaveProperty('run_id');
  expect(runJobCalls(callLog)).toHaveLength(1);
}

describe('a held run_job', () => {
  it('is released once approved through the API, and the agent gets the run id — kept alive by progress past its own timeout', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog);
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const progress: string[] = [];
    const pending = callWithProgress(client, { timeoutMs: 1_500, progress });

    const [held] = await api.waitForPending();
    expect(held).toMatchObject({ tool: 'run_job', agent: 'agent-a', status: 'pending' });
    expect(held?.highlights).toEqual([
      { path: 'params.job_id', value: 123 },
      { path: 'params.notebook_params', value: runJobArgs.params.notebook_params },
    ]);
    expect(runJobCalls(callLog)).toHaveLength(0);
    // Wait past the client's 1.5 s timeout: only progress keeps the request alive.
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await api.approve(held?.id ?? '')).status).toBe(200);

    const result = await pending;
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number), number_in_job: 1 });
    expect(runJobCalls(callLog)).toHaveLength(1);
    expect(progress.some((m) => m.includes(held?.id ?? '?') && m.includes('waiting for approval'))).toBe(true);
    // The first message, sent at once, says when it expires rather than "(0 ms of 15 min)".
    expect(progress[0]).toMatch(/\(sent just now; expires in 1 min\)$/);
    expect(progress.join('\n')).not.toMatch(/\b0 ms\b/);
    const after = await api.get<{ approval: { status: string; execution?: { outcome: string; summary: string } } }>(`/approvals/${held?.id}`);
    expect(after.body.approval).toMatchObject({ status: 'executed', execution: { outcome: 'success', summary: expect.stringMatching(/^run_id \d+/) } });
  });

  it("tells the agent the approver's reason when denied, and nothing reaches the upstream", async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog);
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const pending = callWithProgress(client);
    const [held] = await api.waitForPending();
    expect((await api.deny(held?.id ?? '', 'Prod is frozen until Monday.', 'bob')).status).toBe(200);
    const result = await pending;
    expect(result.isError).toBe(true);
    // The reason word for word, and one full stop: not `Reason: "….".`
    expect(textOf(result)).toContain('Reason: "Prod is frozen until Monday." Do not retry');
    expect(textOf(result)).toContain('bob');
    expect(result._meta?.['airlock/error']).toMatchObject({ code: 'approval_denied', approvalId: held?.id });
    expect(runJobCalls(callLog)).toHaveLength(0);
  });

  it('expires at the policy timeout, telling the agent nobody decided', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog, { policy: holdRunJob({ timeout: '1s' }) });
    const client = await gw.connect('agent-a');
    const result = await callWithProgress(client);
    expect(result.isError).toBe(true);
    expect(result._meta?.['airlock/error']).toMatchObject({ code: 'approval_expired' });
    expect(textOf(result)).toMatch(/Nobody decided/);
    const [record] = await adminApi(gw.baseUrl).approvals('expired');
    expect(record?.tool).toBe('run_job');
    expect(runJobCalls(callLog)).toHaveLength(0);
  });

  it('is withdrawn when the agent cancels, and a later approval runs nothing', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog);
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const controller = new AbortController();
    const pending = callWithProgress(client, { signal: controller.signal });
    const [held] = await api.waitForPending();
    controller.abort();
    await expect(pending).rejects.toThrow();
    const deadline = Date.now() + 10_000;
    let status = 'pending';
    while (status === 'pending' && Date.now() < deadline) {
      status = (await api.get<{ approval: { status: string } }>(`/approvals/${held?.id}`)).body.approval.status;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe('withdrawn');
    const late = await api.approve(held?.id ?? '');
    expect(late.status).toBe(409);
    expect(late.body.error?.message).toMatch(/already withdrawn/);
    expect(runJobCalls(callLog)).toHaveLength(0);
  });

  it('is held on one replica, decided on another, and released by the first', async () => {
    const callLog = createCallLog();
    const a = await gateway(callLog);
    const b = await gateway(callLog, { prefix: a.prefix });
    const client = await a.connect('agent-a');
    const pending = callWithProgress(client);
    const [held] = await adminApi(b.baseUrl).waitForPending();
    expect((await adminApi(b.baseUrl).approve(held?.id ?? '')).status).toBe(200);
    const result = await pending;
    expect(JSON.parse(textOf(result))).toHaveProperty('run_id');
    expect(runJobCalls(callLog)).toHaveLength(1);
  });

  it('lets exactly one of two simultaneous decisions win', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog);
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const pending = callWithProgress(client);
    const [held] = await api.waitForPending();
    const [approve, deny] = await Promise.all([api.approve(held?.id ?? '', 'alice'), api.deny(held?.id ?? '', 'no', 'bob')]);
    expect([approve.status, deny.status].sort()).toEqual([200, 409]);
    const result = await pending;
    expect(runJobCalls(callLog)).toHaveLength(approve.status === 200 ? 1 : 0);
    expect(Boolean(result.isError)).toBe(deny.status === 200);
  });

  it('needs two distinct people with quorum 2: one admin token sending two actor names counts once', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog, { policy: holdRunJob({ quorum: 2 }) });
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const pending = callWithProgress(client);
    const [held] = await api.waitForPending();
    const id = held?.id ?? '';
    expect((await api.approve(id, 'alice')).body.result).toBe('vote_recorded');
    const twice = await api.approve(id, 'bob'); // the same admin token under another name
    expect(twice.status).toBe(409);
    expect(twice.body.error?.message).toMatch(/already approved.*1 of 2/);
    expect(runJobCalls(callLog)).toHaveLength(0);
    // A second person (a Slack approver, through the same channels port Slack uses) completes it.
    expect((await gw.gateway.approvals.decide(id, { kind: 'slack', id: 'U0APPROVER2', name: 'carol' }, 'approve', undefined)).kind).toBe('decided');
    expect(JSON.parse(textOf(await pending))).toHaveProperty('run_id');
    expect(runJobCalls(callLog)).toHaveLength(1);
  });
});

describe('a client that cannot wait (no progress token)', () => {
  it('is answered "approval pending, retry", its identical retry attaches to the same approval, and once approved runs once', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog);
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const first = await client.callTool({ name: 'run_job', arguments: runJobArgs });
    expect(first.isError).toBe(true);
    const meta = first._meta?.['airlock/error'] as { code: string; approvalId: string; retryAfterSec: number };
    expect(meta).toMatchObject({ code: 'approval_pending', approvalId: expect.stringMatching(/^apr_/), retryAfterSec: expect.any(Number) });
    expect(textOf(first)).toMatch(/has NOT run yet.*Retry this exact call/s);

    const retry = await client.callTool({ name: 'run_job', arguments: runJobArgs });
    expect(retry._meta?.['airlock/error']).toMatchObject({ code: 'approval_pending', approvalId: meta.approvalId });
    expect(await api.approvals('pending')).toHaveLength(1);

    expect((await api.approve(meta.approvalId)).status).toBe(200);
    const released = await client.callTool({ name: 'run_job', arguments: runJobArgs });
    expect(released.isError).toBeFalsy();
    expect(JSON.parse(textOf(released))).toHaveProperty('run_id');
    expect(runJobCalls(callLog)).toHaveLength(1);
  });

  it("keeps a held call through a gateway restart: still listed, decidable, and the agent's retry collects it", async () => {
    const callLog = createCallLog();
    const before = await gateway(callLog);
    const client = await before.connect('agent-a');
    const first = await client.callTool({ name: 'run_job', arguments: runJobArgs });
    const { approvalId } = first._meta?.['airlock/error'] as { approvalId: string };
    await before.close();
    gateways.splice(gateways.indexOf(before), 1);

    await approveOnAnotherReplicaAndRetry(await gateway(callLog, { prefix: before.prefix }), approvalId, callLog);
  });
});

describe('an identical call while the approved one runs', () => {
  it('is told execution_in_progress (it will not run twice), and once the run ends gets its result', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog, { delayMs: 3_000 });
    const api = adminApi(gw.baseUrl);
    const running = callWithProgress(await gw.connect('agent-a'), { timeoutMs: 30_000 });
    const [held] = await api.waitForPending();
    expect((await api.approve(held?.id ?? '')).status).toBe(200);
    const deadline = Date.now() + 10_000;
    while (runJobCalls(callLog).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const impatient = await gw.connect('agent-a');
    const meanwhile = await impatient.callTool({ name: 'run_job', arguments: runJobArgs });
    expect(meanwhile._meta?.['airlock/error']).toMatchObject({ code: 'execution_in_progress', approvalId: held?.id, retryAfterSec: 5 });
    expect(textOf(meanwhile)).toMatch(/running right now in another request.*will not run twice/);
    const result = await running;
    const after = await impatient.callTool({ name: 'run_job', arguments: runJobArgs });
    expect(JSON.parse(textOf(after))).toEqual(JSON.parse(textOf(result)));
    expect(runJobCalls(callLog)).toHaveLength(1);
  });
});

describe('a gateway that shuts down while a call waits', () => {
  it('answers the waiting agent "approval pending, retry" and keeps the approval for another replica', async () => {
    const callLog = createCallLog();
    const before = await gateway(callLog);
    const client = await before.connect('agent-a');
    const waiting = callWithProgress(client, { timeoutMs: 30_000 });
    const [held] = await adminApi(before.baseUrl).waitForPending();
    const closed = before.gateway.close(); // the gateway alone: the agent's connection stays open
    const answer = await waiting;
    await closed;
    expect(answer._meta?.['airlock/error']).toMatchObject({ code: 'approval_pending', approvalId: held?.id });

    await approveOnAnotherReplicaAndRetry(await gateway(callLog, { prefix: before.prefix }), held?.id ?? '', callLog);
  });
});

describe('a client that uses MCP tasks', () => {
  it('gets a task at once, and the task completes with the upstream result after approval', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog);
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const stream = client.experimental.tasks.callToolStream({ name: 'run_job', arguments: runJobArgs }, CallToolResultSchema, { task: { ttl: 60_000 } });
    const seen: string[] = [];
    let result: CallToolResult | undefined;
    const consumed = (async () => {
      for await (const message of stream) {
        seen.push(message.type);
        if (message.type === 'result') result = message.result;
        if (message.type === 'error') throw message.error;
      }
    })();
    const [held] = await api.waitForPending();
    expect((await api.approve(held?.id ?? '')).status).toBe(200);
    await consumed;
    expect(seen[0]).toBe('taskCreated');
    expect(JSON.parse(textOf(result))).toHaveProperty('run_id');
    expect(runJobCalls(callLog)).toHaveLength(1);
  });
});
