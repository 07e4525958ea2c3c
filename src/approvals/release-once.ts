/**
 * Release once: the step between an approval and the upstream. One request, on one replica,
 * claims the approved call under a lease (Redis time), renews the lease while the upstream call
 * runs, and records the outcome — status, a bounded copy of the result for identical retries,
 * the `executed` audit event — through the outbox, so a Redis outage at that moment delays the
 * record but never loses it and never keeps the agent from its result. Any other request for the
 * same approval replays the kept result, or waits (on the events stream, within its deadline)
 * while the lease is alive, or learns `outcome_unknown` as soon as the lease has lapsed.
 */
import { randomBytes } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { withStateStore } from '../state/state-store.js';
import { classifyAnswer, summarizeAnswer } from '../upstream/answer-outcome.js';
import type { ApprovalEvents } from './approval-events.js';
import type { ApprovalStore, OutcomeWrite } from './approval-store.js';
import { keepResult, replayResult } from './kept-result.js';
import type { OutcomeOutbox } from './outcome-outbox.js';
import type { Release, ReleaseOptions, ReleaseOutcome } from './ports.js';
import type { ApprovalRecord, Execution } from './types.js';

export interface ReleaseOnceDeps {
  store: ApprovalStore;
  events: ApprovalEvents;
  outbox: OutcomeOutbox;
  /** Names this replica in claims (`<replica>:<random>`). */
  replicaId: string;
  leaseMs: number;
  /** How long the outcome and the result are kept for identical retries (`retryValidity`). */
  keepMs: number;
  maxStoredResultBytes: number;
  log: Logger;
  now: () => number;
  /**
   * Ms until this replica may judge leases (0: now). A replica judges a lease only after it has
   * been connected to Redis for a whole lease period, so a Redis restart never turns a call whose
   * claimant is alive (and about to renew) into outcome_unknown.
   */
  judgeLeasesInMs(): number;
  /** Reads the record (it must exist), through the state-store deadline. */
  read(id: string): Promise<ApprovalRecord>;
  /** Audits and announces a lapse this replica detected. */
  announceLapse(id: string): Promise<void>;
  /** Writes the `executed` audit event (throws when it cannot, so the outbox retries it). */
  auditExecution(record: ApprovalRecord, execution: Execution, details: Record<string, unknown>): Promise<void>;
  /** Tells the channels (never throws). */
  announceExecution(id: string): Promise<void>;
}

/** Runs an approved call at most once across all replicas; see `ApprovalCallPath.releaseOnce`. */
export async function releaseOnce(deps: ReleaseOnceDeps, initial: ApprovalRecord, release: Release, options: ReleaseOptions): Promise<ReleaseOutcome> {
  const deadline = deps.now() + options.waitMs;
  const waiter = deps.events.waiter(initial.id);
  let stopWaiting: (() => void) | undefined;
  try {
    let record = initial;
    for (;;) {
      switch (record.status) {
        case 'executed':
          return { kind: 'replayed', result: await keptResult(deps, record), record };
        case 'failed':
        case 'outcome_unknown':
          return { kind: record.status, record };
        case 'pending':
        case 'denied':
        case 'expired':
        case 'withdrawn':
          return { kind: 'not_approved', record };
        case 'approved':
        case 'executing':
          break;
      }
      const claimant = `${deps.replicaId}:${randomBytes(6).toString('hex')}`;
      const claim = await withStateStore(() => deps.store.claim(record.id, claimant, deps.leaseMs, deps.keepMs, deps.judgeLeasesInMs() === 0));
      switch (claim.kind) {
        case 'claimed': {
          const at = deps.now();
          const claimed: ApprovalRecord = {
            ...record,
            status: 'executing',
            attempt: claim.attempt,
            claim: { by: claimant, at, leaseUntil: at + deps.leaseMs },
          };
          return await run(deps, claimed, claimant, release);
        }
        case 'lapsed':
          await deps.announceLapse(record.id);
          record = await deps.read(record.id);
          continue;
        case 'not_found':
          throw new AirlockError('conflict', `Approval ${record.id} no longer exists in the state store; call again to ask for a new approval.`, {
            details: { approvalId: record.id },
          });
        case 'status':
          record = await deps.read(record.id);
          continue;
        case 'executing': {
          const leftMs = deadline - deps.now();
          if (leftMs <= 0 || options.signal.aborted) return { kind: 'executing', record: await deps.read(record.id) };
          stopWaiting ??= options.onWaiting?.(record);
          // Woken by its outcome on any replica, or when its lease would lapse (then the claim above marks it).
          const lapseInMs = claim.leaseLeftMs > 0 ? claim.leaseLeftMs + 50 : Math.max(100, deps.judgeLeasesInMs());
          await waiter.next(Math.min(lapseInMs, leftMs), options.signal);
          record = await deps.read(record.id);
          continue;
        }
      }
    }
  } finally {
    stopWaiting?.();
    waiter.close();
  }
}

