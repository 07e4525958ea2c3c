/**
 * The approvals core, independent of any channel. It holds a call (record + BullMQ job), records
 * decisions from any actor on any replica (first valid decision wins, quorum counts distinct
 * approvers, one deny decides), expires and withdraws, claims an approved call for execution
 * exactly once, and tells channels and the audit history about each step. Slack, the dashboard,
 * the REST API and the CLI all decide through `decide()`.
 */
import { randomBytes } from 'node:crypto';
import type { AuditEventInput, AuditSink } from '../audit/types.js';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Redis } from '../state/redis.js';
import { withStateStore } from '../state/state-store.js';
import { ApprovalStore } from './approval-store.js';
import { authorizeDecision } from './authorize.js';
import { HoldQueue } from './hold-queue.js';
import { NotificationQueue } from './notification-queue.js';
import type {
  Actor,
  ApprovalEventKind,
  ApprovalNotifier,
  ApprovalRecord,
  ApprovalStatus,
  ApproverDirectory,
  DecisionResult,
  Execution,
  HeldRequest,
  Verdict,
} from './types.js';

export interface ApprovalServiceOptions {
  /** Fail-fast connection for the call path. */
  redis: Redis;
  redisUrl: string;
  /** Key prefix from the config (`airlock:`). */
  prefix: string;
  log: Logger;
  audit: AuditSink;
  /** How long an approved call waits for its identical retry to collect it. */
  retryValidityMs: number;
  /** Gateway replicas run the hold worker and channel workers; the CLI does not. */
  runWorkers: boolean;
  /** Told of each channel notification given up on after its retries (for metrics). */
  onDeliveryFailure?(channel: string): void;
  now?: () => number;
}

export type HoldInput = Omit<HeldRequest, 'id' | 'createdAt' | 'expiresAt'>;

const system: Actor = { kind: 'system', id: 'airlock' };

