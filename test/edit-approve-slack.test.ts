/**
 * Edit, then approve, in Slack through the whole gateway: the held run_job's message carries an
 * "Edit & approve…" button where the policy lists editable paths; the click opens a modal with the
 * values asked; its submission (signed, as Slack posts it) approves the call with the edited
 * `notebook_params`, which is what the mock runs; an edit the policy refuses shows its reason in
 * the modal and nothing runs.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { blockActionsPayload, interactionBody, signSlackRequest, type FakeSlack } from './helpers/fake-slack.js';
import { textOf, type TestGateway } from './helpers/gateway.js';
import { startSlackGateway } from './helpers/slack-gateway.js';
import { createCallLog, type CallLog } from './helpers/upstreams.js';

const signingSecret = 'edit-slack-signing-secret';
const asked = { params: { job_id: 123, notebook_params: { env: 'prod', date: '2026-11-01' } } };

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
        run_job: {
          action: 'approve',
          constraints: { 'params.notebook_params.env': { in: ['prod', 'staging'] } },
          approval: { approvers: ['U0APPROVER1'], channel: 'C0APPROVALS', timeout: '5m', editable: ['params.notebook_params'] },
        },
      },
    },
  });
}

async function post(gw: TestGateway, payload: unknown): Promise<{ status: number; body: string }> {
  const body = interactionBody(payload);
  const res = await fetch(`${gw.baseUrl}/slack/events`, {
    method: 'POST',
    headers: { ...signSlackRequest(body, signingSecret), 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  return { status: res.status, body: await res.text() };
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

interface ModalView {
  callback_id: string;
  private_metadata: string;
  blocks: Array<{ type: string; block_id?: string; label?: { text: string }; element?: { initial_value?: string } }>;
}

/** The Edit modal's submission as Slack posts it, with `value` typed into the first box. */
function editSubmission(view: ModalView, user: string, value: string): Record<string, unknown> {
  const box = view.blocks.find((b) => b.type === 'input');
  return {
    type: 'view_submission',
    team: { id: 'T0TEAM', domain: 'example' },
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: 'T0TEAM' },
    api_app_id: 'A0AIRLOCK',
    token: 'legacy-verification-token',
    trigger_id: 'trigger-edit-submit',
    view: {
      id: 'V0EDIT',
      type: 'modal',
      callback_id: view.callback_id,
      private_metadata: view.private_metadata,
      state: { values: { [box?.block_id ?? '']: { value: { type: 'plain_text_input', value } } } },
    },
  };
}

async function openEditModal(gw: TestGateway, slack: FakeSlack): Promise<{ approvalId: string; view: ModalView }> {
  const [message] = await slack.waitFor('chat.postMessage', 1);
  const blocks = JSON.stringify(message?.args['blocks']);
  expect(blocks).toContain('airlock_edit');
  const approvalId = /apr_[a-z0-9]+/.exec(blocks)?.[0] ?? '';
  expect((await post(gw, blockActionsPayload({ action: 'airlock_edit', approvalId, user: 'U0APPROVER1', triggerId: 'trigger-edit' }))).status).toBe(200);
  const [opened] = await slack.waitFor('views.open', 1);
  const view = (typeof opened?.args['view'] === 'string' ? JSON.parse(opened.args['view']) : opened?.args['view']) as ModalView;
  return { approvalId, view };
}

describe('edit, then approve, in Slack', () => {
  it('opens a modal with the asked values; submitting changed values approves the edited call, which runs once', async () => {
    const callLog = createCallLog();
    const { gw, slack } = await setup(callLog);
    const pending = heldCall(gw);
    const { view } = await openEditModal(gw, slack);
    const box = view.blocks.find((b) => b.type === 'input');
    expect(box?.label?.text).toBe('params.notebook_params');
    expect(JSON.parse(box?.element?.initial_value ?? 'null')).toEqual(asked.params.notebook_params);

    const submitted = await post(gw, editSubmission(view, 'U0APPROVER1', '{"env": "staging", "date": "2026-11-01"}'));
    expect(submitted.status).toBe(200);
    expect(submitted.body).not.toContain('errors');
    const result = await pending;
    expect(textOf(result)).toContain('params.notebook_params: {"date":"2026-11-01","env":"prod"} → {"date":"2026-11-01","env":"staging"}');
    expect(
      callLog
        .calls()
        .filter((c) => c.tool === 'run_job')
        .map((c) => c.arguments),
    ).toEqual([{ params: { job_id: 123, notebook_params: { env: 'staging', date: '2026-11-01' } } }]);
    // The shared message says the call ran edited, and by whom.
    const [update] = await slack.waitFor('chat.update', 1);
    expect(JSON.stringify(update?.args['blocks'])).toMatch(/Edited before approval\* by <@U0APPROVER1>/);
  });

  it('shows a refused edit in the modal (constraint broken, or not JSON) and nothing runs', async () => {
    const callLog = createCallLog();
    const { gw, slack } = await setup(callLog);
    void heldCall(gw).catch(() => undefined);
    const { view } = await openEditModal(gw, slack);
    const refused = await post(gw, editSubmission(view, 'U0APPROVER1', '{"env": "dev"}'));
    expect(refused.status).toBe(200);
    expect(JSON.parse(refused.body)).toMatchObject({ response_action: 'errors' });
    expect(refused.body).toMatch(/breaks the policy's constraints/);
    const notJson = await post(gw, editSubmission(view, 'U0APPROVER1', '{env: dev'));
    expect(JSON.parse(notJson.body)).toMatchObject({ response_action: 'errors' });
    expect(notJson.body).toMatch(/Not valid JSON/);
    expect(callLog.calls()).toHaveLength(0);
  });

  it('does not open the modal for someone who may not approve', async () => {
    const { gw, slack } = await setup(createCallLog());
    void heldCall(gw).catch(() => undefined);
    const [message] = await slack.waitFor('chat.postMessage', 1);
    const approvalId = /apr_[a-z0-9]+/.exec(JSON.stringify(message?.args['blocks']))?.[0] ?? '';
    await post(gw, blockActionsPayload({ action: 'airlock_edit', approvalId, user: 'U0STRANGER' }));
    const [ephemeral] = await slack.waitFor('chat.postEphemeral', 1);
    expect(String(ephemeral?.args['text'])).toMatch(/not an approver/);
    expect(slack.calls('views.open')).toHaveLength(0);
  });
});
