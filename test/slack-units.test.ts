/**
 * The Slack channel's pure parts and small ports: Block Kit rendering within Slack's limits,
 * escaping, the Deny modal, per-channel pacing, the cached fail-closed user-group directory,
 * credentials, and how Slack API errors become delivery outcomes.
 */
import { UnrecoverableError } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { toApprovalView } from '../src/approvals/approval-view.js';
import { RetryLaterError } from '../src/approvals/notification-queue.js';
import type { ApprovalRecord } from '../src/approvals/types.js';
import { createLogger } from '../src/log.js';
import { approvalMessage, denyModal, outcomeReply } from '../src/slack/blocks.js';
import { createSlackDirectory } from '../src/slack/directory.js';
import { createPacer } from '../src/slack/pacing.js';
import { createSlackChannel, slackCredentials } from '../src/slack/slack-channel.js';
import { createSlackClient, normaliseApiUrl, toDeliveryError } from '../src/slack/web-client.js';
import { runJobHold } from './helpers/approvals.js';
import { startFakeSlack, type FakeSlack } from './helpers/fake-slack.js';

const log = createLogger({ level: 'silent' });
const fakes: FakeSlack[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

function record(overrides: Partial<ApprovalRecord> = {}, hold = runJobHold()): ApprovalRecord {
  return {
    ...hold,
    id: 'apr_test0001',
    createdAt: Date.parse('2026-11-01T10:00:00Z'),
    expiresAt: Date.parse('2026-11-01T10:15:00Z'),
    status: 'pending',
    votes: [],
    decidedBy: undefined,
    decidedAt: undefined,
    reason: undefined,
    attempt: 1,
    claim: undefined,
    unknownAt: undefined,
    edit: undefined,
    reminded: [],
    escalated: [],
    execution: undefined,
    channelRefs: {},
    ...overrides,
  };
}

type Json = Record<string, unknown>;
/** Block Kit blocks are plain JSON objects: read them generically. */
const asJson = (blocks: readonly object[]): Json[] => blocks as Json[]; // every block is a JSON object
const sections = (blocks: readonly object[]) => asJson(blocks).filter((b) => b['type'] === 'section');

describe('the Slack approval message', () => {
  it('keeps a call with huge arguments inside every Slack limit and points to the CLI for the rest', () => {
    const big = { params: { job_id: 5, notebook_params: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`key_${i}`, 'x'.repeat(200)])) } };
    const message = approvalMessage(toApprovalView(record({}, runJobHold({ arguments: big, displayArguments: big, agent: 'a'.repeat(3_000) }))));
    expect(message.blocks.length).toBeLessThanOrEqual(50);
    for (const block of asJson(message.blocks)) {
      // Block Kit nests plain JSON objects: text objects, field lists and element lists.
      const text = (block['text'] as Json | undefined)?.['text'];
      if (typeof text === 'string') expect(text.length).toBeLessThanOrEqual(block['type'] === 'header' ? 150 : 3_000);
      const fields = (block['fields'] as Json[] | undefined) ?? [];
      expect(fields.length).toBeLessThanOrEqual(10);
      for (const field of fields) expect(String(field['text']).length).toBeLessThanOrEqual(2_000);
      for (const element of (block['elements'] as Json[] | undefined) ?? []) {
        if (element['type'] !== 'button') continue;
        expect(String(element['value']).length).toBeLessThanOrEqual(2_000);
        expect(String(element['action_id']).length).toBeLessThanOrEqual(255);
      }
    }
    const all = JSON.stringify(message.blocks);
    expect(all).toContain('(truncated — full arguments: `airlock approvals show apr_test0001`)');
    expect(all).toContain('*params.job_id*  `5`');
  });

  it('escapes what the agent sent, so arguments cannot mention everyone or close the code block', () => {
    const args = { params: { job_id: 1, notebook_params: { note: '<!channel> ``` <https://evil|click>' } } };
    const text = JSON.stringify(approvalMessage(toApprovalView(record({}, runJobHold({ arguments: args, displayArguments: args })))).blocks);
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<https://evil');
    expect(text).toContain('&lt;!channel&gt;');
  });

  it('names the owner, the rule and the expiry with Slack date formatting and a fallback', () => {
    const text = JSON.stringify(approvalMessage(toApprovalView(record({}, runJobHold({ owner: 'U0OWNER' })))).blocks);
    expect(text).toContain('(owner <@U0OWNER>)');
    expect(text).toContain('`tools.run_job`');
    expect(text).toContain(`<!date^${Date.parse('2026-11-01T10:15:00Z') / 1_000}^{date_short_pretty} at {time}|2026-11-01 10:15 UTC>`);
  });

  it('shows progress with buttons under a quorum, and the decision without buttons afterwards', () => {
    const hold = runJobHold({ settings: { quorum: 2 } });
    const vote = {
      actor: { kind: 'slack' as const, id: 'U0APPROVER1', name: 'a1' },
      principal: 'U0APPROVER1',
      at: Date.parse('2026-11-01T10:01:00Z'),
      attempt: 1,
    };
    const pending = approvalMessage(toApprovalView(record({ votes: [vote] }, hold)));
    expect(JSON.stringify(pending.blocks)).toContain('*1 of 2 approvals*: <@U0APPROVER1>');
    expect(asJson(pending.blocks).some((b) => b['type'] === 'actions')).toBe(true);
    const denied = approvalMessage(
      toApprovalView(
        record(
          { status: 'denied', votes: [vote], decidedBy: { kind: 'admin', id: 'admin:ops', name: 'ops' }, decidedAt: vote.at + 1, reason: 'line one\nline two' },
          hold,
        ),
      ),
    );
    const text = JSON.stringify(sections(denied.blocks));
    expect(text).toContain('Denied* by ops');
    expect(text).toContain('>line one\\n>line two');
    expect(asJson(denied.blocks).some((b) => b['type'] === 'actions')).toBe(false);
    expect(denied.text).toMatch(/^⛔ Denied: `run_job` on databricks for agent-a/);
  });

  it('asks for a required reason in the Deny modal and carries the approval id, channel and ts', () => {
    const modal = denyModal(toApprovalView(record()), { id: 'apr_test0001', channel: 'C1', ts: '1.2' });
    expect(JSON.parse(modal.private_metadata ?? '')).toEqual({ id: 'apr_test0001', channel: 'C1', ts: '1.2' });
    expect(modal.title.text.length).toBeLessThanOrEqual(24);
    expect(JSON.stringify(modal.blocks)).toMatch(/"optional":false.*"multiline":true/);
  });

  it("summarises the released call for the thread reply, the upstream's words in a code block", () => {
    const execution = { outcome: 'upstream_failure' as const, at: 0, durationMs: 65_000, summary: 'connection reset' };
    expect(outcomeReply(toApprovalView(record({ status: 'approved', execution })))?.text).toBe('❌ The upstream failed in 1.1 min\n```\nconnection reset\n```');
    expect(outcomeReply(toApprovalView(record()))).toBeUndefined();
  });
});

