/**
 * The approvals contract, as the two ports the rest of the gateway uses. The front (the
 * tools/call pipeline) sees only `ApprovalCallPath`; Slack, the dashboard, the REST API and the
 * CLI see only `ApprovalChannels`. Neither sees the Redis store or the service behind them; only
 * the composition root (src/gateway.ts) and the CLI build that service.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Grant, GrantQuery, GrantRequest, RevokeResult } from './grant-types.js';
import type { Actor, ApprovalRecord, ApprovalStatus, ContextEntry, DecisionResult, EditRefused, HeldRequest, Verdict } from './types.js';

/** A call to hold: the request minus what the core assigns (id, times). */
export type HoldInput = Omit<HeldRequest, 'id' | 'createdAt' | 'expiresAt'>;

/** The same agent asking the same tool with the same arguments (by hash). */
export interface CallKey {
  agent: string;
  tool: string;
  argumentsHash: string;
}

/** Sends the call upstream; the front builds it (the arguments never leave the request). */
export type Release = () => Promise<CallToolResult>;

export interface ReleaseOptions {
  /** How long to wait for another request's run of the same approval before answering `executing`. */
  waitMs: number;
  /** The agent gave up: stop waiting (a run already started is not cancelled by this). */
  signal: AbortSignal;
  /** Called when this request starts waiting for another one's run; returns a function that stops what it started. */
  onWaiting?(record: ApprovalRecord): () => void;
}

/**
 * What `releaseOnce` did. Only `released` means this request ran the call; every other kind
 * says why it did not, and nothing ever runs an approved call twice.
 */
export type ReleaseOutcome =
  /** This request ran it; `result` is the upstream's answer, whole. */
  | { kind: 'released'; result: CallToolResult; record: ApprovalRecord }
  /** It ran before (in this or another request, on any replica); `result` is the kept copy, or undefined when no longer kept. */
  | { kind: 'replayed'; result: CallToolResult | undefined; record: ApprovalRecord }
  /** It was released and the upstream call failed; it may or may not have acted. */
  | { kind: 'failed'; record: ApprovalRecord }
  /** Its claimant died or lost Redis mid-call: nobody knows whether it acted. */
  | { kind: 'outcome_unknown'; record: ApprovalRecord }
  /** Another request is running it now (its lease is alive); retry to collect the result. */
  | { kind: 'executing'; record: ApprovalRecord }
  /** Not approved (pending, denied, expired, withdrawn): nothing to release. */
  | { kind: 'not_approved'; record: ApprovalRecord };

/** The call path's port: find or hold, wait for the decision, withdraw, release once. */
export interface ApprovalCallPath {
  /** The approval an identical earlier call is bound to — waiting, approved, running, or with its outcome kept — if any. */
  find(call: CallKey): Promise<ApprovalRecord | undefined>;
  /** Holds a call, or attaches to the approval an identical call is bound to (then no second request goes to the channels). */
  hold(input: HoldInput): Promise<{ record: ApprovalRecord; attached: boolean }>;
  /** Waits until the held call is no longer pending, `timeoutMs` passes or `signal` aborts; the record as it then is. */
  waitForOutcome(id: string, timeoutMs: number, signal: AbortSignal): Promise<ApprovalRecord>;
  /** Withdraws a pending approval because the agent gave up; a later approval runs nothing. */
  withdraw(id: string, reason: string): Promise<void>;
  /**
   * Runs an approved call at most once across all replicas: claims it under a lease renewed
   * while `release` runs, keeps the outcome (and a bounded copy of the result) for identical
   * retries, and audits the execution. If `release` throws, the failure is recorded and rethrown.
   */
  releaseOnce(record: ApprovalRecord, release: Release, options: ReleaseOptions): Promise<ReleaseOutcome>;
  /** The live standing grant covering this call, if any; reads Redis every time (one round trip), so a revocation holds at once. */
  findGrant(query: GrantQuery): Promise<Grant | undefined>;
  /** Stores the policy's context calls' answers on a held call and tells the channels (they re-render it). */
  attachContext(id: string, entries: ContextEntry[]): Promise<void>;
}

/** Options of a decision: an approval may carry a standing grant. */
export interface DecideOptions {
  grant?: GrantRequest;
}

/** A decision attempt that was not (yet) recorded: refused, or allowed to go ahead. */
export type CheckResult = Exclude<DecisionResult, { kind: 'decided' | 'vote_recorded' | 'duplicate_vote' }> | { kind: 'allowed'; record: ApprovalRecord };

/**
 * Checks an edited held call as if the agent had made it (policy rules and constraints, the
 * upstream's inputSchema): the same rule must still hold it. The front implements it; the core
 * asks it before recording an edit.
 */
export type EditCheck = (record: ApprovalRecord, editedArguments: Record<string, unknown>) => Promise<{ ok: true } | { ok: false; why: string }>;

/** The channels' port: read, check, decide, and remember where a channel showed a call. */
export interface ApprovalChannels {
  /** One held call; `state_store_unavailable` when Redis cannot be reached. */
  get(id: string): Promise<ApprovalRecord | undefined>;
  /** Newest first; `state_store_unavailable` when Redis cannot be reached. */
  list(options: { status?: ApprovalStatus; limit: number; before?: number }): Promise<ApprovalRecord[]>;
  /** Whether `actor` may record `verdict` now, without deciding (Slack asks a reason first); a refusal is audited. */
  check(id: string, actor: Actor, verdict: Verdict): Promise<CheckResult>;
  /** Whether `actor` may approve this call (the approvers rule, escalation, self-approval), without recording or auditing anything: for lists of what waits for someone. */
  mayDecide(record: ApprovalRecord, actor: Actor): Promise<boolean>;
  /**
   * Records a decision, a quorum vote, or a re-run; every refusal is an answer, not an exception.
   * A grant the policy does not allow is an `invalid_request` error, thrown before anything is recorded.
   */
  decide(id: string, actor: Actor, verdict: Verdict, reason: string | undefined, options?: DecideOptions): Promise<DecisionResult>;
  /** Live standing grants, soonest to expire first. */
  listGrants(limit: number): Promise<Grant[]>;
  getGrant(id: string): Promise<Grant | undefined>;
  /** Revokes a grant on every replica at once; admins, its grantor and the policy's approvers may. */
  revokeGrant(id: string, actor: Actor, reason: string | undefined): Promise<RevokeResult>;
  /**
   * Approves with changed arguments (`edits`: argument path → new value, each path listed in the
   * policy's `approval.editable`): the edited call is checked like a new call (EditCheck), then
   * recorded with the approving vote in one step — only while nobody has approved the call as asked.
   */
  decideEdited(id: string, actor: Actor, edits: Record<string, unknown>, reason: string | undefined): Promise<DecisionResult | EditRefused>;
  /** Remembers where a channel posted the call (e.g. Slack's channel and ts). */
  setChannelRef(id: string, channel: string, ref: unknown): Promise<void>;
}
