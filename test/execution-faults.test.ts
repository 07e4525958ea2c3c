/**
 * The execution contract under faults, with real gateway processes (`airlock serve`, killed with
 * SIGKILL like a crash), real redis-servers (one with an append-only file, SIGKILLed and restarted
 * from it), the official SDK client as the agents, and the Databricks mock's call log as the
 * witness of what reached the upstream. An approved call runs at most once, its result is kept for
 * identical retries on any replica, a dead claim becomes outcome_unknown instead of a long wait,
 * and every upstream execution has exactly one audit event that says how it ended.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import request from 'supertest';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { ApprovalView } from '../src/approvals/approval-view.js';
import type { AuditEvent } from '../src/audit/types.js';
import { adminApi } from './helpers/admin-api.js';
import { testPrefix } from './helpers/approvals.js';
import { connectClient, textOf } from './helpers/gateway.js';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { adminToken } from './helpers/in-process-gateway.js';
import { freePort, startRedisServer, type RedisServerHandle } from './helpers/redis-server.js';
import { createCallLog, databricksMockStdio, type CallLog } from './helpers/upstreams.js';

const holdRunJob = {
  version: '1',
  default: 'allow',
  tools: { run_job: { action: 'approve', approval: { approvers: ['U0APPROVER1'], timeout: '2m', show: ['params.job_id'] } } },
};

const runJob = (date: string) => ({ params: { job_id: 123, notebook_params: { env: 'prod', date } } });

const processes: GatewayProcess[] = [];
const redisServers: RedisServerHandle[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(processes.splice(0).map((p) => p.kill()));
  await Promise.all(redisServers.splice(0).map((r) => r.stop()));
});

async function gateway(callLog: CallLog, prefix: string, options: { redisUrl?: string; delayMs?: number } = {}): Promise<GatewayProcess> {
  const gw = await startGatewayProcess({
    redisUrl: options.redisUrl ?? inject('redisUrl'),
    prefix,
    mcpServers: { databricks: databricksMockStdio({ callLog, ...(options.delayMs ? { delayMs: options.delayMs } : {}) }) },
    policy: holdRunJob,
    config: { approvals: { answerPendingAfter: '1s', progressInterval: '300ms', executionLease: '2s' }, shutdownGrace: '1s' },
  });
  processes.push(gw);
  return gw;
}

async function agent(gw: GatewayProcess, name = 'agent-a'): Promise<Client> {
  const client = await connectClient(gw.mcpUrl, gw.tokens[name] ?? '');
  clients.push(client);
  return client;
}

/** A call from a client that sent a progress token, so it waits through the approval and the run. */
function callWaiting(client: Client, args: unknown): Promise<CallToolResult> {
  return client.callTool({ name: 'run_job', arguments: args as Record<string, unknown> }, CallToolResultSchema, {
    onprogress: () => undefined,
    resetTimeoutOnProgress: true,
    timeout: 60_000,
  }) as Promise<CallToolResult>;
}

async function call(client: Client, args: unknown): Promise<CallToolResult> {
  return (await client.callTool({ name: 'run_job', arguments: args as Record<string, unknown> })) as CallToolResult;
}

const errorMeta = (result: CallToolResult) => result._meta?.['airlock/error'] as { code: string; approvalId?: string } | undefined;
const runJobCalls = (log: CallLog) => log.calls().filter((c) => c.tool === 'run_job');

async function auditOf(gw: GatewayProcess, query: string): Promise<AuditEvent[]> {
  const res = await adminApi(gw.baseUrl).get<{ events: AuditEvent[] }>(`/audit?limit=500&${query}`);
  if (res.status !== 200) throw new Error(`GET /api/audit answered ${res.status}`);
  return res.body.events;
}

