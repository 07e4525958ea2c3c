/**
 * Standing grants end to end: the official SDK client calls run_job through two real gateway
 * replicas (one Redis, one key prefix) in front of the Databricks mock; an operator approves one
 * call with a one-hour grant pinned to params.job_id through the admin REST API. The mock's call
 * log proves what ran, the audit history what each step recorded; the clock is injected.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../src/audit/types.js';
import { adminApi, type AdminApi } from './helpers/admin-api.js';
import { startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio, type CallLog } from './helpers/upstreams.js';

const grantPolicy = {
  version: '1',
  default: 'allow',
  tools: {
    run_job: {
      action: 'approve',
      approval: { approvers: ['U0APPROVER1'], timeout: '60s', show: ['params.job_id'], grants: { pin: ['params.job_id'], max_duration: '1h' } },
    },
  },
};

const runJob = (jobId: number, date = '2026-11-01') => ({ params: { job_id: jobId, notebook_params: { env: 'prod', date } } });

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function replica(callLog: CallLog, clock: { now: number }, prefix?: string): Promise<TestGateway> {
  const gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog }) },
    policy: grantPolicy,
    config: { approvals: { progressInterval: '300ms', answerPendingAfter: '1s' } },
    now: () => clock.now,
    ...(prefix ? { prefix } : {}),
  });
  gateways.push(gw);
  return gw;
}

type Client = Awaited<ReturnType<TestGateway['connect']>>;

/** A call that keeps itself alive with progress, so it can wait for a decision. */
function call(client: Client, args: unknown): Promise<CallToolResult> {
  return client.callTool({ name: 'run_job', arguments: args as Record<string, unknown> }, CallToolResultSchema, {
    onprogress: () => undefined,
    resetTimeoutOnProgress: true,
    timeout: 15_000,
  }) as Promise<CallToolResult>;
}

/** Calls, expects the call to be held (a new pending approval), denies it, and checks the agent was told. */
async function expectHeld(api: AdminApi, client: Client, args: unknown): Promise<void> {
  const before = new Set((await api.approvals()).map((a) => a.id));
  const answer = call(client, args);
  const pending = (await api.waitForPending()).filter((a) => !before.has(a.id));
  expect(pending).toHaveLength(1);
  expect((await api.deny(pending[0]!.id, 'not this one')).status).toBe(200);
  const result = await answer;
  expect(result.isError).toBe(true);
}

async function events(api: AdminApi, type: string): Promise<AuditEvent[]> {
  const res = await api.get<{ events: AuditEvent[] }>(`/audit?type=${type}&limit=100`);
  expect(res.status).toBe(200);
  return res.body.events;
}

const runIdOf = (result: CallToolResult) => (JSON.parse(textOf(result)) as { run_id: number }).run_id;
const runJobCalls = (log: CallLog) => log.calls().filter((c) => c.tool === 'run_job');