export class ApprovalService {
  readonly store: ApprovalStore;
  private readonly options: ApprovalServiceOptions;
  private readonly holds: HoldQueue;
  private readonly notifications: NotificationQueue;
  private directory: ApproverDirectory | undefined;
  private readonly now: () => number;
  /** Identifies this replica when claiming an approved call for execution. */
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
    this.notifications = new NotificationQueue({
      redisUrl: options.redisUrl,
      prefix: bullPrefix,
      log: options.log,
      runWorkers: options.runWorkers,
      load: (id) => this.store.get(id),
      ...(options.onDeliveryFailure ? { onGiveUp: options.onDeliveryFailure } : {}),
    });
  }

  async start(): Promise<void> {
    await this.holds.start();
  }

  async close(): Promise<void> {
    await this.notifications.close();
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

  get waitingCount(): number {
    return this.holds.waitingCount;
  }

  /**
   * Holds a call, or attaches to the live approval an identical earlier call (same agent, tool
   * and arguments) is waiting on — then no second request goes to the channels.
   */
  async hold(input: HoldInput): Promise<{ record: ApprovalRecord; attached: boolean }> {
    const createdAt = this.now();
    const request: HeldRequest = { ...input, id: newApprovalId(), createdAt, expiresAt: createdAt + input.settings.timeoutMs };
    const outcome = await withStateStore(() => this.store.create(request, input.settings.timeoutMs + this.options.retryValidityMs));
    if (outcome.kind === 'attached') return { record: await this.requireRecord(outcome.id), attached: true };
    await withStateStore(() => this.holds.add(request, request.expiresAt - createdAt));
    await this.audit({ type: 'approval_requested', ...this.callFields(request), latency: {} });
    await this.notifications.publish('requested', request.id);
    // Just written, so known without reading it back; a decision that lands meanwhile is seen by
    // waitForOutcome(), which reads the record before it waits.
    const record: ApprovalRecord = {
      ...request,
      status: 'pending',
      votes: [],
      decidedBy: undefined,
      decidedAt: undefined,
      reason: undefined,
      execution: undefined,
      channelRefs: {},
    };
    return { record, attached: false };
  }

  /**
   * Waits until the held call is decided, expires or is withdrawn, or `timeoutMs` passes, or
   * `signal` aborts. Resolves with the record as it then is.
   */
  async waitForOutcome(id: string, timeoutMs: number, signal: AbortSignal): Promise<ApprovalRecord> {
    await new Promise<void>((resolve) => {
      let unsubscribe = () => undefined as void;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        unsubscribe();
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      signal.addEventListener('abort', done, { once: true });
      unsubscribe = this.holds.onOutcome(id, done);
      // The outcome may have completed before we subscribed: check the record once.
      void this.store.get(id).then(
        (record) => {
          if (record && record.status !== 'pending') done();
        },
        () => undefined,
      );
      if (signal.aborted) done();
    });
    return this.requireRecord(id);
  }

  /**
   * Whether `actor` may record `verdict` on a held call now, without deciding — for channels that
   * must ask something first (Slack's Deny modal asks for a reason). A refusal is audited exactly
   * as `decide()` audits it.
   */
  async checkDecision(
    id: string,
    actor: Actor,
    verdict: Verdict,
  ): Promise<Exclude<DecisionResult, { kind: 'decided' | 'vote_recorded' | 'duplicate_vote' }> | { kind: 'allowed'; record: ApprovalRecord }> {
    const record = await withStateStore(() => this.store.get(id));
    if (!record) return { kind: 'not_found' };
    if (record.status !== 'pending') return { kind: 'already_decided', record };
    const authorization = await authorizeDecision(actor, record, verdict, this.directory);
    if (!authorization.allowed) {
      await this.audit({ type: 'unauthorized_approver', ...this.callFields(record), actor, reason: authorization.why, details: { verdict } });
      return { kind: 'not_authorized', record, why: authorization.why };
    }
    return { kind: 'allowed', record };
  }

  /** Records a decision or a quorum vote. Every refusal is an answer, not an exception. */
  async decide(id: string, actor: Actor, verdict: Verdict, reason: string | undefined): Promise<DecisionResult> {
    const check = await this.checkDecision(id, actor, verdict);
    if (check.kind !== 'allowed') return check;
    const { record } = check;
    const now = this.now();
    const outcome = await withStateStore(() => this.store.decide(id, actor, verdict, reason, now, record.settings.quorum));
    const fresh = await this.requireRecord(id);
    switch (outcome.kind) {
      case 'not_found':
        return { kind: 'not_found' };
      case 'already_decided':
        return { kind: 'already_decided', record: fresh };
      case 'duplicate_vote':
        return { kind: 'duplicate_vote', record: fresh, approvals: outcome.approvals, quorum: record.settings.quorum };
      case 'vote_recorded':
        await this.audit({
          type: 'approval_vote',
          ...this.callFields(record),
          actor,
          details: { approvals: outcome.approvals, quorum: record.settings.quorum },
        });
        await this.notifications.publish('vote', id);
        return { kind: 'vote_recorded', record: fresh, approvals: outcome.approvals, quorum: record.settings.quorum };
      case 'decided': {
        const decisionMs = now - record.createdAt;
        const type = fresh.status === 'approved' ? 'approved' : 'approval_denied';
        await this.audit({ type, ...this.callFields(record), actor, ...(reason ? { reason } : {}), latency: { decisionMs } });
        await this.holds.promote(id);
        await this.notifications.publish('decided', id);
        if (fresh.status !== 'approved') await this.store.expireTerminal(id);
        return { kind: 'decided', record: fresh };
      }
    }
  }

  /** Withdraws a pending approval because the agent gave up; a later approval executes nothing. */
  async withdraw(id: string, reason: string): Promise<void> {
    const result = await this.store.finalize(id, 'withdrawn', system, this.now(), reason);
    if (result !== 'ok') return;
    const record = await this.requireRecord(id);
    await this.audit({ type: 'withdrawn', ...this.callFields(record), actor: system, reason });
    await this.holds.promote(id);
    await this.notifications.publish('withdrawn', id);
    await this.store.expireTerminal(id);
  }

  /** Claims an approved call for execution on this replica; exactly one claimant wins. */
  claimExecution(id: string) {
    return withStateStore(() => this.store.claimExecution(id, this.replicaId));
  }

  /** Records how the released call went; identical retries within the validity window get `result`. */
  async recordExecution(record: ApprovalRecord, execution: Execution, result: unknown): Promise<void> {
    await this.store.recordExecution(record.id, execution, result, this.options.retryValidityMs);
    await this.audit({
      type: 'executed',
      ...this.callFields(record),
      outcome: execution.outcome,
      latency: { heldMs: (record.decidedAt ?? execution.at) - record.createdAt, upstreamMs: execution.durationMs },
      details: { summary: execution.summary },
    });
    await this.notifications.publish('executed', record.id);
  }

  /** The live approval an identical earlier call (same agent, tool, arguments) is waiting on, if any. */
  async findLive(agent: string, tool: string, argumentsHash: string): Promise<ApprovalRecord | undefined> {
    const id = await withStateStore(() => this.options.redis.get(this.store.dedupKey(agent, tool, argumentsHash)));
    if (id === null) return undefined;
    const record = await withStateStore(() => this.store.get(id));
    if (!record) return undefined;
    const live = record.status === 'pending' || (record.status === 'approved' && !record.execution);
    return live ? record : undefined;
  }

  get(id: string): Promise<ApprovalRecord | undefined> {
    return this.store.get(id);
  }

  list(options: { status?: ApprovalStatus; limit: number; before?: number }): Promise<ApprovalRecord[]> {
    return this.store.list(options);
  }

  /** The BullMQ worker's step when a held job comes due: decided already, or expired now. */
  private async finalizeDue(request: HeldRequest): Promise<ApprovalStatus> {
    const result = await this.store.finalize(request.id, 'expired', system, this.now(), 'no decision before the approval timeout');
    if (result === 'ok') {
      await this.audit({
        type: 'expired',
        ...this.callFields(request),
        actor: system,
        reason: 'approval timeout',
        latency: { heldMs: this.now() - request.createdAt },
      });
      await this.notifications.publish('expired', request.id);
      await this.store.expireTerminal(request.id);
      return 'expired';
    }
    if (result === 'not_found') return 'expired';
    return result;
  }

  private callFields(request: HeldRequest): Partial<AuditEventInput> {
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

  private async audit(event: AuditEventInput): Promise<void> {
    await this.options.audit.append(event);
  }

  private async requireRecord(id: string): Promise<ApprovalRecord> {
    const record = await withStateStore(() => this.store.get(id));
    if (!record) throw new AirlockError('state_store_unavailable', `Approval ${id} vanished from the state store; retry the call.`, { retryAfterSec: 5 });
    return record;
  }
}

/** `apr_` + 16 random base32-ish characters: unguessable, short enough to read out loud. */
export function newApprovalId(): string {
  return `apr_${randomBytes(10).toString('base64url').replace(/[-_]/g, '').slice(0, 12).toLowerCase()}${randomBytes(2).toString('hex')}`;
}

export type { ApprovalEventKind };