async function run(deps: ReleaseOnceDeps, record: ApprovalRecord, claimant: string, release: Release): Promise<ReleaseOutcome> {
  const started = deps.now();
  const renewal = renewLease(deps, record.id, claimant);
  let result: CallToolResult;
  try {
    result = await release();
  } catch (error) {
    renewal.stop();
    const summary = (error instanceof Error ? error.message : String(error)).slice(0, 300);
    const execution: Execution = { outcome: 'upstream_failure', at: deps.now(), durationMs: deps.now() - started, summary };
    await recordOutcome(deps, record, claimant, execution, undefined);
    throw error;
  }
  renewal.stop();
  const kept = keepResult(result, deps.maxStoredResultBytes);
  const execution: Execution = {
    outcome: classifyAnswer(result),
    at: deps.now(),
    durationMs: deps.now() - started,
    summary: summarizeAnswer(result),
    ...(kept.truncated ? { truncated: true } : {}),
  };
  const recorded = await recordOutcome(deps, record, claimant, execution, kept.json);
  return { kind: 'released', result, record: recorded };
}

/**
 * The outcome record, then the audit event, then the channels — in order, through the outbox.
 * Waits for the record (so an identical retry right after the answer finds it) but not for the
 * rest; when Redis is away, waits for nothing: the agent gets its result now, the writes follow.
 */
async function recordOutcome(
  deps: ReleaseOnceDeps,
  record: ApprovalRecord,
  claimant: string,
  execution: Execution,
  resultJson: string | undefined,
): Promise<ApprovalRecord> {
  const status = resultJson === undefined ? 'failed' : 'executed';
  let written: OutcomeWrite | undefined;
  const label = `${record.id} attempt ${record.attempt}`;
  await deps.outbox.submit({
    label,
    content: { approvalId: record.id, attempt: record.attempt, tool: record.tool, agent: record.agent, status, execution },
    steps: [
      {
        name: 'outcome record',
        run: async () => {
          written = await withStateStore(() => deps.store.recordOutcome(record.id, claimant, { status, execution, resultJson }, deps.keepMs));
          if (written.kind === 'superseded')
            deps.log.warn({ approval: record.id, status: written.status }, 'late outcome of an attempt a re-run replaced: audited, record unchanged');
        },
      },
      {
        name: 'executed audit event',
        run: () =>
          deps.auditExecution(record, execution, {
            attempt: record.attempt,
            ...(written?.kind === 'recorded' && written.previous === 'outcome_unknown' ? { recordedAfterLapse: true } : {}),
            ...(written?.kind === 'superseded' ? { superseded: true } : {}),
          }),
      },
      { name: 'channel notification', run: () => deps.announceExecution(record.id) },
    ],
  });
  return { ...record, status, execution };
}

/** Renews the claim every third of the lease while the upstream call runs; a failed renewal is retried at the next tick. */
function renewLease(deps: ReleaseOnceDeps, id: string, claimant: string): { stop(): void } {
  let warned = false;
  const timer = setInterval(
    () => {
      void withStateStore(() => deps.store.renew(id, claimant, deps.leaseMs, deps.keepMs)).then(
        (held) => {
          if (!held && !warned) {
            warned = true;
            deps.log.warn({ approval: id }, 'execution lease lapsed while the upstream call ran (Redis was unreachable); its outcome will still be recorded');
          }
        },
        (error: unknown) => deps.log.debug({ approval: id, err: (error as Error).message }, 'lease renewal failed; retrying'),
      );
    },
    Math.max(50, Math.floor(deps.leaseMs / 3)),
  );
  return { stop: () => clearInterval(timer) };
}

async function keptResult(deps: ReleaseOnceDeps, record: ApprovalRecord): Promise<CallToolResult | undefined> {
  const json = await withStateStore(() => deps.store.result(record.id));
  return json === undefined ? undefined : replayResult(json, { approvalId: record.id, executedAt: record.execution?.at ?? deps.now() });
}
