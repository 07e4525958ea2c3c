/**
 * The approvals core, independent of any channel, behind two ports (ports.ts): the call path
 * holds a call (record + BullMQ job), waits for its decision, withdraws it, and releases it at
 * most once; channels read, check and decide (first valid decision wins, quorum counts distinct
 * authenticated principals, one deny decides, a re-run is a new decision). It expires holds,
 * marks executions whose lease lapsed as `outcome_unknown`, and tells channels and the audit
 * history about each step. Only the composition root and the CLI construct it.
 */
import { randomBytes } from 'node:crypto';
import type { AuditEventInput, AuditSink } from '../audit/types.js';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Redis } from '../state/redis.js';
import { withStateStore } from '../state/state-store.js';
import { ApprovalEvents } from './approval-events.js';
import { ApprovalStore } from './approval-store.js';
import { GrantStore } from './grant-store.js';
import type { Grant, GrantQuery, RevokeResult } from './grant-types.js';
import { StandingGrants, type ResolvedGrant } from './standing-grants.js';
import { authorizeDecision } from './authorize.js';
import { principalOf } from './deciders.js';
import { HoldQueue } from './hold-queue.js';
import { NotificationQueue } from './notification-queue.js';
import { NudgeQueue, nudgeJobId, type Nudge } from './nudge-queue.js';
import { OutcomeOutbox } from './outcome-outbox.js';
import type {
  ApprovalCallPath,
  ApprovalChannels,
  CallKey,
  CheckResult,
  DecideOptions,
  EditCheck,
  HoldInput,
  Release,
  ReleaseOptions,
  ReleaseOutcome,
} from './ports.js';
import { releaseOnce, type ReleaseOnceDeps } from './release-once.js';
import { planEdit, editDetails } from './edit-plan.js';
import {
  approversOf,
  rerunnableStatuses,
  type Actor,
  type ApprovalEventKind,
  type ApprovalNotifier,
  type ApprovalRecord,
  type ApprovalStatus,
  type ApproverDirectory,
  type ContextEntry,
  type DecisionResult,
  type Edit,
  type EditRefused,
  type Execution,
  type HeldRequest,
  type Verdict,
} from './types.js';

export interface ApprovalServiceOptions {
  /** Fail-fast connection for the call path. */
  redis: Redis;
  redisUrl: string;
  /** Key prefix from the config (`airlock:`). */
  prefix: string;
  log: Logger;
  audit: AuditSink;
  /** How long an approved call waits for its identical retry, and how long an outcome and its result are kept for retries. */
  retryValidityMs: number;
  /** A claim on a running call lapses this long after its last renewal (renewed every third of it). Default 30 s. */
  executionLeaseMs?: number;
  /** Results larger than this (as JSON) are kept truncated, flagged as such. Default 256 KiB. */
  maxStoredResultBytes?: number;
  /** Most outcome records held in memory while Redis is unreachable. Default 10,000. */
  pendingOutcomesLimit?: number;
  /** Gateway replicas run the hold worker, the lease sweeper, the events reader and channel workers; the CLI does not. */
  runWorkers: boolean;
  /** Told of each channel notification given up on after its retries (for metrics). */
  onDeliveryFailure?(channel: string): void;
  /** Told of each execution outcome given up on (Redis away past the bounds) (for metrics). */
  onOutcomeAbandoned?(): void;
  now?: () => number;
}

export type { HoldInput };

const system: Actor = { kind: 'system', id: 'airlock' };

export class ApprovalService implements ApprovalCallPath, ApprovalChannels {
  private readonly options: ApprovalServiceOptions;
  private readonly store: ApprovalStore;
  private readonly holds: HoldQueue;
  private readonly nudges: NudgeQueue;
  private readonly notifications: NotificationQueue;
  private readonly events: ApprovalEvents;
  private readonly outbox: OutcomeOutbox;
  private readonly execution: ReleaseOnceDeps;
  private readonly grants: StandingGrants;
  private directory: ApproverDirectory | undefined;
  private editCheck: EditCheck | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  /** When the call-path connection last became ready (undefined while it is down). */
  private connectedSince: number | undefined;
  private readonly now: () => number;
  /** Identifies this replica in execution claims. */
  readonly replicaId = `replica-${randomBytes(4).toString('hex')}`;