describe('Slack plumbing', () => {
  it('paces tasks per key in order, and does not hold other keys up', async () => {
    // A virtual clock: sleeping advances it, so the spacing is exact and the test never waits.
    let clock = 1_000;
    const pacer = createPacer({ intervalMs: 40, now: () => clock, sleep: async (ms) => void (clock += ms) });
    const started: Array<[string, number]> = [];
    const task = (key: string, i: number) => pacer.run(key, async () => void started.push([`${key}${i}`, clock - 1_000]));
    await Promise.all([task('a', 1), task('a', 2), task('a', 3), task('b', 1)]);
    expect(started).toEqual([
      ['a1', 0],
      ['b1', 0],
      ['a2', 40],
      ['a3', 80],
    ]);
  });

  it('caches user-group members for the TTL and fails closed when Slack cannot answer', async () => {
    const fake = await startFakeSlack();
    fakes.push(fake);
    fake.setGroup('S0ONCALL', ['U1']);
    let now = 0;
    const directory = createSlackDirectory({ client: createSlackClient({ token: 'xoxb-t', apiUrl: fake.url, log }), log, ttlMs: 60_000, now: () => now });
    expect(await Promise.all([directory.groupMembers('S0ONCALL'), directory.groupMembers('S0ONCALL')])).toEqual([['U1'], ['U1']]);
    now = 59_000;
    await directory.groupMembers('S0ONCALL');
    expect(fake.calls('usergroups.users.list')).toHaveLength(1);
    now = 61_000;
    fake.failNext('usergroups.users.list', 1, 'missing_scope');
    expect(await directory.groupMembers('S0ONCALL')).toEqual([]);
    expect(await directory.groupMembers('S0UNKNOWN')).toEqual([]);
  });

  it('runs without Slack when no credential is set, and refuses half a configuration with what to set', () => {
    const none = { slackBotToken: undefined, slackSigningSecret: undefined, slackAppToken: undefined, slackApiUrl: undefined, adminToken: undefined };
    expect(slackCredentials(none)).toBeUndefined();
    expect(createSlackChannel({ approvals: undefined as never, env: none, defaultChannel: undefined, log })).toBeUndefined(); // never touched without credentials
    expect(() => slackCredentials({ ...none, slackBotToken: 'xoxb-1' })).toThrow(/SLACK_SIGNING_SECRET .* SLACK_APP_TOKEN/);
    expect(() => slackCredentials({ ...none, slackSigningSecret: 's' })).toThrow(/SLACK_BOT_TOKEN is not/);
    expect(() => slackCredentials({ ...none, slackBotToken: 'xoxb-1', slackAppToken: 'xoxb-2' })).toThrow(/xapp-/);
    expect(slackCredentials({ ...none, slackBotToken: 'xoxb-1', slackAppToken: 'xapp-1' })).toMatchObject({ mode: 'socket' });
    expect(slackCredentials({ ...none, slackBotToken: 'xoxb-1', slackSigningSecret: 's' })).toMatchObject({ mode: 'http' });
  });

  it('builds a Socket Mode channel without a router and without calling Slack', () => {
    const channel = createSlackChannel({
      approvals: {} as never, // not used until an event arrives
      env: { slackBotToken: 'xoxb-1', slackSigningSecret: undefined, slackAppToken: 'xapp-1', slackApiUrl: 'http://127.0.0.1:9/api', adminToken: undefined },
      defaultChannel: 'C1',
      log,
    });
    expect(channel).toMatchObject({ mode: 'socket', router: undefined });
  });

  it('turns a Slack 429 into a retry after Retry-After, and refusals into retryable or final failures', () => {
    expect(normaliseApiUrl('http://127.0.0.1:1234/api')).toBe('http://127.0.0.1:1234/api/');
    expect(normaliseApiUrl(undefined)).toBe('https://slack.com/api/');
    const limited = toDeliveryError('chat.postMessage', Object.assign(new Error('limited'), { code: 'slack_webapi_rate_limited_error', retryAfter: 3 }));
    expect(limited).toBeInstanceOf(RetryLaterError);
    expect((limited as RetryLaterError).retryAfterMs).toBe(3_000); // checked just above
    const gone = toDeliveryError(
      'chat.postMessage',
      Object.assign(new Error('x'), { code: 'slack_webapi_platform_error', data: { error: 'channel_not_found' } }),
    );
    expect(gone).toBeInstanceOf(UnrecoverableError);
    const transient = toDeliveryError(
      'chat.postMessage',
      Object.assign(new Error('x'), { code: 'slack_webapi_platform_error', data: { error: 'not_in_channel' } }),
    );
    expect(transient).not.toBeInstanceOf(UnrecoverableError);
    expect(transient.message).toMatch(/invite the bot/);
  });
});
