/**
 * Slack clicks end to end on real Redis and BullMQ: the approvals core on a replica, the Slack
 * channel's router mounted at /slack on a real express app, interactions signed and posted the way
 * Slack posts them, and the local fake Slack Web API recording what Airlock sends back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ApprovalRecord } from '../src/approvals/types.js';
import { releaseApproved, runJobHold, runJobResult, startReplica, testPrefix, type Replica } from './helpers/approvals.js';
import {
  attachSlack,
  blockActionsPayload,
  startFakeSlack,
  viewSubmissionPayload,
  type FakeSlack,
  type SlackCall,
  type SlackHarness,
} from './helpers/fake-slack.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  replica: Replica;
  fake: FakeSlack;
  slack: SlackHarness;
  prefix: string;
}

async function setup(options: Parameters<typeof startReplica>[1] = {}): Promise<Setup> {
  const fake = await startFakeSlack();
  cleanups.push(() => fake.close());
  const prefix = testPrefix();
  const replica = await startReplica(prefix, options);
  cleanups.push(() => replica.close());
  const slack = await attachSlack(replica.approvals, fake);
  expect(fake.calls()).toEqual([]); // nothing calls Slack at boot (no auth.test)
  return { replica, fake, slack, prefix };
}

const never = new AbortController().signal;

/** Holds a run_job and waits until its Slack message is posted. */
async function holdPosted(s: Setup, settings: Parameters<typeof runJobHold>[0] = {}): Promise<{ record: ApprovalRecord; ts: string }> {
  const before = s.fake.delivered('chat.postMessage').length;
  const { record } = await s.replica.approvals.hold(runJobHold(settings));
  const posts = await s.fake.waitFor('chat.postMessage', before + 1);
  const post = posts.at(-1) as SlackCall; // waitFor resolved with at least before + 1 calls
  await waitUntil(async () => (await s.replica.approvals.get(record.id))?.channelRefs['slack'] !== undefined);
  const ts = (await s.replica.approvals.get(record.id))?.channelRefs['slack'];
  expect(ts).toMatchObject({ channel: post.args['channel'] });
  return { record, ts: (ts as { ts: string }).ts }; // just matched the {channel, ts} shape
}

function click(
  action: 'airlock_approve' | 'airlock_deny' | 'airlock_rerun',
  approvalId: string,
  user: string,
  extra: { messageTs?: string; triggerId?: string } = {},
) {
  return blockActionsPayload({ action, approvalId, user, ...extra });
}

async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const blocksText = (call: SlackCall | undefined) => JSON.stringify(call?.args['blocks'] ?? []);
const hasButtons = (call: SlackCall | undefined) => blocksText(call).includes('airlock_approve');

