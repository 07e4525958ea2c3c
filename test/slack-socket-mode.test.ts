/**
 * Slack in Socket Mode, end to end: the gateway gets SLACK_APP_TOKEN (no signing secret, no public
 * URL); the fake Slack Web API answers `apps.connections.open` with the URL of a local fake Socket
 * Mode endpoint; the gateway connects, the held run_job is posted through the Web API, and the
 * Approve click arrives as an interactive envelope over the WebSocket — acknowledged by the
 * gateway, and the agent gets the run id.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { blockActionsPayload, startFakeSlack } from './helpers/fake-slack.js';
import { startFakeSocketMode } from './helpers/fake-socket-mode.js';
import { startTestGateway, textOf } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio } from './helpers/upstreams.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('Slack over Socket Mode', () => {
  it('connects through apps.connections.open, acknowledges the Approve envelope, and the agent gets the run id', async () => {
    const socket = await startFakeSocketMode();
    cleanups.push(() => socket.close());
    const slack = await startFakeSlack({ socketModeUrl: socket.url });
    cleanups.push(() => slack.close());
    const callLog = createCallLog();
    const gw = await startTestGateway({
      mcpServers: { databricks: databricksMockStdio({ callLog }) },
      policy: { version: '1', default: 'allow', tools: { run_job: { action: 'approve', approval: { approvers: ['U0APPROVER1'], channel: 'C0APPROVALS' } } } },
      config: { approvals: { progressInterval: '300ms' } },
      env: { SLACK_BOT_TOKEN: 'xoxb-socket', SLACK_APP_TOKEN: 'xapp-1-socket-test', SLACK_API_URL: slack.url },
    });
    cleanups.push(() => gw.close());
    await socket.connected();
    expect(slack.calls('apps.connections.open')).toHaveLength(1);
    // No /slack/events in Socket Mode: nothing public to post to.
    expect((await fetch(`${gw.baseUrl}/slack/events`, { method: 'POST' })).status).toBe(404);

    const client = await gw.connect('agent-a');
    const pending = client.callTool({ name: 'run_job', arguments: { params: { job_id: 123 } } }, CallToolResultSchema, {
      onprogress: () => undefined,
      resetTimeoutOnProgress: true,
      timeout: 30_000,
    }) as Promise<CallToolResult>;
    const [message] = await slack.waitFor('chat.postMessage', 1);
    const approvalId = /apr_[a-z0-9]+/.exec(JSON.stringify(message?.args['blocks']))?.[0] ?? '';
    expect(callLog.calls()).toHaveLength(0);

    const ack = await socket.send('interactive', blockActionsPayload({ action: 'airlock_approve', approvalId, user: 'U0APPROVER1' }));
    expect(ack.envelope_id).toEqual(expect.any(String));
    expect(JSON.parse(textOf(await pending))).toHaveProperty('run_id');
    expect(callLog.calls().filter((c) => c.tool === 'run_job')).toHaveLength(1);
  });

  it('refuses a click from someone who is not an approver, over the socket too', async () => {
    const socket = await startFakeSocketMode();
    cleanups.push(() => socket.close());
    const slack = await startFakeSlack({ socketModeUrl: socket.url });
    cleanups.push(() => slack.close());
    const callLog = createCallLog();
    const gw = await startTestGateway({
      mcpServers: { databricks: databricksMockStdio({ callLog }) },
      policy: { version: '1', default: 'allow', tools: { run_job: { action: 'approve', approval: { approvers: ['U0APPROVER1'], channel: 'C0APPROVALS' } } } },
      env: { SLACK_BOT_TOKEN: 'xoxb-socket', SLACK_APP_TOKEN: 'xapp-1-socket-test', SLACK_API_URL: slack.url },
    });
    cleanups.push(() => gw.close());
    await socket.connected();
    const client = await gw.connect('agent-a');
    void client.callTool({ name: 'run_job', arguments: { params: { job_id: 123 } } }).catch(() => undefined);
    const [message] = await slack.waitFor('chat.postMessage', 1);
    const approvalId = /apr_[a-z0-9]+/.exec(JSON.stringify(message?.args['blocks']))?.[0] ?? '';
    await socket.send('interactive', blockActionsPayload({ action: 'airlock_approve', approvalId, user: 'U0STRANGER' }));
    const [told] = await slack.waitFor('chat.postEphemeral', 1);
    expect(String(told?.args['text'])).toMatch(/not an approver/);
    expect(callLog.calls()).toHaveLength(0);
  });
});
