/**
 * The approvals core on real Redis and BullMQ, with several services as replicas: atomic first
 * decision, quorum, expiry, withdrawal, execution claimed once, identical calls attached.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runJobHold, slackUser, startReplica, testPrefix, type Replica } from './helpers/approvals.js';

const replicas: Replica[] = [];
async function replica(prefix: string, options?: Parameters<typeof startReplica>[1]): Promise<Replica> {
  const r = await startReplica(prefix, options);
  replicas.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(replicas.splice(0).map((r) => r.close()));
});

const never = new AbortController().signal;

describe('the approvals core', () => {
  it('lets exactly one of two simultaneous decisions on two replicas win; the other is told who decided', async () => {
    const prefix = testPrefix();
    const [a, b] = await Promise.all([replica(prefix), replica(prefix)]);
    const { record } = await a.approvals.hold(runJobHold());
    const [approve, deny] = await Promise.all([
      a.approvals.decide(record.id, slackUser('U0APPROVER1'), 'approve', undefined),
      b.approvals.decide(record.id, slackUser('U0APPROVER2'), 'deny', 'not during the freeze'),
    ]);
    const kinds = [approve.kind, deny.kind].sort();
    expect(kinds).toEqual(['already_decided', 'decided']);
    const loser = approve.kind === 'already_decided' ? approve : deny;
    if (loser.kind !== 'already_decided') throw new Error('expected a loser');
    expect(['U0APPROVER1', 'U0APPROVER2']).toContain(loser.record.decidedBy?.id);
    const final = await a.approvals.get(record.id);
    expect(['approved', 'denied']).toContain(final?.status);
    const decisions = [...a.audit.events, ...b.audit.events].filter((e) => e.type === 'approved' || e.type === 'approval_denied');
    expect(decisions).toHaveLength(1);
  });

  it('needs two distinct approvers with quorum 2, and does not count the same approver twice', async () => {
    const { approvals, audit } = await replica(testPrefix());
    const { record } = await approvals.hold(runJobHold({ settings: { quorum: 2 } }));
    const first = await approvals.decide(record.id, slackUser('U0APPROVER1'), 'approve', undefined);
    expect(first).toMatchObject({ kind: 'vote_recorded', approvals: 1, quorum: 2 });
    const again = await approvals.decide(record.id, slackUser('U0APPROVER1'), 'approve', undefined);
    expect(again).toMatchObject({ kind: 'duplicate_vote', approvals: 1 });
    expect((await approvals.get(record.id))?.status).toBe('pending');
    const second = await approvals.decide(record.id, slackUser('U0APPROVER2'), 'approve', undefined);
    expect(second.kind).toBe('decided');
    const final = await approvals.get(record.id);
    expect(final?.status).toBe('approved');
    expect(final?.votes.map((v) => v.actor.id)).toEqual(['U0APPROVER1', 'U0APPROVER2']);
    expect(audit.events.map((e) => e.type)).toEqual(['approval_requested', 'approval_vote', 'approved']);
  });

  it('lets one deny decide even when a quorum is required', async () => {
    const { approvals } = await replica(testPrefix());
    const { record } = await approvals.hold(runJobHold({ settings: { quorum: 2 } }));
    await approvals.decide(record.id, slackUser('U0APPROVER1'), 'approve', undefined);
    const deny = await approvals.decide(record.id, slackUser('U0APPROVER2'), 'deny', 'wrong date');
    expect(deny.kind).toBe('decided');
    expect(await approvals.get(record.id)).toMatchObject({ status: 'denied', reason: 'wrong date' });
  });

  it('refuses and audits a decision by someone who is not an approver, or by the agent owner', async () => {
    const { approvals, audit } = await replica(testPrefix());
    const { record } = await approvals.hold(runJobHold({ owner: 'U0APPROVER1' }));
    const stranger = await approvals.decide(record.id, slackUser('U0STRANGER'), 'approve', undefined);
    expect(stranger).toMatchObject({ kind: 'not_authorized', why: expect.stringMatching(/not an approver for run_job/) });
    const owner = await approvals.decide(record.id, slackUser('U0APPROVER1'), 'approve', undefined);
    expect(owner).toMatchObject({ kind: 'not_authorized', why: expect.stringMatching(/own the agent/) });
    expect((await approvals.get(record.id))?.status).toBe('pending');
    expect(audit.events.filter((e) => e.type === 'unauthorized_approver').map((e) => e.actor?.id)).toEqual(['U0STRANGER', 'U0APPROVER1']);
  });

  it('expires a held call at its timeout and tells the waiter, even when the waiter is on another replica', async () => {
    const prefix = testPrefix();
    const [a, b] = await Promise.all([replica(prefix), replica(prefix)]);
    const { record } = await a.approvals.hold(runJobHold({ settings: { timeoutMs: 700 } }));
    const waited = await b.approvals.waitForOutcome(record.id, 10_000, never);
    expect(waited.status).toBe('expired');
    const late = await a.approvals.decide(record.id, slackUser('U0APPROVER1'), 'approve', undefined);
    expect(late.kind).toBe('already_decided');
    expect([...a.audit.events, ...b.audit.events].filter((e) => e.type === 'expired')).toHaveLength(1);
  });

  it('delivers a decision made on replica B to the call waiting on replica A', async () => {
    const prefix = testPrefix();
    const [a, b] = await Promise.all([replica(prefix), replica(prefix)]);
    const { record } = await a.approvals.hold(runJobHold());
    const waiting = a.approvals.waitForOutcome(record.id, 20_000, never);
    await new Promise((r) => setTimeout(r, 100));
    await b.approvals.decide(record.id, slackUser('U0APPROVER2'), 'approve', undefined);
    const outcome = await waiting;
    expect(outcome.status).toBe('approved');
    expect(outcome.decidedBy?.id).toBe('U0APPROVER2');
  });

  it('withdraws a pending approval so that a later approval executes nothing', async () => {
    const { approvals, audit } = await replica(testPrefix());
    const { record } = await approvals.hold(runJobHold());
    await approvals.withdraw(record.id, 'the agent cancelled');
    const late = await approvals.decide(record.id, slackUser('U0APPROVER1'), 'approve', undefined);
    expect(late.kind).toBe('already_decided');
    expect(await approvals.claimExecution(record.id)).toBe('withdrawn');
    expect(audit.events.map((e) => e.type)).toEqual(['approval_requested', 'withdrawn']);
  });

  it('attaches an identical call to the live approval instead of asking again', async () => {
    const { approvals, audit } = await replica(testPrefix());
    const first = await approvals.hold(runJobHold());
    const retry = await approvals.hold(runJobHold({ sessionId: 'session-2' }));
    expect(retry).toMatchObject({ attached: true, record: { id: first.record.id } });
    const other = await approvals.hold(runJobHold({ arguments: { params: { job_id: 101 } } }));
    expect(other.attached).toBe(false);
    expect(audit.events.filter((e) => e.type === 'approval_requested')).toHaveLength(2);
  });

  it('hands an approved call to exactly one of many concurrent claimants', async () => {
    const prefix = testPrefix();
    const [a, b] = await Promise.all([replica(prefix), replica(prefix)]);
    const { record } = await a.approvals.hold(runJobHold());
    await a.approvals.decide(record.id, slackUser('U0APPROVER1'), 'approve', undefined);
    const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).approvals.claimExecution(record.id)));
    expect(claims.filter((c) => c === 'claimed')).toHaveLength(1);
    expect(claims.filter((c) => c === 'taken')).toHaveLength(9);
  });
});