  constructor(options: ApprovalServiceOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.store = new ApprovalStore(options.redis, options.prefix);
    const bullPrefix = `${options.prefix}bull`;
    this.holds = new HoldQueue({
      redisUrl: options.redisUrl,
      prefix: bullPrefix,
      log: options.log,
      runWorker: options.runWorkers,
      finalize: (r) => this.finalizeDue(r),
    });
    this.nudges = new NudgeQueue({
      redisUrl: options.redisUrl,
      prefix: bullPrefix,
      log: options.log,
      runWorker: options.runWorkers,
      run: (nudge) => this.nudge(nudge),
    });
    this.notifications = new NotificationQueue({
      redisUrl: options.redisUrl,
      prefix: bullPrefix,
      log: options.log,
      runWorkers: options.runWorkers,
      load: (id) => this.store.get(id),
      ...(options.onDeliveryFailure ? { onGiveUp: options.onDeliveryFailure } : {}),
    });
    this.grants = new StandingGrants({
      store: new GrantStore(options.redis, options.prefix),
      audit: options.audit,
      now: this.now,
      directory: () => this.directory,
    });
    this.events = new ApprovalEvents({ redisUrl: options.redisUrl, key: this.store.eventsKey, log: options.log });
    this.outbox = new OutcomeOutbox({
      log: options.log,
      capacity: options.pendingOutcomesLimit ?? 10_000,
      ...(options.onOutcomeAbandoned ? { onAbandoned: options.onOutcomeAbandoned } : {}),
    });
    this.connectedSince = options.redis.status === 'ready' ? this.now() : undefined;
    options.redis.on('ready', () => {
      this.connectedSince = this.now();
      this.outbox.kick();
    });
    options.redis.on('close', () => (this.connectedSince = undefined));
    this.execution = {
      store: this.store,
      events: this.events,
      outbox: this.outbox,
      replicaId: this.replicaId,
      leaseMs: this.leaseMs,
      keepMs: options.retryValidityMs,
      maxStoredResultBytes: options.maxStoredResultBytes ?? 256 * 1024,
      log: options.log,
      now: this.now,
      judgeLeasesInMs: () => this.judgeLeasesInMs(),
      read: (id) => this.requireRecord(id),
      announceLapse: (id) => this.announceLapse(id),
      auditExecution: (record, execution, details) => this.auditExecution(record, execution, details),
      announceExecution: (id) => this.notifications.publish('executed', id),
    };
  }

  private get leaseMs(): number {
    return this.options.executionLeaseMs ?? 30_000;
  }

  /** See ReleaseOnceDeps.judgeLeasesInMs: a whole lease period of connection before judging any lease. */
  private judgeLeasesInMs(): number {
    if (this.connectedSince === undefined) return this.leaseMs;
    return Math.max(0, this.connectedSince + this.leaseMs - this.now());
  }

  async start(): Promise<void> {
    await this.holds.start();
    await this.nudges.start();
    if (!this.options.runWorkers) return;
    await this.events.start();
    const sweep = () => void this.sweep();
    this.sweeper = setInterval(sweep, Math.max(100, Math.floor(this.leaseMs / 2)));
    this.sweeper.unref();
    sweep();
  }

  /** Stops the workers; outcomes still waiting for Redis get up to `drainMs` (then they are reported as given up). */
  async close(drainMs = 5_000): Promise<void> {
    clearInterval(this.sweeper);
    await this.outbox.drain(drainMs);
    await this.events.close();
    await this.notifications.close();
    await this.nudges.close();
    await this.holds.close();
  }

  /** Adds an approval channel (its notifications queue starts at once). */
  async addChannel(notifier: ApprovalNotifier): Promise<void> {
    await this.notifications.register(notifier);
  }

  /** Resolves Slack user groups named in `approvers`. */
  setDirectory(directory: ApproverDirectory): void {
    this.directory = directory;
  }

  get channelHealth() {
    return this.notifications.health();
  }

  /** Held calls still waiting for a decision, across all replicas (their hold jobs are still delayed). */
  pendingCount(): Promise<number> {
    return this.holds.delayedCount();
  }

