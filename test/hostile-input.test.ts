/**
 * Hostile input through the real gateway, as an attacker holding an agent token would send it:
 * the reference Databricks policy in front of the Databricks mock, the official SDK client, real
 * Redis and BullMQ. Each test sends what the security review found, and checks the safe
 * behaviour: nothing stalls, nothing unapproved runs, nothing unbounded is stored, and the audit
 * history cannot be used to confirm a redacted value.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../src/audit/types.js';
import { canonicalJson } from '../src/util/canonical.js';
import { adminApi, type AdminApi } from './helpers/admin-api.js';
import { adminToken, startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio, repoRoot, type CallLog } from './helpers/upstreams.js';

type Client = Awaited<ReturnType<TestGateway['connect']>>;

/** The shipped reference policy, with a redacted PIN and admins-only approval. */
function referencePolicy(): Record<string, unknown> {
  const policy = JSON.parse(readFileSync(path.join(repoRoot, 'policies/databricks.json'), 'utf8')) as Record<string, unknown>;
  return { ...policy, $schema: undefined, redact: ['params.notebook_params.pin'], approval: { approvers: [], timeout: '5m' } };
}

const errorCode = (result: CallToolResult) => (result._meta?.['airlock/error'] as { code?: string } | undefined)?.code;

let gw: TestGateway;
let api: AdminApi;
let callLog: CallLog;
let agentA: Client;
let agentB: Client;

beforeAll(async () => {
  callLog = createCallLog();
  gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog }) },
    policy: referencePolicy(),
    config: { approvals: { answerPendingAfter: '1s', maxArgumentsBytes: 131_072 }, audit: { maxArgumentsBytes: 8_192 } },
  });
  api = adminApi(gw.baseUrl);
  agentA = await gw.connect('agent-a');
  agentB = await gw.connect('agent-b');
}, 60_000);
afterAll(() => gw?.close());

const call = (client: Client, name: string, args: unknown) =>
  client.callTool({ name, arguments: args as Record<string, unknown> }, CallToolResultSchema, { timeout: 30_000 }) as Promise<CallToolResult>;

/** Audit events of one type, newest first, straight from the store. */
async function eventsOf(type: AuditEvent['type'], tool?: string): Promise<AuditEvent[]> {
  await new Promise((r) => setTimeout(r, 100)); // the `allowed` event is written just after the answer
  const page = await gw.gateway.auditStore.query({ type: [type], ...(tool ? { tool } : {}), limit: 100 });
  return page.events;
}

const warehouse = { warehouse_id: 'wh-1' };

/** One tools/call whose arguments are sent as the given JSON text, over a raw Streamable HTTP session. */
async function rawToolCall(name: string, argumentsJson: string): Promise<CallToolResult> {
  const headers = { authorization: `Bearer ${gw.tokens['agent-a']}`, accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
  const post = (body: string, session?: string) =>
    fetch(gw.mcpUrl, { method: 'POST', headers: session ? { ...headers, 'mcp-session-id': session } : headers, body });
  const init = await post(
    JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    }),
  );
  const session = init.headers.get('mcp-session-id') ?? '';
  await init.text();
  await (await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), session)).text();
  const res = await post(
    `{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": ${JSON.stringify(name)}, "arguments": ${argumentsJson}}}`,
    session,
  );
  const text = await res.text();
  const data = text.split('\n').find((line) => line.startsWith('data: ')) ?? `data: ${text}`;
  return (JSON.parse(data.slice('data: '.length)) as { result: CallToolResult }).result;
}
const toolCalls = (tool: string) => callLog.calls().filter((c) => c.tool === tool);

