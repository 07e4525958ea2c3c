/**
 * Delivery of approval events to Slack through the notification queue, on real Redis and BullMQ
 * against the fake Slack Web API: rate limits honoured and retried, a burst posted in order with
 * none lost or doubled, the outcome of the released call in the message's thread, expiry and
 * withdrawal shown, and a missing channel reported instead of retried forever.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ApprovalService } from '../src/approvals/approval-service.js';
import { releaseApproved, runJobHold, runJobResult, startReplica, testPrefix, type Replica } from './helpers/approvals.js';
import { attachSlack, startFakeSlack, type FakeSlack, type SlackHarness } from './helpers/fake-slack.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  options: Parameters<typeof attachSlack>[2] = {},
): Promise<{ replica: Replica; fake: FakeSlack; slack: SlackHarness; approvals: ApprovalService }> {
  const fake = await startFakeSlack();
  cleanups.push(() => fake.close());
  const replica = await startReplica(testPrefix());
  cleanups.push(() => replica.close());
  const slack = await attachSlack(replica.approvals, fake, options);
  return { replica, fake, slack, approvals: replica.approvals };
}

const never = new AbortController().signal;
const admin = { kind: 'admin' as const, id: 'admin:ops', name: 'ops' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('Slack delivery', () => {
  it('waits out a 429 with Retry-After and then delivers the message exactly once', async () => {
    const { fake, approvals } = await setup();
    fake.rateLimitNext('chat.postMessage', 1, 1);
    const { record } = await approvals.hold(runJobHold());
    await fake.waitFor('chat.postMessage', 1, 15_000);
    expect(fake.calls('chat.postMessage').map((c) => c.status)).toEqual([429, 200]);
    const [refused, delivered] = fake.calls('chat.postMessage');
    expect((delivered?.at ?? 0) - (refused?.at ?? 0)).toBeGreaterThanOrEqual(900);
    await waitUntil(async () => (await approvals.get(record.id))?.channelRefs['slack'] !== undefined);
    await sleep(300);
    expect(fake.delivered('chat.postMessage')).toHaveLength(1);
  });

  it('posts 20 calls held in a burst as 20 messages, in the order they were held, none lost or doubled', async () => {
    const { fake, approvals } = await setup({ postIntervalMs: 50 });
    const ids: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      const { record } = await approvals.hold(runJobHold({ arguments: { params: { job_id: 1_000 + i } } }));
      ids.push(record.id);
    }
    const posts = await fake.waitFor('chat.postMessage', 20, 20_000);
    await sleep(300);
    expect(fake.calls('chat.postMessage')).toHaveLength(20);
    const postedIds = posts.map((p) => ids.find((id) => JSON.stringify(p.args['blocks']).includes(id)));
    expect(postedIds).toEqual(ids);
    const refs = await Promise.all(ids.map(async (id) => (await approvals.get(id))?.channelRefs['slack']));
    expect(new Set(refs.map((r) => JSON.stringify(r))).size).toBe(20);
  });

  it('posts 20 calls held concurrently as 20 messages, none lost or doubled', async () => {
    const { fake, approvals } = await setup({ postIntervalMs: 20 });
    const held = await Promise.all(Array.from({ length: 20 }, (_, i) => approvals.hold(runJobHold({ arguments: { params: { job_id: 2_000 + i } } }))));
    const ids = held.map((h) => h.record.id);
    const posts = await fake.waitFor('chat.postMessage', 20, 20_000);
    await sleep(300);
    expect(fake.calls('chat.postMessage')).toHaveLength(20);
    const postedIds = posts.map((p) => ids.find((id) => JSON.stringify(p.args['blocks']).includes(id)));
    expect([...postedIds].sort()).toEqual([...ids].sort());
  });

  it('replies in the message’s thread with the released call’s outcome and run id, once', async () => {
    const { fake, approvals } = await setup();
    const { record } = await approvals.hold(runJobHold());
    const [post] = await fake.waitFor('chat.postMessage', 1);
    await waitUntil(async () => (await approvals.get(record.id))?.channelRefs['slack'] !== undefined);
    await approvals.decide(record.id, admin, 'approve', undefined);
    const released = await releaseApproved(approvals, record.id, async () => {
      await sleep(1_234);
      return runJobResult(4242);
    });
    expect(released.kind).toBe('released');
    const [, reply] = await fake.waitFor('chat.postMessage', 2);
    const ref = (await approvals.get(record.id))?.channelRefs['slack'];
    expect(ref).toMatchObject({ channel: post?.args['channel'] });
    expect(reply?.args).toMatchObject({ channel: 'C0APPROVALS', thread_ts: (ref as { ts: string }).ts }); // shape matched just above
    expect(String(reply?.args['text'])).toMatch(/Executed in 1\.[2-9] s\n```\nrun_id 4242\n```/);
    await waitUntil(async () => JSON.stringify((await approvals.get(record.id))?.channelRefs['slack']).includes('outcomeTs'));
    await sleep(200);
    expect(fake.delivered('chat.postMessage')).toHaveLength(2);
  });

  it('shows an expired call and a withdrawn call in their messages, without buttons', async () => {
    const { fake, approvals } = await setup();
    const { record: expiring } = await approvals.hold(runJobHold({ settings: { timeoutMs: 700 } }));
    const { record: withdrawn } = await approvals.hold(runJobHold({ arguments: { params: { job_id: 7 } } }));
    await fake.waitFor('chat.postMessage', 2);
    await waitUntil(async () => (await approvals.get(withdrawn.id))?.channelRefs['slack'] !== undefined);
    await approvals.withdraw(withdrawn.id, 'the agent cancelled the call or its connection closed');
    expect((await approvals.waitForOutcome(expiring.id, 10_000, never)).status).toBe('expired');
    const updates = await fake.waitFor('chat.update', 2);
    const texts = updates.map((u) => JSON.stringify(u.args['blocks']));
    expect(texts.some((t) => t.includes('Expired* — nobody decided within 700 ms'))).toBe(true);
    expect(texts.some((t) => t.includes('Withdrawn* — the agent cancelled'))).toBe(true);
    expect(texts.every((t) => !t.includes('airlock_approve'))).toBe(true);
  });

  it('posts to the policy’s approval channel rather than the default one', async () => {
    const { fake, approvals } = await setup();
    await approvals.hold(runJobHold({ settings: { channel: 'C0POLICY' } }));
    const [post] = await fake.waitFor('chat.postMessage', 1);
    expect(post?.args['channel']).toBe('C0POLICY');
  });

  it('reports a missing channel once instead of retrying, and the call stays decidable through the API', async () => {
    const { fake, approvals, slack } = await setup({ defaultChannel: undefined });
    const { record } = await approvals.hold(runJobHold());
    await waitUntil(() => slack.channel.health().failedAttempts >= 1);
    expect(slack.channel.health()).toMatchObject({
      ok: false,
      mode: 'http',
      lastFailure: { message: expect.stringMatching(/no Slack channel for approval .*slack\.defaultChannel/) },
    });
    await sleep(1_500); // longer than the queue's first backoff: a retryable error would have been tried again
    expect(slack.channel.health().failedAttempts).toBe(1);
    expect(fake.calls('chat.postMessage')).toHaveLength(0);
    expect((await approvals.decide(record.id, admin, 'approve', undefined)).kind).toBe('decided');
  });

  it('does not retry a channel Slack says does not exist', async () => {
    const { fake, approvals, slack } = await setup();
    fake.failNext('chat.postMessage', 1, 'channel_not_found');
    await approvals.hold(runJobHold());
    await waitUntil(() => slack.channel.health().failedAttempts >= 1);
    expect(slack.channel.health().lastFailure?.message).toMatch(/channel_not_found — the channel does not exist/);
    await sleep(1_500);
    expect(fake.calls('chat.postMessage')).toHaveLength(1);
  });
});