describe('a standing grant pinned to params.job_id', () => {
  it('lets the same job run without a hold, holds other jobs and other agents, and stops on revocation on every replica and at expiry', async () => {
    const callLog = createCallLog();
    const clock = { now: Date.now() };
    const gw1 = await replica(callLog, clock);
    const gw2 = await replica(callLog, clock, gw1.prefix);
    const api1 = adminApi(gw1.baseUrl);
    const api2 = adminApi(gw2.baseUrl);
    const agentA1 = await gw1.connect('agent-a');
    const agentA2 = await gw2.connect('agent-a');
    const agentB1 = await gw1.connect('agent-b');

    // The first call is held; the operator approves it with a one-hour grant (pins default to the policy's).
    const first = call(agentA1, runJob(123));
    const [held] = await api1.waitForPending();
    const approved = await api1.post<{ result: string; grant: { id: string; pins: unknown[]; expiresAt: string } }>(
      `/approvals/${held!.id}/approve`,
      { reason: 'nightly backfill', grant: { duration: '1h' } },
      'alice',
    );
    expect(approved.status).toBe(200);
    const grant = approved.body.grant;
    expect(grant.pins).toEqual([{ path: 'params.job_id', value: 123 }]);
    expect(Date.parse(grant.expiresAt) - clock.now).toBe(3_600_000);
    expect(runIdOf(await first)).toBeGreaterThan(0);

    // Same agent, same job_id, other notebook params: runs at once, on either replica, audited grant_used.
    const second = await call(agentA1, runJob(123, '2026-11-02'));
    expect(second.isError).toBeFalsy();
    expect(runIdOf(second)).toBeGreaterThan(0);
    expect(runIdOf(await call(agentA2, runJob(123, '2026-11-03')))).toBeGreaterThan(0);
    expect((await api1.approvals()).map((a) => a.id)).toEqual([held!.id]);
    expect(runJobCalls(callLog)).toHaveLength(3);
    await expect.poll(async () => (await events(api1, 'grant_used')).length).toBe(2);
    const used = await events(api1, 'grant_used');
    expect(used.map((e) => e.details?.['grantId'])).toEqual([grant.id, grant.id]);
    expect(used.map((e) => [e.agent, e.tool, e.outcome])).toEqual([
      ['agent-a', 'run_job', 'success'],
      ['agent-a', 'run_job', 'success'],
    ]);
    expect((await events(api1, 'grant_created')).map((e) => [e.details?.['grantId'], e.actor?.id, e.approvalId])).toEqual([
      [grant.id, 'admin:alice', held!.id],
    ]);

    // Another job_id is held; so is the same job_id from another agent.
    await expectHeld(api1, agentA1, runJob(124));
    await expectHeld(api1, agentB1, runJob(123));

    // The grant is listed on both replicas; revoked on one, the next call is held on the other too.
    expect((await api2.get<{ grants: Array<{ id: string }> }>('/grants')).body.grants.map((g) => g.id)).toEqual([grant.id]);
    const revoked = await api1.post<{ result: string }>(`/grants/${grant.id}/revoke`, { reason: 'backfill done' }, 'bob');
    expect(revoked.status).toBe(200);
    expect((await api2.get<{ grants: unknown[] }>('/grants')).body.grants).toEqual([]);
    await expectHeld(api2, agentA2, runJob(123, '2026-11-04'));
    await expectHeld(api1, agentA1, runJob(123, '2026-11-05'));
    expect((await events(api1, 'grant_revoked')).map((e) => [e.details?.['grantId'], e.actor?.id, e.reason])).toEqual([
      [grant.id, 'admin:bob', 'backfill done'],
    ]);
    expect((await api1.post(`/grants/${grant.id}/revoke`, {})).status).toBe(404);

    // A new grant covers job 200 until the injected clock passes its hour.
    const third = call(agentA1, runJob(200));
    const [heldAgain] = await api1.waitForPending();
    expect((await api1.post(`/approvals/${heldAgain!.id}/approve`, { grant: { duration: '1h', pin: ['params.job_id'] } })).status).toBe(200);
    await third;
    expect((await call(agentA2, runJob(200, '2026-11-06'))).isError).toBeFalsy();
    clock.now += 3_600_000;
    await expectHeld(api2, agentA2, runJob(200, '2026-11-07'));
    expect((await api1.get<{ grants: unknown[] }>('/grants')).body.grants).toEqual([]);
  }, 120_000);

  it('refuses a grant the policy does not allow, and approves nothing then', async () => {
    const callLog = createCallLog();
    const clock = { now: Date.now() };
    const gw = await replica(callLog, clock);
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const answer = call(client, runJob(123));
    const [held] = await api.waitForPending();
    const tooLong = await api.post<{ error: { code: string; message: string } }>(`/approvals/${held!.id}/approve`, { grant: { duration: '2h' } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toContain('may last at most 1 h (policy approval.grants.max_duration)');
    const badPin = await api.post<{ error: { code: string; message: string } }>(`/approvals/${held!.id}/approve`, {
      grant: { duration: '30m', pin: ['params.notebook_params'] },
    });
    expect(badPin.status).toBe(400);
    expect(badPin.body.error.message).toContain('Cannot pin params.notebook_params: the policy lets grants for run_job pin only params.job_id');
    const withDeny = await api.post<{ error: { message: string } }>(`/approvals/${held!.id}/deny`, { grant: { duration: '30m' } });
    expect(withDeny.status).toBe(400);
    expect((await api.approvals('pending')).map((a) => a.id)).toEqual([held!.id]);
    expect((await api.approve(held!.id)).status).toBe(200);
    await answer;
    expect((await api.get<{ grants: unknown[] }>('/grants')).body.grants).toEqual([]);
  }, 60_000);
});
