/**
 * Context for the approver, end to end: a real gateway holds run_job (pinned to params.job_id),
 * the official SDK client calls it, an operator approves through the REST API; the next held call
 * of the same job shows when it was last approved, by whom, and what changed in its arguments — in
 * the REST API's view, the Slack message built from it, and the dashboard page. A call of another
 * job has no such line.
 */
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApprovalView } from '../src/approvals/approval-view.js';
import { approvalMessage } from '../src/slack/blocks.js';
import { adminApi } from './helpers/admin-api.js';
import { adminToken, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio } from './helpers/upstreams.js';

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

const runJob = (jobId: number, date: string) => ({ name: 'run_job', arguments: { params: { job_id: jobId, notebook_params: { env: 'prod', date } } } });

describe('the last approved call', () => {
  it('is shown with each argument change beside the next held call of the same tool and pinned values', async () => {
    const gw = await startTestGateway({
      mcpServers: { databricks: databricksMockStdio({ callLog: createCallLog() }) },
      policy: {
        version: '1',
        default: 'allow',
        tools: { run_job: { action: 'approve', approval: { timeout: '60s', grants: { pin: ['params.job_id'], max_duration: '1h' } } } },
      },
      config: { approvals: { progressInterval: '300ms', answerPendingAfter: '1s' } },
    });
    gateways.push(gw);
    const api = adminApi(gw.baseUrl);
    const client = await gw.connect('agent-a');
    const call = (args: ReturnType<typeof runJob>) =>
      client.callTool(args, CallToolResultSchema, { onprogress: () => undefined, resetTimeoutOnProgress: true, timeout: 15_000 });

    const first = call(runJob(123, '2026-11-01'));
    const [held] = await api.waitForPending();
    expect(held?.previous).toBeUndefined();
    expect((await api.approve(held!.id, 'alice')).status).toBe(200);
    await first;

    const second = call(runJob(123, '2026-11-02'));
    const [next] = await api.waitForPending();
    expect(next?.previous).toMatchObject({
      approvalId: held!.id,
      agent: 'agent-a',
      decidedBy: { id: 'admin:alice' },
      changes: [{ path: 'params.notebook_params.date', from: '2026-11-01', to: '2026-11-02' }],
      moreChanges: 0,
    });
    const slack = JSON.stringify(approvalMessage(next as ApprovalView).blocks);
    expect(slack).toContain('*Last approved*');
    expect(slack).toContain('`params.notebook_params.date` changed from `\\"2026-11-01\\"` to `\\"2026-11-02\\"`');

    const browser = request.agent(gw.baseUrl);
    const form = await browser.get('/login').expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1];
    await browser.post('/login').set('Origin', gw.baseUrl).type('form').send({ _csrf: csrf, user: 'admin', token: adminToken }).expect(303);
    const page = await browser.get(`/approvals/${next!.id}`).expect(200);
    expect(page.text).toContain('<dt>Last approved</dt>');
    expect(page.text).toContain('<code>params.notebook_params.date</code> changed from <code>2026-11-01</code> to <code>2026-11-02</code>');
    expect((await api.deny(next!.id, 'not today')).status).toBe(200);
    await second;

    const other = call(runJob(124, '2026-11-02'));
    const pending = await api.waitForPending();
    expect(pending).toHaveLength(1);
    expect(pending[0]?.previous).toBeUndefined();
    expect((await api.deny(pending[0]!.id, 'no')).status).toBe(200);
    await other;
  }, 60_000);
});
