/**
 * Slack as the approver's home, through the whole gateway over HTTP (signed requests posted to
 * /slack/events the way Slack posts them; the fake Slack Web API records what the gateway sends):
 * the App Home tab lists exactly the held calls the viewing user may decide, and `/airlock`
 * answers ephemerally — `pending`, `show`, `approve` (refused and audited for a non-approver,
 * releasing the call for an approver), `deny` with a reason the agent reads; with the policy's
 * `direct_message`, each named approver also gets the request as a DM, kept up to date.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { signSlackRequest, type FakeSlack } from './helpers/fake-slack.js';
import { adminToken, textOf, type TestGateway } from './helpers/gateway.js';
import { startSlackGateway } from './helpers/slack-gateway.js';
import { createCallLog, type CallLog } from './helpers/upstreams.js';

const signingSecret = 'home-command-signing-secret';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function setup(callLog: CallLog): Promise<{ gw: TestGateway; slack: FakeSlack }> {
  return startSlackGateway({
    callLog,
    signingSecret,
    cleanups,
    policy: {
      version: '1',
      default: 'allow',
      tools: {
        run_job: { action: 'approve', approval: { approvers: ['U0DATA'], channel: 'C0APPROVALS', timeout: '5m' } },
        list_jobs: { action: 'approve', approval: { approvers: ['U0OPS'], channel: 'C0APPROVALS', timeout: '5m' } },
      },
    },
  });
}

function call(gw: TestGateway, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return gw.connect('agent-a').then(
    (client) =>
      client.callTool({ name, arguments: args }, CallToolResultSchema, {
        onprogress: () => undefined,
        resetTimeoutOnProgress: true,
        timeout: 30_000,
      }) as Promise<CallToolResult>,
  );
}

/** `/airlock <text>` from `user`, as Slack posts a slash command; the ephemeral answer Slack would show. */
async function slash(gw: TestGateway, user: string, text: string): Promise<{ response_type?: string; text?: string }> {
  const body = new URLSearchParams({
    token: 'legacy',
    team_id: 'T0TEAM',
    team_domain: 'example',
    channel_id: 'C0APPROVALS',
    channel_name: 'approvals',
    user_id: user,
    user_name: user.toLowerCase(),
    command: '/airlock',
    text,
    api_app_id: 'A0AIRLOCK',
    response_url: 'https://hooks.slack.invalid/commands/1',
    trigger_id: 'trigger-slash',
  }).toString();
  const res = await fetch(`${gw.baseUrl}/slack/events`, {
    method: 'POST',
    headers: { ...signSlackRequest(body, signingSecret), 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { response_type?: string; text?: string };
}

/** The `app_home_opened` event for `user`, as Slack posts it. */
async function openHome(gw: TestGateway, user: string): Promise<void> {
  const body = JSON.stringify({
    token: 'legacy',
    team_id: 'T0TEAM',
    api_app_id: 'A0AIRLOCK',
    type: 'event_callback',
    event_id: `Ev${Math.random().toString(36).slice(2)}`,
    event_time: Math.floor(Date.now() / 1_000),
    event: { type: 'app_home_opened', user, channel: 'D0HOME', tab: 'home', event_ts: `${Date.now() / 1_000}` },
  });
  const res = await fetch(`${gw.baseUrl}/slack/events`, {
    method: 'POST',
    headers: { ...signSlackRequest(body, signingSecret), 'content-type': 'application/json' },
    body,
  });
  expect(res.status).toBe(200);
}

describe('Slack as the approver’s home', () => {
  it('with direct_message, also sends the request to each approver named by user ID, and keeps those messages up to date', async () => {
    const { gw, slack } = await startSlackGateway({
      callLog: createCallLog(),
      signingSecret,
      cleanups,
      policy: {
        version: '1',
        default: 'allow',
        tools: { run_job: { action: 'approve', approval: { approvers: ['U0DATA', 'U0OTHER', 'S0GROUP'], channel: 'C0APPROVALS', direct_message: true } } },
      },
    });
    const pending = call(gw, 'run_job', { params: { job_id: 123 } });
    const posts = await slack.waitFor('chat.postMessage', 3);
    expect(posts.map((p) => p.args['channel']).sort()).toEqual(['C0APPROVALS', 'U0DATA', 'U0OTHER']);
    const [held] = await adminApi(gw.baseUrl).waitForPending();
    expect((await adminApi(gw.baseUrl).approve(held?.id ?? '')).status).toBe(200);
    expect(JSON.parse(textOf(await pending))).toHaveProperty('run_id');
    const updates = await slack.waitFor('chat.update', 3);
    expect(new Set(updates.map((u) => u.args['channel']))).toEqual(new Set(['C0APPROVALS', 'U0DATA', 'U0OTHER']));
    expect(slack.calls('chat.postMessage').filter((p) => !p.args['thread_ts'])).toHaveLength(3);
  });

  it('the Home tab lists exactly the held calls the viewing user may decide', async () => {
    const { gw, slack } = await setup(createCallLog());
    void call(gw, 'run_job', { params: { job_id: 123 } }).catch(() => undefined);
    void call(gw, 'list_jobs', { params: {} }).catch(() => undefined);
    const held = await adminApi(gw.baseUrl).waitForPending(2);
    const runJobId = held.find((a) => a.tool === 'run_job')?.id ?? '';
    const listJobsId = held.find((a) => a.tool === 'list_jobs')?.id ?? '';

    await openHome(gw, 'U0DATA');
    const [published] = await slack.waitFor('views.publish', 1);
    expect(published?.args['user_id']).toBe('U0DATA');
    const view = JSON.stringify(published?.args['view']);
    expect(view).toContain(runJobId);
    expect(view).not.toContain(listJobsId);
    expect(view).toContain('airlock_approve');

    await openHome(gw, 'U0NOBODY');
    const [, empty] = await slack.waitFor('views.publish', 2);
    expect(empty?.args['user_id']).toBe('U0NOBODY');
    expect(JSON.stringify(empty?.args['view'])).not.toMatch(/apr_/);
    expect(JSON.stringify(empty?.args['view'])).toContain('Nothing waits for you');
  });

  it('/airlock pending, show, approve and deny answer ephemerally and obey the approvers list', async () => {
    const callLog = createCallLog();
    const { gw } = await setup(callLog);
    const runJob = call(gw, 'run_job', { params: { job_id: 123 } });
    const listJobs = call(gw, 'list_jobs', { params: {} });
    const held = await adminApi(gw.baseUrl).waitForPending(2);
    const runJobId = held.find((a) => a.tool === 'run_job')?.id ?? '';
    const listJobsId = held.find((a) => a.tool === 'list_jobs')?.id ?? '';

    const pending = await slash(gw, 'U0DATA', 'pending');
    expect(pending.response_type).toBe('ephemeral');
    expect(pending.text).toContain(runJobId);
    expect(pending.text).not.toContain(listJobsId);
    expect((await slash(gw, 'U0DATA', `show ${runJobId}`)).text).toMatch(/"job_id": 123/);

    // A non-approver is refused (and audited); nothing runs.
    const refused = await slash(gw, 'U0OPS', `approve ${runJobId}`);
    expect(refused.text).toMatch(/not an approver/);
    expect(callLog.calls()).toHaveLength(0);
    const story = await fetch(`${gw.baseUrl}/api/audit/approvals/${runJobId}`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(JSON.stringify(await story.json())).toContain('unauthorized_approver');

    expect((await slash(gw, 'U0DATA', `approve ${runJobId}`)).text).toMatch(/^Approved `run_job`/);
    expect(JSON.parse(textOf(await runJob))).toHaveProperty('run_id');

    expect((await slash(gw, 'U0OPS', `deny ${listJobsId}`)).text).toMatch(/Say why/);
    expect((await slash(gw, 'U0OPS', `deny ${listJobsId} not during the freeze`)).text).toMatch(/^Denied/);
    expect(textOf(await listJobs)).toContain('not during the freeze');
    expect(callLog.calls().map((c) => c.tool)).toEqual(['run_job']);
    expect((await slash(gw, 'U0DATA', 'frobnicate')).text).toMatch(/Usage/);
  });
});
