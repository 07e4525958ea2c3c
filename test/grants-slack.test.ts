/**
 * Standing grants from Slack, on real Redis and BullMQ with the local fake Slack Web API: the held
 * call's message offers "Approve for 1 h" when the policy allows grants; the click approves with a
 * grant and posts it in the thread with a Revoke button; Revoke by a non-approver is refused, by an
 * approver revokes it (the call path's lookup finds nothing after) and re-renders the reply. And
 * the context an approver sees: "loading" until the context calls' answers are attached, then the
 * message re-rendered with them, beside the last approved call and what changed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runJobHold, startReplica, testPrefix } from './helpers/approvals.js';
import { attachSlack, blockActionsPayload, startFakeSlack, type SlackCall } from './helpers/fake-slack.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const blocksText = (call: SlackCall | undefined) => JSON.stringify(call?.args['blocks'] ?? []);
const pin = { path: 'params.job_id', digest: 'hmac-sha256:job-123', shown: 123 };
const query = { agent: 'agent-a', tool: 'run_job', digests: { 'params.job_id': pin.digest }, maxDurationMs: 4 * 3_600_000 };

describe('standing grants in Slack', () => {
  it('approves for an hour from the message, posts the grant in the thread, and revokes it from there', async () => {
    const fake = await startFakeSlack();
    cleanups.push(() => fake.close());
    const replica = await startReplica(testPrefix());
    cleanups.push(() => replica.close());
    const slack = await attachSlack(replica.approvals, fake);
    const { approvals } = replica;

    const plain = (await approvals.hold(runJobHold({ arguments: { params: { job_id: 7 } } }))).record;
    const held = (await approvals.hold({ ...runJobHold({ settings: { grants: { pin: ['params.job_id'], maxDurationMs: 4 * 3_600_000 } } }), grantPins: [pin] }))
      .record;
    const posts = await fake.waitFor('chat.postMessage', 2);
    const postOf = (id: string) => posts.find((p) => blocksText(p).includes(`"value":"${id}"`));
    expect(blocksText(postOf(plain.id))).not.toContain('airlock_approve_grant');
    const offer = blocksText(postOf(held.id));
    expect(offer).toContain('"action_id":"airlock_approve_grant"');
    expect(offer).toContain('Approve for 1 h');
    expect(offer).toContain('params.job_id=123');

    expect(
      (await slack.send(blockActionsPayload({ action: 'airlock_approve_grant', approvalId: held.id, user: 'U0APPROVER1', messageTs: '1700000001.000100' })))
        .status,
    ).toBe(200);
    await waitUntil(async () => (await approvals.get(held.id))?.status === 'approved');
    await waitUntil(async () => (await approvals.listGrants(10)).length === 1);
    const [grant] = await approvals.listGrants(10);
    expect(grant).toMatchObject({ agent: 'agent-a', tool: 'run_job', approvalId: held.id, createdBy: { kind: 'slack', id: 'U0APPROVER1' } });
    expect(grant!.expiresAt - grant!.createdAt).toBe(3_600_000);
    const thread = (await fake.waitFor('chat.postMessage', 3)).find((p) => p.args['thread_ts'] === '1700000001.000100');
    expect(blocksText(thread)).toContain('"action_id":"airlock_revoke_grant"');
    expect(blocksText(thread)).toContain(`"value":"${grant!.id}"`);

    const revokeClick = (user: string) => blockActionsPayload({ action: 'airlock_revoke_grant', approvalId: grant!.id, user, messageTs: '1700000002.000200' });
    await slack.send(revokeClick('U0STRANGER'));
    const refused = await fake.waitFor('chat.postEphemeral', 1);
    expect(String(refused.at(-1)?.args['text'])).toContain('Not revoked: you are not an approver for run_job.');
    expect((await approvals.findGrant(query))?.id).toBe(grant!.id);

    await slack.send(revokeClick('U0APPROVER2'));
    await waitUntil(() => fake.delivered('chat.update').some((u) => u.args['ts'] === '1700000002.000200'));
    const update = fake.delivered('chat.update').find((u) => u.args['ts'] === '1700000002.000200');
    expect(String(update?.args['text'])).toContain('was *revoked* by <@U0APPROVER2>');
    expect(blocksText(update)).not.toContain('airlock_revoke_grant');
    expect(await approvals.findGrant(query)).toBeUndefined();
    expect(replica.audit.events.filter((e) => e.type.startsWith('grant_')).map((e) => [e.type, e.actor?.id])).toEqual([
      ['grant_created', 'U0APPROVER1'],
      ['grant_revoked', 'U0APPROVER2'],
    ]);
  });
});

describe('context for approvers in Slack', () => {
  it('says the context is loading, then re-renders the message with the answers and the last approved call', async () => {
    const fake = await startFakeSlack();
    cleanups.push(() => fake.close());
    const replica = await startReplica(testPrefix());
    cleanups.push(() => replica.close());
    await attachSlack(replica.approvals, fake);
    const { approvals } = replica;

    const first = (await approvals.hold(runJobHold({ arguments: { params: { job_id: 123, notebook_params: { date: '2026-11-01' } } } }))).record;
    await approvals.decide(first.id, { kind: 'slack', id: 'U0APPROVER1', name: 'alice' }, 'approve', undefined);
    const held = (
      await approvals.hold(runJobHold({ arguments: { params: { job_id: 123, notebook_params: { date: '2026-11-02' } } }, settings: { context: ['Job'] } }))
    ).record;
    await waitUntil(() => fake.delivered('chat.postMessage').some((p) => blocksText(p).includes(`"value":"${held.id}"`)));
    const post = fake.delivered('chat.postMessage').find((p) => blocksText(p).includes(`"value":"${held.id}"`));
    expect(blocksText(post)).toContain('Context (Job): loading');
    expect(blocksText(post)).toContain('*Last approved*');
    expect(blocksText(post)).toContain('`params.notebook_params.date` changed from');

    await approvals.attachContext(held.id, [{ label: 'Job', tool: 'list_jobs', state: 'ok', text: '{"job_id": 123, "settings": {"name": "finance-close"}}' }]);
    await waitUntil(() => fake.delivered('chat.update').some((u) => blocksText(u).includes('finance-close')));
    const update = fake.delivered('chat.update').find((u) => blocksText(u).includes('finance-close'));
    expect(blocksText(update)).toContain('*Job* (from `list_jobs`)');
    expect(blocksText(update)).not.toContain('loading');
  });
});