  /** Held calls this replica is waiting on. */
  get waitingCount(): number {
    return this.events.waitingCount;
  }

  /** Execution outcomes waiting in memory for Redis to come back. */
  get pendingOutcomes(): number {
    return this.outbox.size;
  }

  // ── The call path ────────────────────────────────────────────────────────────────────────────

  async find(call: CallKey): Promise<ApprovalRecord | undefined> {
    const id = await withStateStore(() => this.store.boundId(call.agent, call.tool, call.argumentsHash));
    if (id === undefined) return undefined;
    const record = await withStateStore(() => this.store.get(id));
    if (!record || record.status === 'denied' || record.status === 'expired' || record.status === 'withdrawn') return undefined;
    return record;
  }

  async hold(input: HoldInput): Promise<{ record: ApprovalRecord; attached: boolean }> {
    const createdAt = this.now();
    const previous = await withStateStore(() => this.store.lastApproved(input.tool, input.grantPins));
    const request: HeldRequest = {
      ...input,
      ...(previous ? { previous } : {}),
      id: newApprovalId(),
      createdAt,
      expiresAt: createdAt + input.settings.timeoutMs,
    };
    const outcome = await withStateStore(() => this.store.create(request, input.settings.timeoutMs + this.options.retryValidityMs));
    if (outcome.kind === 'attached') return { record: await this.requireRecord(outcome.id), attached: true };
    await withStateStore(() => this.holds.add(request, request.expiresAt - createdAt));
    await withStateStore(() => this.nudges.schedule(request));
    await this.audit({ type: 'approval_requested', ...callFields(request), latency: {} });
    await this.notifications.publish('requested', request.id);
    // Just written, so known without reading it back; a decision that lands meanwhile is seen by
    // waitForOutcome(), which reads the record after it subscribes.
    const record: ApprovalRecord = {
      ...request,
      status: 'pending',
      votes: [],
      decidedBy: undefined,
      decidedAt: undefined,
      reason: undefined,
      attempt: 1,
      claim: undefined,
      unknownAt: undefined,
      execution: undefined,
      channelRefs: {},
      context: undefined,
      edit: undefined,
      reminded: [],
      escalated: [],
    };
    return { record, attached: false };
  }

  async waitForOutcome(id: string, timeoutMs: number, signal: AbortSignal): Promise<ApprovalRecord> {
    const deadline = this.now() + timeoutMs;
    const waiter = this.events.waiter(id);
    try {
      for (;;) {
        let record: ApprovalRecord;
        try {
          record = await this.requireRecord(id);
        } catch (error) {
          // Redis unreachable for a moment (a Sentinel failover, a restart): the hold lives on in
          // Redis, so the call keeps waiting and reads again, until its own deadline.
          const storeFault = error instanceof AirlockError && error.code === 'state_store_unavailable' && error.cause !== undefined;
          const leftMs = deadline - this.now();
          if (!storeFault || leftMs <= 0 || signal.aborted) throw error;
          await waiter.next(Math.min(1_000, leftMs), signal);
          continue;
        }
        const leftMs = deadline - this.now();
        if (record.status !== 'pending' || leftMs <= 0 || signal.aborted) return record;
        await waiter.next(leftMs, signal);
      }
    } finally {
      waiter.close();
    }
  }

  async withdraw(id: string, reason: string): Promise<void> {
    const result = await this.store.finalize(id, 'withdrawn', system, this.now(), reason);
    if (result !== 'ok') return;
    const record = await this.requireRecord(id);
    await this.audit({ type: 'withdrawn', ...callFields(record), actor: system, reason });
    await this.holds.promote(id);
    await this.nudges.cancel(record);
    await this.notifications.publish('withdrawn', id);
    await this.store.expireTerminal(id);
  }

  releaseOnce(record: ApprovalRecord, release: Release, options: ReleaseOptions): Promise<ReleaseOutcome> {
    return releaseOnce(this.execution, record, release, options);
  }

  async attachContext(id: string, entries: ContextEntry[]): Promise<void> {
    if (await withStateStore(() => this.store.setContext(id, entries))) await this.notifications.publish('context', id);
  }

