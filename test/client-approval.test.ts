/**
 * Approval in the agent's own client (MCP elicitation), end to end: official SDK clients with and
 * without an elicitation handler call run_job through a real gateway (real Redis, the Databricks
 * mock). The client whose call is held is asked on its own request's stream, accepts, and gets the
 * run_id; a second client of the same agent connected at the same time is never asked; a client
 * without elicitation is held as usual. The answer is a vote by the agent's owner.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, ElicitRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../src/audit/types.js';
import { adminApi } from './helpers/admin-api.js';
import { startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio } from './helpers/upstreams.js';

const gateways: TestGateway[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(approval: Record<string, unknown>): Promise<TestGateway> {
  const gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog: createCallLog() }) },
    owners: { 'agent-a': 'U0OWNER1' },
    policy: {
      version: '1',
      default: 'allow',
      tools: { run_job: { action: 'approve', approval: { timeout: '60s', show: ['params.job_id'], client: true, ...approval } } },
    },
    config: { approvals: { progressInterval: '300ms', answerPendingAfter: '1s' } },
  });
  gateways.push(gw);
  return gw;
}

/** An SDK client; with `answer`, it declares elicitation and answers every question with it (recording the messages). */
async function connect(gw: TestGateway, answer?: { action: 'accept' | 'decline'; content?: Record<string, string> }) {
  const asked: string[] = [];
  const client = new Client({ name: 'agent', version: '1.0.0' }, answer ? { capabilities: { elicitation: {} } } : {});
  if (answer) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.params.message);
      return answer;
    });
  }
  const transport = new StreamableHTTPClientTransport(new URL(gw.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${gw.tokens['agent-a']}` } } });
  await client.connect(transport);
  clients.push(client);
  return { client, asked };
}

const runJob = (jobId: number) => ({ name: 'run_job', arguments: { params: { job_id: jobId, notebook_params: { env: 'prod' } } } });
const callWaiting = (client: Client, jobId: number) =>
  client.callTool(runJob(jobId), CallToolResultSchema, {
    onprogress: () => undefined,
    resetTimeoutOnProgress: true,
    timeout: 15_000,
  }) as Promise<CallToolResult>;

describe("approval in the agent's own client", () => {
  it('asks the client whose call is held, which accepts and gets the run_id; another client is never asked; one without elicitation is held', async () => {
    const gw = await gateway({ approvers: ['U0OWNER1'], allow_self_approval: true });
    const api = adminApi(gw.baseUrl);
    const asking = await connect(gw, { action: 'accept', content: { reason: 'looks right' } });
    const bystander = await connect(gw, { action: 'decline' });

    const result = await callWaiting(asking.client, 123);
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(textOf(result))).toHaveProperty('run_id');
    expect(asking.asked).toEqual(["Approve run_job on databricks? params.job_id 123\n(tools.run_job requires a person's approval for this call.)"]);
    expect(bystander.asked).toEqual([]);
    const approved = (await api.get<{ events: AuditEvent[] }>('/audit?type=approved')).body.events;
    expect(approved).toHaveLength(1);
    expect(approved[0]).toMatchObject({ actor: { kind: 'client', id: 'U0OWNER1' }, reason: 'looks right' });

    const plain = await connect(gw);
    const held = callWaiting(plain.client, 101);
    const [pending] = await api.waitForPending();
    expect(pending?.arguments).toEqual({ params: { job_id: 101, notebook_params: { env: 'prod' } } });
    expect((await api.approve(pending!.id)).status).toBe(200);
    expect(JSON.parse(textOf(await held))).toHaveProperty('run_id');
    expect(bystander.asked).toEqual([]);
  }, 60_000);

  it("counts the client's approval as the owner's one vote of a quorum of two, and refuses it where owners may not approve", async () => {
    const gw = await gateway({ approvers: ['U0OWNER1', 'U0APPROVER2'], quorum: 2, allow_self_approval: true });
    const api = adminApi(gw.baseUrl);
    const asking = await connect(gw, { action: 'accept' });
    const answer = callWaiting(asking.client, 123);
    const [pending] = await api.waitForPending();
    await expect.poll(async () => (await api.get<{ approval: { approvals: number } }>(`/approvals/${pending!.id}`)).body.approval.approvals).toBe(1);
    expect((await api.approve(pending!.id)).status).toBe(200);
    expect(JSON.parse(textOf(await answer))).toHaveProperty('run_id');
    expect(asking.asked).toHaveLength(1);

    const strict = await gateway({ approvers: ['U0OWNER1'] });
    const strictApi = adminApi(strict.baseUrl);
    const owner = await connect(strict, { action: 'accept' });
    const refused = callWaiting(owner.client, 125);
    const [stillPending] = await strictApi.waitForPending();
    await expect
      .poll(async () => (await strictApi.get<{ events: AuditEvent[] }>('/audit?type=unauthorized_approver')).body.events.map((e) => e.actor?.kind))
      .toEqual(['client']);
    expect((await strictApi.get<{ approval: { status: string } }>(`/approvals/${stillPending!.id}`)).body.approval.status).toBe('pending');
    expect((await strictApi.deny(stillPending!.id, 'no')).status).toBe(200);
    expect((await refused).isError).toBe(true);
  }, 60_000);
});
