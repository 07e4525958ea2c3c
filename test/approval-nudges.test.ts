/**
 * Reminders and escalation of a held call through the whole gateway, with two replicas sharing
 * Redis (both run every worker): the policy's `remind` and `escalate` steps become BullMQ delayed
 * jobs with stable ids at the right delays, each is posted once (a Slack thread reply mentioning
 * the approvers; the escalation's channel gets the message; the webhook receiver hears both),
 * each is audited once, an escalated approver may then decide, and a decision removes the rest.
 * Real time with short timeouts: BullMQ delays run on Redis's clock, which a test cannot move.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { formatProblems } from '../src/errors.js';
import { evaluate } from '../src/policy/evaluate.js';
import { parsePolicy } from '../src/policy/load.js';
import { createRedis } from '../src/state/redis.js';
import { adminApi } from './helpers/admin-api.js';
import { blockActionsPayload, interactionBody, signSlackRequest, startFakeSlack, type FakeSlack, type SlackCall } from './helpers/fake-slack.js';
import { adminToken, startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio, type CallLog } from './helpers/upstreams.js';
import { startTestReceiver, type TestReceiver } from './helpers/webhook-receiver.js';

const signingSecret = 'nudges-test-signing-secret';
const runJobArgs = { params: { job_id: 123, notebook_params: { env: 'prod' } } };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  gw: TestGateway;
  slack: FakeSlack;
  receiver: TestReceiver;
  nudgeJob(id: string): Promise<{ delay: number } | undefined>;
}

async function setup(callLog: CallLog, approval: Record<string, unknown>, replicas = 2): Promise<Setup> {
  const slack = await startFakeSlack();
  cleanups.push(() => slack.close());
  const receiver = await startTestReceiver();
  cleanups.push(() => receiver.close());
  const options = {
    mcpServers: { databricks: databricksMockStdio({ callLog }) },
    policy: {
      version: '1',
      default: 'allow',
      tools: { run_job: { action: 'approve', approval: { approvers: ['U0APPROVER1'], channel: 'C0APPROVALS', ...approval } } },
    },
    config: {
      approvals: { progressInterval: '300ms' },
      webhooks: { endpoints: { ops: { url: receiver.url, secretEnv: 'TEST_NUDGE_WEBHOOK' } } },
    },
    env: {
      SLACK_BOT_TOKEN: 'xoxb-nudges',
      SLACK_SIGNING_SECRET: signingSecret,
      SLACK_API_URL: slack.url,
      TEST_NUDGE_WEBHOOK: 'nudge-webhook-secret-0123456789',
    },
  };
  const gw = await startTestGateway(options);
  cleanups.push(() => gw.close());
  for (let i = 1; i < replicas; i += 1) {
    const other = await startTestGateway({ ...options, prefix: gw.prefix });
    cleanups.push(() => other.close());
  }
  const connection = createRedis(inject('redisUrl'), { name: 'test-nudges', mode: 'blocking' });
  const queue = new Queue('approval-nudges', { connection, prefix: `${gw.prefix}bull` });
  cleanups.push(async () => {
    await queue.close();
    connection.disconnect();
  });
  return {
    gw,
    slack,
    receiver,
    nudgeJob: async (id) => {
      const job = await queue.getJob(id);
      return job ? { delay: job.opts.delay ?? 0 } : undefined;
    },
  };
}

function heldCall(gw: TestGateway): Promise<CallToolResult> {
  return gw.connect('agent-a').then(
    (client) =>
      client.callTool({ name: 'run_job', arguments: runJobArgs }, CallToolResultSchema, {
        onprogress: () => undefined,
        resetTimeoutOnProgress: true,
        timeout: 60_000,
      }) as Promise<CallToolResult>,
  );
}

async function click(gw: TestGateway, approvalId: string, user: string): Promise<void> {
  const body = interactionBody(blockActionsPayload({ action: 'airlock_approve', approvalId, user }));
  const res = await fetch(`${gw.baseUrl}/slack/events`, {
    method: 'POST',
    headers: { ...signSlackRequest(body, signingSecret), 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  expect(res.status).toBe(200);
}

async function auditTypes(gw: TestGateway, id: string): Promise<string[]> {
  const res = await fetch(`${gw.baseUrl}/api/audit/approvals/${id}`, { headers: { authorization: `Bearer ${adminToken}` } });
  return ((await res.json()) as { events: Array<{ type: string }> }).events.map((e) => e.type);
}

const text = (call: SlackCall | undefined) => `${String(call?.args['text'])} ${JSON.stringify(call?.args['blocks'])}`;
const threadReplies = (slack: FakeSlack, pattern: RegExp) => slack.delivered('chat.postMessage').filter((c) => c.args['thread_ts'] && pattern.test(text(c)));

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('reminders and escalation of a held call', () => {
  it('reminds and escalates once each across two replicas, lets the escalated approver decide, and a decision ends the rest', async () => {
    const callLog = createCallLog();
    const { gw, slack, receiver, nudgeJob } = await setup(callLog, {
      timeout: '20s',
      remind: [0.9, 0.15],
      escalate: [{ after: '6s', channel: 'C0ESCALATE', approvers: ['U0LEAD'] }],
    });
    const pending = heldCall(gw);
    const [request] = await slack.waitFor('chat.postMessage', 1);
    const approvalId = /apr_[a-z0-9]+/.exec(text(request))?.[0] ?? '';
    // Scheduled at the policy's fractions of the timeout (sorted) and at the step's delay.
    expect(await nudgeJob(`${approvalId}-remind-0`)).toEqual({ delay: 3_000 });
    expect(await nudgeJob(`${approvalId}-remind-1`)).toEqual({ delay: 18_000 });
    expect(await nudgeJob(`${approvalId}-escalate-0`)).toEqual({ delay: 6_000 });

    // Before the escalation, the lead is not an approver.
    await click(gw, approvalId, 'U0LEAD');
    await until('the refusal', async () => ((await auditTypes(gw, approvalId)).includes('unauthorized_approver') ? true : undefined));

    const [reminder] = await until('the reminder', () => {
      const found = threadReplies(slack, /Reminder/);
      return found.length > 0 ? found : undefined;
    });
    expect(reminder?.args['channel']).toBe('C0APPROVALS');
    expect(text(reminder)).toContain('<@U0APPROVER1>');

    const escalationPost = await until('the escalation post', () =>
      slack.delivered('chat.postMessage').find((c) => c.args['channel'] === 'C0ESCALATE' && !c.args['thread_ts']),
    );
    expect(text(escalationPost)).toContain(approvalId);
    const [escalationReply] = await until('the escalation reply', () => {
      const found = threadReplies(slack, /Escalated/);
      return found.length > 0 ? found : undefined;
    });
    expect(text(escalationReply)).toContain('<@U0LEAD>');
    await receiver.waitFor(1, (r) => r.body.event === 'reminded');
    await receiver.waitFor(1, (r) => r.body.event === 'escalated' && (r.body.approval['approvers'] as string[]).includes('U0LEAD'));

    // Now the lead may decide: the call runs once, and the second reminder never comes.
    await click(gw, approvalId, 'U0LEAD');
    expect(JSON.parse(textOf(await pending))).toHaveProperty('run_id');
    expect(callLog.calls()).toHaveLength(1);
    // The decision removes the remaining steps right after it releases the call (the agent may hear first).
    await until('the second reminder removed', async () => ((await nudgeJob(`${approvalId}-remind-1`)) === undefined ? true : undefined));
    // The copy in the escalation channel is updated with the decision, like the original.
    await until('the escalation copy updated', () =>
      slack.delivered('chat.update').find((c) => c.args['channel'] === 'C0ESCALATE' && /U0LEAD/.test(text(c)) && !text(c).includes('airlock_approve')),
    );

    expect(threadReplies(slack, /Reminder/)).toHaveLength(1);
    expect(threadReplies(slack, /Escalated/)).toHaveLength(1);
    expect(slack.delivered('chat.postMessage').filter((c) => c.args['channel'] === 'C0ESCALATE')).toHaveLength(1);
    expect(receiver.requests().filter((r) => r.status === 200 && r.body.event === 'reminded')).toHaveLength(1);
    const types = await auditTypes(gw, approvalId);
    expect(types.filter((t) => t === 'approval_reminded')).toHaveLength(1);
    expect(types.filter((t) => t === 'approval_escalated')).toHaveLength(1);
    expect(types.filter((t) => t === 'approved')).toHaveLength(1);
  });

  it('a decision before any step removes every reminder and escalation job, and none is posted', async () => {
    const callLog = createCallLog();
    const { gw, slack, nudgeJob } = await setup(
      callLog,
      {
        timeout: '30s',
        remind: [0.5],
        escalate: [
          { after: '20s', approvers: ['U0LEAD'] },
          { after: '25s', channel: 'C0ESCALATE' },
        ],
      },
      1,
    );
    const pending = heldCall(gw);
    const [held] = await adminApi(gw.baseUrl).waitForPending();
    const id = held?.id ?? '';
    // The steps are scheduled just after the hold is recorded (and listed as pending).
    expect(await until('the reminder job', () => nudgeJob(`${id}-remind-0`))).toEqual({ delay: 15_000 });
    expect(await nudgeJob(`${id}-escalate-1`)).toEqual({ delay: 25_000 });
    expect((await adminApi(gw.baseUrl).approve(id)).status).toBe(200);
    expect(JSON.parse(textOf(await pending))).toHaveProperty('run_id');
    for (const job of [`${id}-remind-0`, `${id}-escalate-0`, `${id}-escalate-1`]) expect(await nudgeJob(job)).toBeUndefined();
    const types = await auditTypes(gw, id);
    expect(types).not.toContain('approval_reminded');
    expect(types).not.toContain('approval_escalated');
    expect(slack.delivered('chat.postMessage').filter((c) => c.args['thread_ts'] && /Reminder|Escalated/.test(text(c)))).toHaveLength(0);
  });

  it('schedules nothing for a held call whose policy has no reminders or escalation', async () => {
    const { gw, nudgeJob } = await setup(createCallLog(), { timeout: '30s' }, 1);
    void heldCall(gw).catch(() => undefined);
    const [held] = await adminApi(gw.baseUrl).waitForPending();
    expect(await nudgeJob(`${held?.id ?? ''}-remind-0`)).toBeUndefined();
    expect(await nudgeJob(`${held?.id ?? ''}-escalate-0`)).toBeUndefined();
  });
});

describe('remind and escalate in the policy language', () => {
  const problems = (approval: unknown): string => {
    const result = parsePolicy({ version: '1', tools: { run_job: { action: 'approve', approval } } }, 'p.json');
    if (result.ok) throw new Error('expected the policy to be rejected');
    return formatProblems(result.problems);
  };

  it('rejects an escalation step at or after the timeout, a reminder outside (0, 1) and a step that does nothing', () => {
    expect(problems({ timeout: '10m', escalate: [{ after: '10m', approvers: ['U0LEAD'] }] })).toMatch(
      /tools\.run_job\.approval\.escalate\[0\]\.after.*never happen/,
    );
    expect(problems({ remind: [1.5] })).toMatch(/remind\[0\].*below 1/);
    expect(problems({ escalate: [{ after: '5m' }] })).toMatch(/needs "channel", "approvers" or both/);
  });

  it('merges remind and escalate into the held call’s settings', () => {
    const result = parsePolicy(
      {
        version: '1',
        approval: { remind: [0.9, 0.5] },
        tools: { run_job: { action: 'approve', approval: { escalate: [{ after: '5m', channel: '#leads' }] } } },
      },
      'p.json',
    );
    if (!result.ok) throw new Error(formatProblems(result.problems));
    const decision = evaluate(result.policy, 'agent-a', 'run_job', {});
    expect(decision.kind === 'approve' && decision.approval).toMatchObject({
      remind: [0.5, 0.9],
      escalate: [{ afterMs: 300_000, channel: '#leads', approvers: [] }],
    });
  });
});