  findGrant(query: GrantQuery): Promise<Grant | undefined> {
    return withStateStore(() => this.grants.find(query));
  }

  // ── The channels ─────────────────────────────────────────────────────────────────────────────

  get(id: string): Promise<ApprovalRecord | undefined> {
    return withStateStore(() => this.store.get(id));
  }

  list(options: { status?: ApprovalStatus; limit: number; before?: number }): Promise<ApprovalRecord[]> {
    return withStateStore(() => this.store.list(options));
  }

  async check(id: string, actor: Actor, verdict: Verdict): Promise<CheckResult> {
    const record = await withStateStore(() => this.store.get(id));
    if (!record) return { kind: 'not_found' };
    if (verdict === 'rerun' && !rerunnableStatuses.includes(record.status)) return { kind: 'not_rerunnable', record };
    if (verdict !== 'rerun' && record.status !== 'pending') return { kind: 'already_decided', record };
    const authorization = await authorizeDecision(actor, record, verdict, this.directory);
    if (!authorization.allowed) {
      await this.audit({ type: 'unauthorized_approver', ...callFields(record), actor, reason: authorization.why, details: { verdict } });
      return { kind: 'not_authorized', record, why: authorization.why };
    }
    return { kind: 'allowed', record };
  }

  async decide(id: string, actor: Actor, verdict: Verdict, reason: string | undefined, options: DecideOptions = {}): Promise<DecisionResult> {
    const check = await this.check(id, actor, verdict);
    if (check.kind !== 'allowed') return check;
    if (options.grant !== undefined && verdict !== 'approve') {
      throw new AirlockError('invalid_request', `A standing grant is given with an approval; a ${verdict} cannot carry one. Leave the grant out.`);
    }
    const grant: ResolvedGrant | undefined = options.grant === undefined ? undefined : this.grants.resolve(check.record, options.grant);
    const outcome = await this.recordDecision(check.record, actor, verdict, reason, undefined, grant);
    if (outcome.kind === 'edit_refused') throw new Error('unreachable: a decision without an edit has no edit to refuse');
    return outcome;
  }

  async mayDecide(record: ApprovalRecord, actor: Actor): Promise<boolean> {
    return (await authorizeDecision(actor, record, 'approve', this.directory)).allowed;
  }

  /** Tells the core how to check an edited call (the front's policy and schemas); without it, edits are refused. */
  setEditCheck(check: EditCheck): void {
    this.editCheck = check;
  }

  async decideEdited(id: string, actor: Actor, edits: Record<string, unknown>, reason: string | undefined): Promise<DecisionResult | EditRefused> {
    const check = await this.check(id, actor, 'approve');
    if (check.kind !== 'allowed') return check;
    const { record } = check;
    const planned = planEdit(record, edits);
    if (!planned.ok) return this.refuseEdit(record, actor, planned.why);
    if (planned.changes.length === 0) return this.decide(id, actor, 'approve', reason); // nothing changed: a plain approval
    const verdict = this.editCheck ? await this.editCheck(record, planned.edited) : { ok: false as const, why: 'this process cannot check edited calls' };
    if (!verdict.ok) return this.refuseEdit(record, actor, verdict.why);
    const edit: Edit = { changes: planned.changes, editor: actor, at: this.now(), displayArguments: planned.edited };
    return this.recordDecision(record, actor, 'approve', reason, edit);
  }

  private async refuseEdit(record: ApprovalRecord, actor: Actor, why: string): Promise<EditRefused> {
    await this.audit({ type: 'edit_refused', ...callFields(record), actor, reason: why });
    return { kind: 'edit_refused', record, why };
  }