describe('Slack approvals', () => {
  it('posts a held run_job with the tool, the agent, the job_id and the notebook_params, and remembers where', async () => {
    const s = await setup();
    const { record, ts } = await holdPosted(s);
    const [post] = s.fake.delivered('chat.postMessage');
    expect(post?.args['channel']).toBe('C0APPROVALS');
    const text = blocksText(post);
    for (const expected of ['run_job', 'agent-a', 'params.job_id', '123', 'params.notebook_params', '2026-11-01', 'tools.run_job', record.id])
      expect(text).toContain(expected);
    expect(text).toContain('"action_id":"airlock_approve"');
    expect(text).toContain(`"value":"${record.id}"`);
    expect(ts).toMatch(/^\d+\.\d+$/);
  });

  it('approves on a signed Approve click and updates the message in place with who approved, buttons gone', async () => {
    const s = await setup();
    const { record, ts } = await holdPosted(s);
    const response = await s.slack.send(click('airlock_approve', record.id, 'U0APPROVER1', { messageTs: ts }));
    expect(response.status).toBe(200);
    const outcome = await s.replica.approvals.waitForOutcome(record.id, 10_000, never);
    expect(outcome).toMatchObject({ status: 'approved', decidedBy: { kind: 'slack', id: 'U0APPROVER1', name: 'u0approver1' } });
    const [update] = await s.fake.waitFor('chat.update', 1);
    expect(update?.args).toMatchObject({ channel: 'C0APPROVALS', ts });
    expect(blocksText(update)).toContain('Approved* by <@U0APPROVER1>');
    expect(hasButtons(update)).toBe(false);
  });

  it('opens a Deny modal with the click’s trigger_id, and denies with the submitted reason word for word', async () => {
    const s = await setup();
    const { record, ts } = await holdPosted(s);
    const denyClick = await s.slack.send(click('airlock_deny', record.id, 'U0APPROVER2', { messageTs: ts, triggerId: 'trigger-4711' }));
    expect(denyClick.status).toBe(200);
    const [open] = await s.fake.waitFor('views.open', 1);
    expect(open?.args['trigger_id']).toBe('trigger-4711');
    const view = open?.args['view'] as { private_metadata: string; callback_id: string }; // the fake parsed the JSON form field
    expect(JSON.parse(view.private_metadata)).toEqual({ id: record.id, channel: 'C0APPROVALS', ts });
    expect((await s.replica.approvals.get(record.id))?.status).toBe('pending');

    const reason = 'Not during the release freeze — retry after 18:00 <ok> & thanks';
    const submit = await s.slack.send(viewSubmissionPayload({ user: 'U0APPROVER2', privateMetadata: view.private_metadata, reason }));
    expect(submit.status).toBe(200);
    const outcome = await s.replica.approvals.waitForOutcome(record.id, 10_000, never);
    expect(outcome).toMatchObject({ status: 'denied', reason, decidedBy: { id: 'U0APPROVER2' } });
    const [update] = await s.fake.waitFor('chat.update', 1);
    expect(blocksText(update)).toContain('Denied* by <@U0APPROVER2>');
    expect(blocksText(update)).toContain('retry after 18:00 &lt;ok&gt; &amp; thanks');
    expect(hasButtons(update)).toBe(false);
  });

  it('keeps the Deny modal open when the reason is only blanks', async () => {
    const s = await setup();
    const { record, ts } = await holdPosted(s);
    const metadata = JSON.stringify({ id: record.id, channel: 'C0APPROVALS', ts });
    const submit = await s.slack.send(viewSubmissionPayload({ user: 'U0APPROVER2', privateMetadata: metadata, reason: '   ' }));
    expect(submit.status).toBe(200);
    expect(submit.body).toMatchObject({ response_action: 'errors', errors: { reason: expect.stringMatching(/agent reads/) } });
    expect((await s.replica.approvals.get(record.id))?.status).toBe('pending');
  });

  it('answers a forged, an unsigned or a stale (6 minutes old) request with 401 and decides nothing', async () => {
    const s = await setup();
    const { record } = await holdPosted(s);
    const payload = click('airlock_approve', record.id, 'U0APPROVER1');
    expect((await s.slack.send(payload, { secret: 'not-the-secret' })).status).toBe(401);
    expect((await s.slack.send(payload, { unsigned: true })).status).toBe(401);
    expect((await s.slack.send(payload, { timestampSec: Math.floor(Date.now() / 1_000) - 6 * 60 })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 200));
    expect((await s.replica.approvals.get(record.id))?.status).toBe('pending');
    expect(s.replica.audit.events.map((e) => e.type)).toEqual(['approval_requested']);
    expect(s.fake.calls('chat.postEphemeral')).toHaveLength(0);
  });

  it('refuses a non-approver privately, decides nothing, audits the attempt, and opens no Deny modal for them', async () => {
    const s = await setup();
    const { record } = await holdPosted(s);
    expect((await s.slack.send(click('airlock_approve', record.id, 'U0STRANGER'))).status).toBe(200);
    const [refusal] = await s.fake.waitFor('chat.postEphemeral', 1);
    expect(refusal?.args).toMatchObject({ channel: 'C0APPROVALS', user: 'U0STRANGER' });
    expect(String(refusal?.args['text'])).toMatch(/You are not an approver for run_job: your approval was not recorded/);
    expect(s.replica.audit.events.filter((e) => e.type === 'unauthorized_approver').map((e) => e.actor?.id)).toEqual(['U0STRANGER']);

    await s.slack.send(click('airlock_deny', record.id, 'U0STRANGER'));
    const [, denyRefusal] = await s.fake.waitFor('chat.postEphemeral', 2);
    expect(String(denyRefusal?.args['text'])).toMatch(/not an approver/);
    expect(s.fake.calls('views.open')).toHaveLength(0);
    expect(s.replica.audit.events.filter((e) => e.type === 'unauthorized_approver').map((e) => e.details?.['verdict'])).toEqual(['approve', 'deny']);
    expect((await s.replica.approvals.get(record.id))?.status).toBe('pending');
  });

  it('accepts a member of an approver user group, resolved with usergroups.users.list', async () => {
    const s = await setup();
    s.fake.setGroup('S0ONCALL', ['U0ONCALL1', 'U0ONCALL2']);
    const { record } = await holdPosted(s, { settings: { approvers: ['S0ONCALL'] } });
    await s.slack.send(click('airlock_approve', record.id, 'U0ONCALL2'));
    const outcome = await s.replica.approvals.waitForOutcome(record.id, 10_000, never);
    expect(outcome).toMatchObject({ status: 'approved', decidedBy: { id: 'U0ONCALL2' } });
    expect(s.fake.calls('usergroups.users.list').map((c) => c.args['usergroup'])).toEqual(['S0ONCALL']);
  });

  it('decides once on a double click; the second click is told the call was already approved', async () => {
    const s = await setup();
    const { record } = await holdPosted(s);
    const payload = click('airlock_approve', record.id, 'U0APPROVER1');
    const [first, second] = await Promise.all([s.slack.send(payload), s.slack.send(payload)]);
    expect([first.status, second.status]).toEqual([200, 200]);
    const [told] = await s.fake.waitFor('chat.postEphemeral', 1);
    expect(String(told?.args['text'])).toMatch(/already \*approved\* by <@U0APPROVER1>/);
    expect(s.replica.audit.events.filter((e) => e.type === 'approved')).toHaveLength(1);
    expect((await s.replica.approvals.get(record.id))?.status).toBe('approved');

    await s.slack.send(click('airlock_deny', record.id, 'U0APPROVER2'));
    const [, lateDeny] = await s.fake.waitFor('chat.postEphemeral', 2);
    expect(lateDeny?.args).toMatchObject({ user: 'U0APPROVER2', text: expect.stringMatching(/already \*approved\*/) });
    expect(s.fake.calls('views.open')).toHaveLength(0);
  });

  it('shows “1 of 2” with the buttons kept under quorum 2, then the approval by both', async () => {
    const s = await setup();
    const { record } = await holdPosted(s, { settings: { quorum: 2 } });
    await s.slack.send(click('airlock_approve', record.id, 'U0APPROVER1'));
    const [progress] = await s.fake.waitFor('chat.update', 1);
    expect(blocksText(progress)).toContain('1 of 2 approvals*: <@U0APPROVER1>');
    expect(hasButtons(progress)).toBe(true);
    const [ack] = await s.fake.waitFor('chat.postEphemeral', 1);
    expect(String(ack?.args['text'])).toMatch(/1 of 2/);

    await s.slack.send(click('airlock_approve', record.id, 'U0APPROVER1'));
    const [, duplicate] = await s.fake.waitFor('chat.postEphemeral', 2);
    expect(String(duplicate?.args['text'])).toMatch(/already approved this call; \*1 of 2\*/);

    await s.slack.send(click('airlock_approve', record.id, 'U0APPROVER2'));
    expect((await s.replica.approvals.waitForOutcome(record.id, 10_000, never)).status).toBe('approved');
    const updates = await s.fake.waitFor('chat.update', 2);
    expect(blocksText(updates.at(-1))).toContain('Approved* by <@U0APPROVER1> and <@U0APPROVER2>');
    expect(hasButtons(updates.at(-1))).toBe(false);
  });

  it('acknowledges a click to Slack with an empty 200, and records the decision after the ack', async () => {
    const s = await setup();
    const { record } = await holdPosted(s);
    const response = await s.slack.send(click('airlock_approve', record.id, 'U0APPROVER3'));
    expect(response.status).toBe(200);
    expect(response.text).toBe('');
    const outcome = await s.replica.approvals.waitForOutcome(record.id, 10_000, never);
    expect(outcome).toMatchObject({ status: 'approved', decidedBy: { kind: 'slack', id: 'U0APPROVER3' } });
  });

  it("tells approvers in the thread when an approved call's outcome is unknown, and lets one approve a re-run from the message", async () => {
    const s = await setup({ executionLeaseMs: 600 });
    const claimant = await startReplica(s.prefix, { executionLeaseMs: 600 });
    cleanups.push(() => claimant.close());
    const { record, ts } = await holdPosted(s);
    await s.slack.send(click('airlock_approve', record.id, 'U0APPROVER1'));
    expect((await s.replica.approvals.waitForOutcome(record.id, 10_000, never)).status).toBe('approved');
    let finish: (result: CallToolResult) => void = () => undefined;
    const running = releaseApproved(claimant.approvals, record.id, () => new Promise<CallToolResult>((resolve) => (finish = resolve)));
    await waitUntil(async () => (await s.replica.approvals.get(record.id))?.status === 'executing');
    claimant.redis.disconnect(); // the replica running it loses Redis: its lease lapses

    const replies = await s.fake.waitFor('chat.postMessage', 2);
    const thread = replies.find((r) => r.args['thread_ts'] === ts);
    expect(String(thread?.args['text'])).toMatch(/Outcome unknown: `run_job` was sent to the upstream .* will not run it again on its own/);
    await waitUntil(() =>
      s.fake.delivered('chat.update').some((u) => blocksText(u).includes('Outcome unknown') && JSON.stringify(u.args).includes('airlock_rerun')),
    );

    await s.slack.send(click('airlock_rerun', record.id, 'U0APPROVER2', { messageTs: ts }));
    await waitUntil(async () => (await s.replica.approvals.get(record.id))?.status === 'approved');
    expect(await s.replica.approvals.get(record.id)).toMatchObject({ attempt: 2, decidedBy: { id: 'U0APPROVER2' } });
    await waitUntil(() => s.replica.audit.events.some((e) => e.type === 'rerun_approved'));
    expect(s.replica.audit.events.find((e) => e.type === 'rerun_approved')).toMatchObject({ actor: { kind: 'slack', id: 'U0APPROVER2' } });
    await waitUntil(() => s.fake.delivered('chat.update').some((u) => blocksText(u).includes('Approved* (re-run 1)')));
    finish(runJobResult(1));
    await running;
  });
});