describe('regex input that makes a backtracking engine stall', () => {
  it('decides the 60,000-space statement from the review at once (held), while another session lists jobs', async () => {
    // "SELECT" + 60k spaces + ";x" froze a backtracking engine for 3 s; RE2 decides it in linear time.
    const statement = `SELECT${' '.repeat(60_000)};x`;
    const [sql, jobs] = await Promise.all([call(agentA, 'execute_sql', { params: { statement, ...warehouse } }), call(agentB, 'list_jobs', { params: {} })]);
    expect(errorCode(sql)).toBe('approval_pending'); // not a plain SELECT: held for a person
    expect(jobs.isError).toBeFalsy();
    expect(JSON.parse(textOf(jobs))).toHaveProperty('jobs');
    expect(toolCalls('execute_sql')).toHaveLength(0);
  });

  it('refuses a statement longer than the rule may examine, naming max_length, and stores only a truncated copy', async () => {
    const statement = `SELECT ${'x'.repeat(3_000_000)}`;
    const result = await call(agentA, 'execute_sql', { params: { statement, ...warehouse } });
    expect(errorCode(result)).toBe('invalid_arguments');
    expect(textOf(result)).toMatch(/params\.statement: is a string of 3000007 characters, longer than the 65536 this policy examines/);
    expect(textOf(result)).toContain('max_length 65536');
    const [event] = await eventsOf('invalid_arguments', 'execute_sql');
    expect(event?.argumentsHash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(event?.arguments).toMatchObject({ airlock_truncated: { bytes: expect.any(Number), limit: 8_192 } });
    expect(Buffer.byteLength(canonicalJson(event?.arguments))).toBeLessThanOrEqual(8_192);
    expect(toolCalls('execute_sql')).toHaveLength(0);
  });

  it('holds the statements the old rule let through: SELECT … INTO, and a Greek question mark separating two statements', async () => {
    for (const statement of [
      'SELECT * INTO backup FROM sales',
      'SELECT 1\u037e DROP TABLE sales',
      'SELECT 1\uff1b DROP TABLE sales',
      'select 1;\n drop table sales',
    ]) {
      const result = await call(agentA, 'execute_sql', { params: { statement, ...warehouse } });
      expect(errorCode(result), statement).toBe('approval_pending');
    }
    const plain = await call(agentA, 'execute_sql', { params: { statement: "  select count(*) from sales where region = 'EU';  ", ...warehouse } });
    expect(plain.isError).toBeFalsy();
    expect(toolCalls('execute_sql')).toHaveLength(1);
  });
});

describe('one canonical form of the arguments', () => {
  const approved = { params: { job_id: 103, notebook_params: { date: '2026-11-01' } } };

  it('refuses a retry smuggling __proto__ members, runs exactly the approved bytes once, and a retry with one more member needs a new approval', async () => {
    const first = await call(agentA, 'run_job', approved);
    expect(errorCode(first)).toBe('approval_pending');
    const approvalId = (first._meta?.['airlock/error'] as { approvalId: string }).approvalId;
    expect((await api.approve(approvalId)).status).toBe(200);

    // JSON.parse makes "__proto__" an own member, exactly as an agent's JSON request body does.
    const smuggled = JSON.parse(
      '{"params": {"job_id": 103, "notebook_params": {"date": "2026-11-01"}, "__proto__": {"job_id": 999, "drop_all": true}}}',
    ) as unknown;
    const refused = await call(agentA, 'run_job', smuggled);
    expect(errorCode(refused)).toBe('invalid_arguments');
    expect(textOf(refused)).toContain('params.__proto__: is a member named "__proto__"');
    expect(toolCalls('run_job')).toHaveLength(0);

    const retried = await call(agentA, 'run_job', { params: { notebook_params: { date: '2026-11-01' }, job_id: 103 } }); // same arguments, other key order
    expect(JSON.parse(textOf(retried))).toHaveProperty('run_id');
    const runs = toolCalls('run_job');
    expect(runs).toHaveLength(1);
    expect(canonicalJson(runs[0]?.arguments)).toBe(canonicalJson(approved));

    const extended = await call(agentA, 'run_job', { params: { ...approved.params, constructor: { job_id: 999 } } });
    expect(errorCode(extended)).toBe('approval_pending');
    expect((extended._meta?.['airlock/error'] as { approvalId: string }).approvalId).not.toBe(approvalId);
    expect(toolCalls('run_job')).toHaveLength(1);

    const [executed] = (await gw.gateway.auditStore.story(approvalId)).filter((e) => e.type === 'executed');
    expect(canonicalJson(executed?.arguments)).toBe(canonicalJson(approved));
  });

  it('refuses 5,000 levels of nesting with invalid_arguments, audits it, and keeps serving', async () => {
    // Written as text: the SDK client's own JSON.stringify cannot even serialise this much nesting.
    const deep = `${'{"d":'.repeat(5_000)}"bottom"${'}'.repeat(5_000)}`;
    const result = await rawToolCall('list_jobs', `{"params": {"filter": ${deep}}}`);
    expect(errorCode(result)).toBe('invalid_arguments');
    expect(textOf(result)).toMatch(/nests deeper than 64 levels/);
    expect(textOf(result)).not.toMatch(/call stack/i);
    const [event] = await eventsOf('invalid_arguments', 'list_jobs');
    expect(event?.reason).toMatch(/nests deeper than 64 levels/);
    expect(event?.arguments).toBeUndefined();
    expect((await call(agentA, 'list_jobs', { params: {} })).isError).toBeFalsy();
  });
});

describe('what the audit history keeps', () => {
  it('does not let an export reader confirm a guessed redacted PIN', async () => {
    const args = { params: { job_id: 101, notebook_params: { pin: '4831' } } };
    expect(errorCode(await call(agentB, 'run_job', args))).toBe('approval_pending');
    const res = await fetch(`${gw.baseUrl}/api/audit/export?format=jsonl&type=approval_requested&agent=agent-b`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const lines = (await res.text()).trim().split('\n');
    const event = JSON.parse(lines.at(-1) ?? '{}') as AuditEvent;
    expect(event.arguments).toEqual({ params: { job_id: 101, notebook_params: { pin: '[redacted]' } } });
    expect(event.argumentsHash).toMatch(/^hmac-sha256:/);
    // The attack from the review: hash every PIN and compare. An unkeyed hash would give it away.
    const guess = (pin: string) =>
      `sha256:${createHash('sha256')
        .update(canonicalJson({ params: { job_id: 101, notebook_params: { pin } } }))
        .digest('hex')}`;
    const hex = (event.argumentsHash ?? '').split(':')[1];
    const confirmed = Array.from({ length: 10_000 }, (_, n) => String(n).padStart(4, '0')).filter((pin) => guess(pin).endsWith(hex ?? '-'));
    expect(confirmed).toEqual([]);
  });

  it('runs an allowed call with large arguments and stores a truncated copy with the full-size hash', async () => {
    const big = { params: { filter: 'y'.repeat(100_000) } };
    const result = await call(agentA, 'list_jobs', big);
    expect(result.isError).toBeFalsy();
    const [event] = (await eventsOf('allowed', 'list_jobs')).filter((e) => JSON.stringify(e.arguments).includes('airlock_truncated'));
    expect(event?.arguments).toMatchObject({
      airlock_truncated: { bytes: Buffer.byteLength(canonicalJson(big)), limit: 8_192, preview: expect.stringMatching(/^\{"params":\{"filter":"yyy/) },
    });
    const again = await call(agentA, 'list_jobs', big);
    expect(again.isError).toBeFalsy();
    const both = (await eventsOf('allowed', 'list_jobs')).filter((e) => JSON.stringify(e.arguments).includes('airlock_truncated'));
    expect(both[0]?.argumentsHash).toBe(both[1]?.argumentsHash);
  });

  it('refuses to hold a call whose arguments an approver could not read in full (over approvals.maxArgumentsBytes)', async () => {
    const before = (await api.approvals('pending')).length;
    const result = await call(agentA, 'run_job', { params: { job_id: 101, notebook_params: { blob: 'z'.repeat(200_000) } } });
    expect(errorCode(result)).toBe('invalid_arguments');
    expect(textOf(result)).toContain('approvals.maxArgumentsBytes 131072');
    expect(await api.approvals('pending')).toHaveLength(before);
  });
});