  /** Records an allowed decision (with the approver's edit, if any) and tells the audit, the channels and the hold. */
  private async recordDecision(
    record: ApprovalRecord,
    actor: Actor,
    verdict: Verdict,
    reason: string | undefined,
    edit: Edit | undefined,
    grant?: ResolvedGrant,
  ): Promise<DecisionResult | EditRefused> {
    const id = record.id;
    const now = this.now();
    const rerun = verdict === 'rerun';
    const attempt = rerun ? record.attempt + 1 : record.attempt;
    const quorum = record.settings.quorum;
    const vote = { actor, principal: principalOf(actor), verdict, reason, now };
    const outcome = await withStateStore(() => this.store.decide(id, vote, quorum, attempt, this.options.retryValidityMs, edit));
    const fresh = await this.requireRecord(id);
    const progress = { approvals: 'approvals' in outcome ? outcome.approvals : 0, quorum };
    const voteDetails = { ...progress, principal: vote.principal, ...(rerun ? { rerun: true, attempt } : {}), ...(edit ? { edit: editDetails(edit) } : {}) };
    switch (outcome.kind) {
      case 'not_found':
        return { kind: 'not_found' };
      case 'edit_conflict':
        return this.refuseEdit(fresh, actor, 'the call was already approved as asked (or edited) by another approver; an edit must come before any approval');
      case 'already_decided':
        return rerun && !rerunnableStatuses.includes(fresh.status) ? { kind: 'not_rerunnable', record: fresh } : { kind: 'already_decided', record: fresh };
      case 'duplicate_vote':
        return { kind: 'duplicate_vote', record: fresh, ...progress };
      case 'vote_recorded':
        await this.audit({ type: 'approval_vote', ...callFields(record), actor, details: voteDetails });
        await this.notifications.publish('vote', id);
        return { kind: 'vote_recorded', record: fresh, ...progress };
      case 'decided': {
        if (rerun) {
          await this.audit({ type: 'rerun_approved', ...callFields(record), actor, ...(reason ? { reason } : {}), details: voteDetails });
          await this.notifications.publish('rerun_approved', id);
          return { kind: 'decided', record: fresh };
        }
        const type = fresh.status === 'approved' ? 'approved' : 'approval_denied';
        const details = type === 'approved' ? { details: voteDetails } : {};
        await this.audit({ type, ...callFields(record), actor, ...(reason ? { reason } : {}), latency: { decisionMs: now - record.createdAt }, ...details });
        await this.holds.promote(id);
        await this.nudges.cancel(record);
        await this.notifications.publish('decided', id);
        if (fresh.status !== 'approved') await this.store.expireTerminal(id);
        else await withStateStore(() => this.store.setLastApproved(fresh));
        if (grant !== undefined && fresh.status === 'approved') {
          return { kind: 'decided', record: fresh, grant: await withStateStore(() => this.grants.create(fresh, actor, grant, reason)) };
        }
        return { kind: 'decided', record: fresh };
      }
    }
  }

  listGrants(limit: number): Promise<Grant[]> {
    return withStateStore(() => this.grants.list(limit));
  }

  getGrant(id: string): Promise<Grant | undefined> {
    return withStateStore(() => this.grants.get(id));
  }

  revokeGrant(id: string, actor: Actor, reason: string | undefined): Promise<RevokeResult> {
    return withStateStore(() => this.grants.revoke(id, actor, reason));
  }

  setChannelRef(id: string, channel: string, ref: unknown): Promise<void> {
    return withStateStore(() => this.store.setChannelRef(id, channel, ref));
  }

  // ── Workers ──────────────────────────────────────────────────────────────────────────────────

  /** The BullMQ worker's step when a held job comes due: decided already, or expired now. */
  private async finalizeDue(request: HeldRequest): Promise<ApprovalStatus> {
    const result = await this.store.finalize(request.id, 'expired', system, this.now(), 'no decision before the approval timeout');
    if (result === 'ok') {
      await this.audit({
        type: 'expired',
        ...callFields(request),
        actor: system,
        reason: 'approval timeout',
        latency: { heldMs: this.now() - request.createdAt },
      });
      await this.nudges.cancel(request);
      await this.notifications.publish('expired', request.id);
      await this.store.expireTerminal(request.id);
      return 'expired';
    }
    if (result === 'not_found') return 'expired';
    return result;
  }

