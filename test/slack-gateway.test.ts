/**
 * Slack approvals through the whole gateway: an SDK client's run_job is held, the approval request
 * lands on a local fake of the Slack Web API, and signed clicks posted to the gateway's own
 * /slack/events (exactly as Slack posts them) release or reject the call.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { blockActionsPayload, interactionBody, signSlackRequest, viewSubmissionPayload, type FakeSlack } from './helpers/fake-slack.js';
import { textOf, type TestGateway } from './helpers/gateway.js';
import { startSlackGateway } from './helpers/slack-gateway.js';
import { createCallLog, type CallLog } from './helpers/upstreams.js';

const signingSecret = 'gateway-test-signing-secret';
const runJobArgs = { params: { job_id: 123, notebook_params: { env: 'prod', date: '2026-11-01' } } };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function setup(callLog: CallLog): Promise<{ gw: TestGateway; slack: FakeSlack }> {
  return startSlackGateway({
    callLog,
    signingSecret,
    cleanups,
    owners: { 'agent-a': 'U0OWNER' },
    policy: {
      version: '1',
      default: 'allow',
      tools: {
        run_job: {
          action: 'approve',
          reason: 'Runs start compute.',
          approval: { approvers: ['U0APPROVER1'], channel: 'C0DATAAPPROVALS', timeout: '5m', show: ['params.job_id', 'params.notebook_params'] },
        },
      },
    },
  });
}

async function post(gw: TestGateway, payload: unknown): Promise<number> {
  const body = interactionBody(payload);
  const res = await fetch(`${gw.baseUrl}/slack/events`, {
    method: 'POST',
    headers: { ...signSlackRequest(body, signingSecret), 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  return res.status;
}

function heldCall(gw: TestGateway): Promise<CallToolResult> {
  return gw.connect('agent-a').then(
    (client) =>
      client.callTool({ name: 'run_job', arguments: runJobArgs }, CallToolResultSchema, {
        onprogress: () => undefined,
        resetTimeoutOnProgress: true,
        timeout: 20_000,
      }) as Promise<CallToolResult>,
  );
}

describe('Slack approvals through the gateway', () => {
  it('posts the held run_job with its job_id and notebook_params; Approve releases it and the agent gets the run id', async () => {
    const callLog = createCallLog();
    const { gw, slack } = await setup(callLog);
    const pending = heldCall(gw);
    const [message] = await slack.waitFor('chat.postMessage', 1);
    expect(message?.args['channel']).toBe('C0DATAAPPROVALS');
    const blocks = JSON.stringify(message?.args['blocks']);
    for (const expected of ['run_job', 'agent-a', 'U0OWNER', 'params.job_id', '123', 'notebook_params', '2026-11-01', 'Runs start compute.'])
      expect(blocks).toContain(expected);
    const approvalId = /apr_[a-z0-9]+/.exec(blocks)?.[0] ?? '';
    expect(callLog.calls()).toHaveLength(0);

    expect(await post(gw, blockActionsPayload({ action: 'airlock_approve', approvalId, user: 'U0APPROVER1' }))).toBe(200);
    const result = await pending;
    expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number) });
    expect(callLog.calls().filter((c) => c.tool === 'run_job')).toHaveLength(1);

    const [update] = await slack.waitFor('chat.update', 1);
    expect(JSON.stringify(update?.args['blocks'])).toMatch(/U0APPROVER1/);
    expect(JSON.stringify(update?.args['blocks'])).not.toContain('airlock_approve');
    const replies = await slack.waitFor('chat.postMessage', 2);
    expect(replies[1]?.args['thread_ts']).toBe(update?.args['ts']); // a reply in the approval message's thread
    expect(String(replies[1]?.args['text'])).toMatch(/run_id \d+/);
  });

  it('denies with the reason typed in the modal, and the agent reads that reason', async () => {
    const callLog = createCallLog();
    const { gw, slack } = await setup(callLog);
    const pending = heldCall(gw);
    const [message] = await slack.waitFor('chat.postMessage', 1);
    const approvalId = /apr_[a-z0-9]+/.exec(JSON.stringify(message?.args['blocks']))?.[0] ?? '';

    expect(await post(gw, blockActionsPayload({ action: 'airlock_deny', approvalId, user: 'U0APPROVER1', triggerId: 'trigger-123' }))).toBe(200);
    const [modal] = await slack.waitFor('views.open', 1);
    expect(modal?.args['trigger_id']).toBe('trigger-123');
    const view = (typeof modal?.args['view'] === 'string' ? JSON.parse(modal.args['view']) : modal?.args['view']) as { private_metadata: string };
    expect(
      await post(gw, viewSubmissionPayload({ user: 'U0APPROVER1', privateMetadata: view.private_metadata, reason: 'Use job 124, the staging copy.' })),
    ).toBe(200);

    const result = await pending;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('Use job 124, the staging copy.');
    expect(callLog.calls()).toHaveLength(0);
  });

  it('shows an undeliverable request in /readyz and /metrics, and the call stays decidable through the API', async () => {
    const callLog = createCallLog();
    const { gw, slack } = await setup(callLog);
    slack.failNext('chat.postMessage', 1, 'channel_not_found');
    const pending = heldCall(gw);
    const deadline = Date.now() + 10_000;
    let ready = (await (await fetch(`${gw.baseUrl}/readyz`)).json()) as {
      ready: boolean;
      notReady: string[];
      checks: Array<{ name: string; detail?: string }>;
    };
    while (ready.ready && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      ready = (await (await fetch(`${gw.baseUrl}/readyz`)).json()) as typeof ready;
    }
    expect(ready.notReady).toContain('approval channel delivery');
    expect(ready.checks.find((c) => c.name === 'approval channel delivery')?.detail).toMatch(/channel_not_found/);
    const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^airlock_channel_delivery_failures_total\{channel="slack"\} 1$/m);

    const [held] = await adminApi(gw.baseUrl).waitForPending();
    expect((await adminApi(gw.baseUrl).approve(held?.id ?? '')).status).toBe(200);
    expect(JSON.parse(textOf(await pending))).toHaveProperty('run_id');
  });

  it('answers a forged click with 401 and decides nothing', async () => {
    const { gw, slack } = await setup(createCallLog());
    void heldCall(gw).catch(() => undefined);
    const [message] = await slack.waitFor('chat.postMessage', 1);
    const approvalId = /apr_[a-z0-9]+/.exec(JSON.stringify(message?.args['blocks']))?.[0] ?? '';
    const body = interactionBody(blockActionsPayload({ action: 'airlock_approve', approvalId, user: 'U0APPROVER1' }));
    const forged = await fetch(`${gw.baseUrl}/slack/events`, {
      method: 'POST',
      headers: { ...signSlackRequest(body, 'not-the-secret'), 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(forged.status).toBe(401);
    const record = await gw.gateway.approvals.get(approvalId);
    expect(record?.status).toBe('pending');
  });
});
