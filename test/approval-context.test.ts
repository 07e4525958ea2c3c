/**
 * Context for approvers from the upstream (policy `approval.context`), end to end: a real gateway
 * holds run_job in front of the Databricks mock, and reads the job's entry from list_jobs on the
 * agent's own session beside the hold; the REST view, the Slack message built from it and the
 * dashboard page show the job's name. With a slow upstream the call is held at once (context still
 * loading) and the context ends as "unavailable" after its timeout.
 */
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApprovalView } from '../src/approvals/approval-view.js';
import { approvalMessage } from '../src/slack/blocks.js';
import { adminApi, type AdminApi } from './helpers/admin-api.js';
import { adminToken, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio } from './helpers/upstreams.js';

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

function policy(timeout: string) {
  return {
    version: '1',
    default: 'allow',
    tools: {
      run_job: {
        action: 'approve',
        approval: {
          timeout: '60s',
          context: [{ label: 'Job', tool: 'list_jobs', arguments: { params: {} }, find: { in: 'jobs', match: { job_id: 'params.job_id' } }, timeout }],
        },
      },
    },
  };
}

async function gateway(contextTimeout: string, delayMs = 0): Promise<TestGateway> {
  const gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog: createCallLog(), ...(delayMs ? { delayMs } : {}) }) },
    policy: policy(contextTimeout),
    config: { approvals: { progressInterval: '300ms', answerPendingAfter: '1s' } },
  });
  gateways.push(gw);
  return gw;
}

async function contextOf(api: AdminApi, id: string): Promise<NonNullable<ApprovalView['context']>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const view = (await api.get<{ approval: ApprovalView }>(`/approvals/${id}`)).body.approval;
    if (view.context?.entries) return view.context;
    if (Date.now() > deadline) throw new Error('context never arrived');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const runJob = { name: 'run_job', arguments: { params: { job_id: 123, notebook_params: { env: 'prod' } } } };

describe('context for approvers', () => {
  it("shows the job's entry from list_jobs in the API view, the Slack message and the dashboard", async () => {
    const gw = await gateway('5s');
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const answer = client.callTool(runJob, CallToolResultSchema, { onprogress: () => undefined, resetTimeoutOnProgress: true, timeout: 15_000 });
    const [held] = await api.waitForPending();
    const context = await contextOf(api, held!.id);
    expect(context.labels).toEqual(['Job']);
    expect(context.entries).toEqual([expect.objectContaining({ label: 'Job', tool: 'list_jobs', state: 'ok' })]);
    expect(JSON.parse(context.entries?.[0]?.text ?? '{}')).toEqual({ job_id: 123, settings: { name: 'finance-close' } });

    const view = (await api.get<{ approval: ApprovalView }>(`/approvals/${held!.id}`)).body.approval;
    const slack = JSON.stringify(approvalMessage(view).blocks);
    expect(slack).toContain('*Job* (from `list_jobs`)');
    expect(slack).toContain('finance-close');

    const browser = request.agent(gw.baseUrl);
    const form = await browser.get('/login').expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1];
    await browser.post('/login').set('Origin', gw.baseUrl).type('form').send({ _csrf: csrf, user: 'admin', token: adminToken }).expect(303);
    const page = await browser.get(`/approvals/${held!.id}`).expect(200);
    expect(page.text).toMatch(/<dt>\s*Job <span class="muted">from <code>list_jobs<\/code><\/span>\s*<\/dt>/);
    expect(page.text).toContain('finance-close');

    expect((await api.approve(held!.id)).status).toBe(200);
    expect((await answer).isError).toBeFalsy();
  }, 60_000);

  it('holds the call at once while a slow context call is still out, then shows it as unavailable after its timeout', async () => {
    const gw = await gateway('300ms', 3_000);
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const answer = client.callTool(runJob, CallToolResultSchema, { onprogress: () => undefined, resetTimeoutOnProgress: true, timeout: 15_000 });
    const [held] = await api.waitForPending();
    expect(held?.context).toEqual({ labels: ['Job'] }); // held, its context still loading (entries not there yet)
    expect(JSON.stringify(approvalMessage(held!).blocks)).toContain('Context (Job): loading');
    const context = await contextOf(api, held!.id);
    expect(context.entries).toEqual([{ label: 'Job', tool: 'list_jobs', state: 'unavailable', why: 'no answer within 300 ms' }]);
    const view = (await api.get<{ approval: ApprovalView }>(`/approvals/${held!.id}`)).body.approval;
    expect(JSON.stringify(approvalMessage(view).blocks)).toContain('_context unavailable_ (no answer within 300 ms)');
    expect((await api.deny(held!.id, 'not now')).status).toBe(200);
    expect((await answer).isError).toBe(true);
  }, 60_000);
});