  /**
   * The worker's step when a reminder or escalation comes due: recorded once, and only while the
   * call is still pending (a decision that raced it wins), then audited and told to the channels.
   */
  private async nudge(nudge: Nudge): Promise<void> {
    const kind = nudge.kind === 'remind' ? 'reminded' : 'escalated';
    const outcome = await withStateStore(() => this.store.recordNudge(nudge.approvalId, kind, nudge.index));
    if (outcome !== 'ok') return; // decided meanwhile, or this step was already taken
    const record = await this.requireRecord(nudge.approvalId);
    const step = nudge.kind === 'escalate' ? record.settings.escalate?.[nudge.index] : undefined;
    const fraction = nudge.kind === 'remind' ? record.settings.remind?.[nudge.index] : undefined;
    await this.audit({
      type: nudge.kind === 'remind' ? 'approval_reminded' : 'approval_escalated',
      ...callFields(record),
      actor: system,
      details: {
        step: nudge.index,
        ...(fraction === undefined ? {} : { fractionOfTimeout: fraction }),
        ...(step ? { afterMs: step.afterMs, ...(step.channel ? { channel: step.channel } : {}), addedApprovers: step.approvers } : {}),
        approvers: approversOf(record),
      },
    });
    // A stable job id: a retried step never queues a second message.
    await this.notifications.publish(kind, record.id, { jobId: nudgeJobId(nudge) });
  }

  /** Marks executions whose lease lapsed (their claimant died or lost Redis) as outcome_unknown. */
  private async sweep(): Promise<void> {
    if (this.judgeLeasesInMs() > 0) return;
    try {
      const ids = await withStateStore(() => this.store.sweepLapsed(this.options.retryValidityMs));
      for (const id of ids) await this.announceLapse(id);
    } catch (error) {
      this.options.log.debug({ err: (error as Error).message }, 'lease sweep failed; retrying at the next interval');
    }
  }

  /** Audits and announces a lapse this replica's script detected (each lapse is detected once). */
  private async announceLapse(id: string): Promise<void> {
    const record = await this.requireRecord(id);
    this.options.log.warn({ approval: id, claim: record.claim }, 'execution lease lapsed with no outcome recorded: outcome unknown, not re-run');
    await this.audit({
      type: 'outcome_unknown',
      ...callFields(record),
      actor: system,
      reason: 'the execution lease lapsed before an outcome was recorded (the replica running it died or lost Redis)',
      details: { attempt: record.attempt, claimedBy: record.claim?.by, claimedAt: record.claim?.at, leaseUntil: record.claim?.leaseUntil },
    }).catch((error: unknown) => this.options.log.error({ approval: id, err: (error as Error).message }, 'could not audit an outcome_unknown'));
    await this.notifications.publish('outcome_unknown', id);
  }

  private async auditExecution(record: ApprovalRecord, execution: Execution, details: Record<string, unknown>): Promise<void> {
    await this.audit({
      type: 'executed',
      ...callFields(record),
      ...(record.edit ? { arguments: record.edit.displayArguments } : {}),
      outcome: execution.outcome,
      latency: { heldMs: (record.decidedAt ?? execution.at) - record.createdAt, upstreamMs: execution.durationMs },
      details: {
        summary: execution.summary,
        ...(execution.truncated ? { resultTruncated: true } : {}),
        ...(record.edit ? { edit: editDetails(record.edit), originalArguments: record.displayArguments } : {}),
        ...details,
      },
    });
  }

  private async audit(event: AuditEventInput): Promise<void> {
    await this.options.audit.append(event);
  }

  private async requireRecord(id: string): Promise<ApprovalRecord> {
    const record = await withStateStore(() => this.store.get(id));
    if (!record) throw new AirlockError('state_store_unavailable', `Approval ${id} vanished from the state store; retry the call.`, { retryAfterSec: 5 });
    return record;
  }
}

function callFields(request: HeldRequest): Partial<AuditEventInput> {
  return {
    agent: request.agent,
    session: request.sessionId,
    upstream: request.upstream,
    tool: request.tool,
    arguments: request.displayArguments,
    argumentsHash: request.argumentsHash,
    policyVersion: request.policyVersion,
    rule: request.rule,
    approvalId: request.id,
  };
}

/** `apr_` + 16 random base32-ish characters: unguessable, short enough to read out loud. */
export function newApprovalId(): string {
  return `apr_${randomBytes(10).toString('base64url').replace(/[-_]/g, '').slice(0, 12).toLowerCase()}${randomBytes(2).toString('hex')}`;
}

export type { ApprovalEventKind };
