/**
 * The approvals core on real Redis and BullMQ, with several services as replicas: atomic first
 * decision, quorum by authenticated principal, expiry, withdrawal, release once under a lease,
 * the kept result, outcome_unknown when a lease lapses, and re-runs as new decisions.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { releaseApproved, runJobHold, runJobResult, slackUser, startReplica, testPrefix, type Replica } from './helpers/approvals.js';

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
    let ran = false;
    const released = await releaseApproved(approvals, record.id, async () => {
      ran = true;
      return runJobResult(1);
    });
    expect(released).toMatchObject({ kind: 'not_approved', record: { status: 'withdrawn' } });
    expect(ran).toBe(false);
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

  it('runs an approved call once for many concurrent requests on two replicas; the others get the kept result', async () => {
    const prefix = testPrefix();
    const [a, b] = await Promise.all([replica(prefix), replica(prefix)]);
    const { record } = await a.approvals.hold(runJobHold());
    await a.approvals.decide(record.id, slackUser('U0APPROVER1'), 'approve', undefined);
    let runs = 0;
    const release = async (): Promise<CallToolResult> => {
      runs += 1;
      await new Promise((r) => setTimeout(r, 300));
      return runJobResult(4711);
    };
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => releaseApproved((i % 2 ? a : b).approvals, record.id, release)));
    expect(runs).toBe(1);
    expect(outcomes.filter((o) => o.kind === 'released')).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'replayed')).toHaveLength(9);
    for (const outcome of outcomes) {
      if (outcome.kind !== 'released' && outcome.kind !== 'replayed') throw new Error(`unexpected ${outcome.kind}`);
      expect(JSON.parse((outcome.result?.content[0] as { text: string }).text)).toEqual({ run_id: 4711, number_in_job: 1 });
    }
    const replayed = outcomes.find((o) => o.kind === 'replayed');
    expect(replayed?.kind === 'replayed' && replayed.result?._meta?.['airlock/result']).toMatchObject({ approvalId: record.id, truncated: false });
    expect((await a.approvals.get(record.id))?.status).toBe('executed');
    const executed = [...a.audit.events, ...b.audit.events].filter((e) => e.type === 'executed');
    expect(executed).toHaveLength(1);
    expect(executed[0]).toMatchObject({ outcome: 'success', details: { summary: 'run_id 4711' } });
  });

  it('counts one admin token as one approver for the quorum, whatever names it sends', async () => {
    const { approvals } = await replica(testPrefix());
    const { record } = await approvals.hold(runJobHold({ settings: { quorum: 2 } }));
    const first = await approvals.decide(record.id, { kind: 'admin', id: 'admin:alice', name: 'alice' }, 'approve', undefined);
    expect(first).toMatchObject({ kind: 'vote_recorded', approvals: 1 });
    const sameToken = await approvals.decide(record.id, { kind: 'admin', id: 'admin:bob', name: 'bob' }, 'approve', undefined);
    expect(sameToken).toMatchObject({ kind: 'duplicate_vote', approvals: 1 });
    const dashboardAdmin = await approvals.decide(record.id, { kind: 'admin', id: 'admin:dashboard', name: 'admin' }, 'approve', undefined);
    expect(dashboardAdmin.kind).toBe('duplicate_vote');
    expect((await approvals.get(record.id))?.status).toBe('pending');
    expect((await approvals.decide(record.id, slackUser('U0APPROVER2'), 'approve', undefined)).kind).toBe('decided');
    expect((await approvals.get(record.id))?.votes.map((v) => v.principal)).toEqual(['admin', 'U0APPROVER2']);
  });

  it('keeps a truncated copy of a result over maxStoredResult, and says so to whoever gets the copy', async () => {
    const { approvals } = await replica(testPrefix(), { maxStoredResultBytes: 2_048 });
    const { record } = await approvals.hold(runJobHold());
    await approvals.decide(record.id, slackUser('U0APPROVER1'), 'approve', undefined);
    const big: CallToolResult = { content: [{ type: 'text', text: 'x'.repeat(10_000) }] };
    const first = await releaseApproved(approvals, record.id, async () => big);
    expect(first.kind === 'released' && first.result).toBe(big);
    const again = await releaseApproved(approvals, record.id, async () => big);
    if (again.kind !== 'replayed' || !again.result) throw new Error(`expected a replay, got ${again.kind}`);
    expect(Buffer.byteLength(JSON.stringify({ ...again.result, _meta: undefined }))).toBeLessThanOrEqual(2_048 + 100);
    expect(again.result._meta?.['airlock/result']).toMatchObject({ truncated: true, originalBytes: expect.any(Number) });
    expect(again.result.content.map((c) => (c.type === 'text' ? c.text : '')).join('')).toMatch(/truncated from \d+ bytes/);
    expect((await approvals.get(record.id))?.execution).toMatchObject({ truncated: true });
  });

  it('marks a call outcome_unknown once when its claimant loses Redis mid-call; a retry learns it at once and nothing runs twice', async () => {
    const prefix = testPrefix();
    const a = await replica(prefix, { executionLeaseMs: 600 });
    const b = await replica(prefix, { executionLeaseMs: 600 });
    const { record } = await a.approvals.hold(runJobHold());
    await a.approvals.decide(record.id, slackUser('U0APPROVER1'), 'approve', undefined);
    let finish: (result: CallToolResult) => void = () => undefined;
    let runs = 0;
    const running = releaseApproved(a.approvals, record.id, () => {
      runs += 1;
      return new Promise<CallToolResult>((resolve) => (finish = resolve));
    });
    await waitFor(async () => (await b.approvals.get(record.id))?.status === 'executing');
    a.redis.disconnect(); // replica A can no longer renew its lease
    await waitFor(async () => (await b.approvals.get(record.id))?.status === 'outcome_unknown', 10_000);
    const started = Date.now();
    const retry = await releaseApproved(b.approvals, record.id, async () => {
      runs += 1;
      return runJobResult(2);
    });
    expect(retry.kind).toBe('outcome_unknown');
    expect(Date.now() - started).toBeLessThan(2_000);
    finish(runJobResult(1));
    expect(await running).toMatchObject({ kind: 'released' });
    expect(runs).toBe(1);
    const unknown = [...a.audit.events, ...b.audit.events].filter((e) => e.type === 'outcome_unknown');
    expect(unknown).toHaveLength(1);
    expect(unknown[0]).toMatchObject({ approvalId: record.id, details: { attempt: 1 } });
  });

  it('runs a call again only after an approved re-run, a new audited decision under the same rules', async () => {
    const { approvals, audit } = await replica(testPrefix());
    const { record } = await approvals.hold(runJobHold({ owner: 'U0APPROVER3' }));
    await approvals.decide(record.id, slackUser('U0APPROVER1'), 'approve', undefined);
    expect(await approvals.decide(record.id, slackUser('U0APPROVER1'), 'rerun', undefined)).toMatchObject({ kind: 'not_rerunnable' });
    await expect(
      releaseApproved(approvals, record.id, async () => {
        throw new Error('connection reset by the upstream');
      }),
    ).rejects.toThrow(/connection reset/);
    expect(await approvals.get(record.id)).toMatchObject({ status: 'failed', execution: { outcome: 'upstream_failure' } });
    expect((await releaseApproved(approvals, record.id, async () => runJobResult(3))).kind).toBe('failed');
    expect(await approvals.decide(record.id, slackUser('U0APPROVER3'), 'rerun', undefined)).toMatchObject({ kind: 'not_authorized' });
    expect(await approvals.decide(record.id, slackUser('U0APPROVER2'), 'rerun', 'checked: no run was started')).toMatchObject({ kind: 'decided' });
    expect(await approvals.get(record.id)).toMatchObject({ status: 'approved', attempt: 2, execution: undefined });
    const rerun = await releaseApproved(approvals, record.id, async () => runJobResult(4));
    expect(rerun).toMatchObject({ kind: 'released', record: { attempt: 2 } });
    expect(await approvals.get(record.id)).toMatchObject({ status: 'executed', attempt: 2 });
    expect(audit.events.map((e) => e.type)).toEqual(['approval_requested', 'approved', 'executed', 'unauthorized_approver', 'rerun_approved', 'executed']);
    expect(audit.events.find((e) => e.type === 'rerun_approved')).toMatchObject({ actor: { id: 'U0APPROVER2' }, reason: 'checked: no run was started' });
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