async function approval(gw: GatewayProcess, id: string): Promise<ApprovalView> {
  const res = await adminApi(gw.baseUrl).get<{ approval: ApprovalView }>(`/approvals/${id}`);
  if (res.status !== 200) throw new Error(`GET /api/approvals/${id} answered ${res.status}`);
  return res.body.approval;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('an approved call, after it ran', () => {
  it('answers an identical retry with the kept result on the same and on another replica; the upstream saw one call; other arguments need a new approval', async () => {
    const callLog = createCallLog();
    const prefix = testPrefix();
    const [a, b] = await Promise.all([gateway(callLog, prefix), gateway(callLog, prefix)]);
    const onA = await agent(a);
    const first = await call(onA, runJob('2026-11-01'));
    expect(errorMeta(first)).toMatchObject({ code: 'approval_pending' });
    const approvalId = errorMeta(first)?.approvalId ?? '';
    expect((await adminApi(b.baseUrl).approve(approvalId)).status).toBe(200);

    const released = await call(onA, runJob('2026-11-01'));
    expect(released.isError).toBeFalsy();
    const runId = (JSON.parse(textOf(released)) as { run_id: number }).run_id;
    const again = await call(onA, runJob('2026-11-01'));
    expect(JSON.parse(textOf(again))).toEqual({ run_id: runId, number_in_job: 1 });
    expect(again._meta?.['airlock/result']).toMatchObject({ approvalId, truncated: false });
    const onB = await agent(b);
    const elsewhere = await call(onB, runJob('2026-11-01'));
    expect(JSON.parse(textOf(elsewhere))).toEqual({ run_id: runId, number_in_job: 1 });
    expect(runJobCalls(callLog)).toHaveLength(1);
    expect(await adminApi(a.baseUrl).approvals('pending')).toHaveLength(0);

    const different = await call(onB, runJob('2026-11-02'));
    expect(errorMeta(different)).toMatchObject({ code: 'approval_pending' });
    expect(errorMeta(different)?.approvalId).not.toBe(approvalId);
    expect(runJobCalls(callLog)).toHaveLength(1);
    expect(await auditOf(a, `approval=${approvalId}&type=executed`)).toHaveLength(1);
    expect(await approval(a, approvalId)).toMatchObject({ status: 'executed', execution: { outcome: 'success', summary: `run_id ${runId}` } });
  }, 120_000);
});

describe('Redis killed while approved calls run upstream', () => {
  it('still gives each agent its result; once Redis is back from its append-only file every record is executed, with one executed event per upstream execution', async () => {
    const redis = await startRedisServer({ appendOnly: true });
    redisServers.push(redis);
    const callLog = createCallLog();
    const gw = await gateway(callLog, testPrefix(), { redisUrl: redis.url, delayMs: 3_000 });
    const dates = ['2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04', '2026-11-05'];
    const agents = await Promise.all(dates.map(() => agent(gw)));
    const calls = dates.map((date, i) => callWaiting(agents[i] as Client, runJob(date)));
    const api = adminApi(gw.baseUrl);
    const held = await api.waitForPending(5);
    for (const h of held) expect((await api.approve(h.id)).status).toBe(200);
    await until('5 calls inside the upstream', async () => (runJobCalls(callLog).length === 5 ? true : undefined));

    await redis.stop(); // SIGKILL, while all five are inside the slow upstream
    const results = await Promise.all(calls);
    const runIds = results.map((result) => {
      expect(result.isError).toBeFalsy();
      return (JSON.parse(textOf(result)) as { run_id: number }).run_id;
    });
    expect(new Set(runIds).size).toBe(5);
    // The outcome records could not be written: they wait in the gateway's memory.
    expect(gw.output()).toMatch(/outcome write failed; kept in memory and retried/);

    await redis.restart();
    const byDate = new Map(dates.map((date, i) => [date, runIds[i]]));
    for (const h of held) {
      const date = (h.arguments as ReturnType<typeof runJob>).params.notebook_params.date;
      const record = await until(`approval ${h.id} executed`, async () => {
        const view = await approval(gw, h.id);
        return view.status === 'executed' ? view : undefined;
      });
      expect(record.execution).toMatchObject({ outcome: 'success', summary: `run_id ${byDate.get(date)}` });
    }
    const ids = new Set(held.map((h) => h.id));
    const executed = await until('five executed events', async () => {
      const events = (await auditOf(gw, 'type=executed')).filter((e) => ids.has(e.approvalId ?? ''));
      return events.length >= 5 ? events : undefined;
    });
    expect(executed.map((e) => e.approvalId).sort()).toEqual([...ids].sort());
    expect(runJobCalls(callLog)).toHaveLength(5);
    expect(await auditOf(gw, 'type=outcome_unknown')).toEqual([]);

    // An identical retry now gets the kept result: no second run.
    const retry = await call(agents[0] as Client, runJob(dates[0] as string));
    expect(JSON.parse(textOf(retry))).toMatchObject({ run_id: runIds[0] });
    expect(runJobCalls(callLog)).toHaveLength(5);
  }, 120_000);
});

describe('a gateway killed while approved calls run upstream', () => {
  it('leaves them outcome_unknown once the lease lapses; retries hear it promptly; nothing runs twice; an approved re-run runs once more and is audited', async () => {
    const callLog = createCallLog();
    const prefix = testPrefix();
    const first = await gateway(callLog, prefix, { delayMs: 4_000 });
    const dates = ['2026-12-01', '2026-12-02', '2026-12-03'];
    const agents = await Promise.all(dates.map(() => agent(first)));
    for (const [i, date] of dates.entries()) void callWaiting(agents[i] as Client, runJob(date)).catch(() => undefined);
    const api = adminApi(first.baseUrl);
    const held = await api.waitForPending(3);
    for (const h of held) expect((await api.approve(h.id)).status).toBe(200);
    await until('3 calls inside the upstream', async () => (runJobCalls(callLog).length === 3 ? true : undefined));
    await first.kill();

    const second = await gateway(callLog, prefix);
    for (const h of held) {
      const view = await until(`approval ${h.id} outcome_unknown`, async () => {
        const current = await approval(second, h.id);
        return current.status === 'outcome_unknown' ? current : undefined;
      });
      expect(view).toMatchObject({ rerunnable: true, claim: { by: expect.any(String) } });
    }
    const idOf = new Map(held.map((h) => [(h.arguments as ReturnType<typeof runJob>).params.notebook_params.date, h.id]));
    for (const date of dates) {
      const started = Date.now();
      const retry = await call(await agent(second), runJob(date));
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(errorMeta(retry)).toMatchObject({ code: 'outcome_unknown', approvalId: idOf.get(date) });
      expect(textOf(retry)).toMatch(/nobody knows whether it acted.*will not run it again on its own/s);
    }
    expect(runJobCalls(callLog)).toHaveLength(3);
    const unknown = await auditOf(second, 'type=outcome_unknown');
    expect(unknown.map((e) => e.approvalId).sort()).toEqual([...idOf.values()].sort());

    const rerunId = idOf.get('2026-12-01') ?? '';
    const rerun = await adminApi(second.baseUrl).post<{ result: string }>(
      `/approvals/${rerunId}/rerun`,
      { reason: 'checked: no run 12-01 in Databricks' },
      'alice',
    );
    expect(rerun).toMatchObject({ status: 200, body: { result: 'decided' } });
    const onSecond = await agent(second);
    const ran = await call(onSecond, runJob('2026-12-01'));
    expect(ran.isError).toBeFalsy();
    expect(runJobCalls(callLog)).toHaveLength(4);
    expect(JSON.parse(textOf(await call(onSecond, runJob('2026-12-01'))))).toEqual(JSON.parse(textOf(ran)));
    expect(runJobCalls(callLog)).toHaveLength(4);

    const story = await auditOf(second, `approval=${rerunId}`);
    expect(story.find((e) => e.type === 'rerun_approved')).toMatchObject({
      actor: { kind: 'admin', id: 'admin:alice' },
      reason: 'checked: no run 12-01 in Databricks',
    });
    expect(await approval(second, rerunId)).toMatchObject({ status: 'executed', attempt: 2 });
    // Every upstream execution has one event saying how it ended: executed, or outcome_unknown for those the crash cut off.
    const executed = (await auditOf(second, 'type=executed')).filter((e) => [...idOf.values()].includes(e.approvalId ?? ''));
    expect(executed.length + unknown.length).toBe(runJobCalls(callLog).length);
  }, 120_000);
});

describe('faults before anything is forwarded', () => {
  it('refuses a call whose upstream is down with upstream_unavailable, and audits the refusal', async () => {
    const down = `http://127.0.0.1:${await freePort()}/mcp`;
    const gw = await startGatewayProcess({
      redisUrl: inject('redisUrl'),
      prefix: testPrefix(),
      mcpServers: { databricks: { url: down } },
      policy: holdRunJob,
      waitFor: 'healthy',
    });
    processes.push(gw);
    const result = (await (await agent(gw)).callTool({ name: 'list_jobs', arguments: { params: {} } })) as CallToolResult;
    expect(errorMeta(result)).toMatchObject({ code: 'upstream_unavailable' });
    const refused = await until('the refusal in the audit', async () => {
      const events = await auditOf(gw, 'type=refused');
      return events.length > 0 ? events : undefined;
    });
    expect(refused[0]).toMatchObject({ agent: 'agent-a', tool: 'list_jobs', details: { code: 'upstream_unavailable' } });
  }, 60_000);

  it('answers approval reads with 503 state_store_unavailable while Redis is down, in the API and the dashboard', async () => {
    const redis = await startRedisServer();
    redisServers.push(redis);
    const gw = await gateway(createCallLog(), testPrefix(), { redisUrl: redis.url });
    const pending = await call(await agent(gw), runJob('2026-11-09'));
    const approvalId = errorMeta(pending)?.approvalId ?? '';
    const browser = request.agent(gw.baseUrl);
    const form = await browser.get('/login').expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1] ?? '';
    await browser.post('/login').set('Origin', gw.baseUrl).type('form').send({ _csrf: csrf, user: 'admin', token: adminToken }).expect(303);
    await browser.get('/').expect(200);

    await redis.stop();
    const api = adminApi(gw.baseUrl);
    for (const path of ['/approvals', '/approvals?status=pending', `/approvals/${approvalId}`]) {
      const res = await api.get<{ error: { code: string } }>(path);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('state_store_unavailable');
    }
    const page = await browser.get(`/approvals/${approvalId}`);
    expect(page.status).toBe(503);
    expect(page.text).toContain('cannot reach its state store');
    expect((await browser.get('/')).status).toBe(503);
  }, 60_000);
});
