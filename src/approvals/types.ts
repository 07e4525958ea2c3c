/**
 * The approvals core's vocabulary: a held call (ApprovalRecord) and its states, who decides
 * (Actor, from deciders.ts), what a decision attempt returns (a union, never an exception for
 * "already decided"), and the port every approval channel implements (ApprovalNotifier). Slack,
 * the dashboard, the REST API and the CLI all speak these types; the core imports none of them.
 *
 * The execution contract — an approval authorises one execution of one argument set:
 *   pending → approved → executing (claimed by one replica, under a lease it renews)
 *           → executed (result kept) | failed | outcome_unknown (the lease lapsed mid-call);
 *   pending → denied | expired | withdrawn.
 * Nothing runs an approved call twice on its own: after `failed` or `outcome_unknown` only an
 * approver's explicit re-run (`rerun`, a new decision) makes it `approved` again.
 */
import { z } from 'zod';
import type { ExecutionOutcome } from '../audit/types.js';
import { ActorSchema, type Actor } from './deciders.js';
import { GrantPinSchema, type Grant } from './grant-types.js';

export const approvalStatuses = ['pending', 'approved', 'executing', 'executed', 'failed', 'outcome_unknown', 'denied', 'expired', 'withdrawn'] as const;
export type ApprovalStatus = (typeof approvalStatuses)[number];

/** States an approver may answer with a re-run: the call may or may not have acted upstream. */
export const rerunnableStatuses: readonly ApprovalStatus[] = ['failed', 'outcome_unknown'];

export type { Actor };

const SettingsSchema = z.object({
  approvers: z.array(z.string()),
  quorum: z.number().int().min(1),
  timeoutMs: z.number().int().positive(),
  channel: z.string().optional(),
  show: z.array(z.string()),
  allowSelfApproval: z.boolean(),
  /** Standing grants approvers may give (policy `approval.grants`); absent: approve-once only. */
  grants: z.object({ pin: z.array(z.string()), maxDurationMs: z.number().positive() }).optional(),
  /** Labels of the policy's context calls (their answers arrive after the hold, see ContextEntry). */
  context: z.array(z.string()).optional(),
  /** The agent's own client is asked too (MCP elicitation), its answer a vote by the agent's owner. */
  askClient: z.boolean().optional(),
  /** Also DM each approver named by user ID. */
  directMessage: z.boolean().optional(),
  /** Argument paths an approver may change before approving. */
  editable: z.array(z.string()).optional(),
  /** Fractions of the timeout at which a still-pending call reminds its approvers. */
  remind: z.array(z.number()).optional(),
  /** Escalation steps: after `afterMs`, post to `channel` and/or let `approvers` decide too. */
  escalate: z.array(z.object({ afterMs: z.number(), channel: z.string().optional(), approvers: z.array(z.string()) })).optional(),
});

/** One context call's answer for approvers: shown (redacted, bounded), or why it is unavailable. */
export const ContextEntrySchema = z.object({
  label: z.string(),
  tool: z.string(),
  state: z.enum(['ok', 'unavailable']),
  /** Pretty JSON (or text) of the answer, redacted and cut to the policy's `max_bytes`. */
  text: z.string().optional(),
  truncated: z.boolean().optional(),
  /** Why it is unavailable (timeout, upstream error, not found in the list). */
  why: z.string().optional(),
});
export type ContextEntry = z.infer<typeof ContextEntrySchema>;

/** The last approved call of the same tool (and pinned values), kept to show approvers what changed since. */
export const PreviousApprovalSchema = z.object({
  approvalId: z.string(),
  decidedAt: z.number(),
  decidedBy: ActorSchema.optional(),
  agent: z.string(),
  /** As displayed (redacted). */
  displayArguments: z.unknown(),
});
export type PreviousApproval = z.infer<typeof PreviousApprovalSchema>;

/** The whole held request, as written once when the call is held (BullMQ job data and the record). */
export const HeldRequestSchema = z.object({
  id: z.string(),
  agent: z.string(),
  owner: z.string().optional(),
  sessionId: z.string(),
  upstream: z.string(),
  /** Exposed tool name (prefixed when there are several upstreams). */
  tool: z.string(),
  /**
   * Arguments with the policy's `redact` paths masked: what channels and audit see, and all that
   * is stored. The full arguments never reach Redis: the request that waits holds them in memory,
   * and an identical retry (same `argumentsHash`) brings them again.
   */
  displayArguments: z.unknown(),
  /** Keyed hash (`hmac-sha256:<hex>`) of the full canonical (RFC 8785) arguments: ties a retry to this approval. */
  argumentsHash: z.string(),
  policyVersion: z.string(),
  rule: z.string(),
  /** Why the policy holds this call (its `reason`), shown to approvers. */
  holdReason: z.string().optional(),
  settings: SettingsSchema,
  /** The call's values at the policy's pinnable paths (as keyed digests), for a grant made from this approval. */
  grantPins: z.array(GrantPinSchema).optional(),
  /** The last approved call of the same tool with the same pinned values, when there was one (approvers see the difference). */
  previous: PreviousApprovalSchema.optional(),
  createdAt: z.number(),
  expiresAt: z.number(),
});
export type HeldRequest = z.infer<typeof HeldRequestSchema>;

export const VoteSchema = z.object({
  actor: ActorSchema,
  /** The authenticated identity the vote counts as (deciders.ts); absent on votes stored before it existed. */
  principal: z.string().optional(),
  at: z.number(),
  /** The execution this vote approves: 1 for the original approval, 2… for re-runs. */
  attempt: z.number().int().min(1).default(1),
});
export type Vote = z.infer<typeof VoteSchema>;

export const ExecutionSchema = z.object({
  outcome: z.enum(['success', 'tool_error', 'upstream_failure']),
  at: z.number(),
  durationMs: z.number(),
  /** Short summary for channels: the run id when the result has one, else the first text. */
  summary: z.string(),
  /** The stored copy of the result was cut to `approvals.maxStoredResult`. */
  truncated: z.boolean().optional(),
});
export type Execution = z.infer<typeof ExecutionSchema>;

/** An approver's change of the arguments before approving ("Edit & approve"): what runs instead of the call as asked. */
export const EditSchema = z.object({
  /** Each changed path with its value as asked and as approved. */
  changes: z.array(z.object({ path: z.string(), before: z.unknown(), after: z.unknown() })),
  editor: ActorSchema,
  at: z.number(),
  /** The arguments as edited (redacted paths masked): what approvers see and the audit records. */
  displayArguments: z.unknown(),
});
export type Edit = z.infer<typeof EditSchema>;

/** Who runs (or ran) the current execution, and until when its lease holds (Redis time). */
export interface Claim {
  by: string;
  at: number;
  leaseUntil: number | undefined;
}

/** A held call with its current state, as read back from Redis. */
export interface ApprovalRecord extends HeldRequest {
  status: ApprovalStatus;
  votes: Vote[];
  decidedBy: Actor | undefined;
  decidedAt: number | undefined;
  reason: string | undefined;
  /** 1 for the approved call; each approved re-run adds one. */
  attempt: number;
  claim: Claim | undefined;
  /** When the claim's lease lapsed with no outcome recorded (status `outcome_unknown`). */
  unknownAt: number | undefined;
  execution: Execution | undefined;
  /** Where channels posted it (e.g. `{"slack": {"channel": "C1", "ts": "1.2"}}`). */
  channelRefs: Record<string, unknown>;
  /** The policy's context calls' answers, once fetched (undefined while they are still on their way). */
  context?: ContextEntry[] | undefined;
  /** The approver's edit the call runs with, when it was edited before approval. */
  edit: Edit | undefined;
  /** Indexes into `settings.remind` of the reminders sent, in order. */
  reminded: number[];
  /** Indexes into `settings.escalate` of the steps taken, in order. */
  escalated: number[];
}

/** Who may decide now: the policy's approvers plus those of every escalation step taken. */
export function approversOf(record: ApprovalRecord): string[] {
  const extra = record.escalated.flatMap((index) => record.settings.escalate?.[index]?.approvers ?? []);
  return [...new Set([...record.settings.approvers, ...extra])];
}

/** Approvals counted toward what is being decided now: the call itself, or the re-run after `attempt`. */
export function currentVotes(record: ApprovalRecord): Vote[] {
  const voting = rerunnableStatuses.includes(record.status) ? record.attempt + 1 : record.attempt;
  return record.votes.filter((vote) => vote.attempt === voting);
}

/** What a decision attempt did. "Already decided" is an answer, not a fault. */
export type DecisionResult =
  /** `grant`: the standing grant made with this approval, when the approver asked for one. */
  | { kind: 'decided'; record: ApprovalRecord; grant?: Grant }
  | { kind: 'vote_recorded'; record: ApprovalRecord; approvals: number; quorum: number }
  | { kind: 'duplicate_vote'; record: ApprovalRecord; approvals: number; quorum: number }
  | { kind: 'already_decided'; record: ApprovalRecord }
  /** A re-run was asked for a call that did not fail and whose outcome is known (or that was never run). */
  | { kind: 'not_rerunnable'; record: ApprovalRecord }
  | { kind: 'not_authorized'; record: ApprovalRecord; why: string }
  | { kind: 'not_found' };

/** An edit-and-approve that was not recorded: the edit is not allowed, or the edited call would not pass the policy. */
export type EditRefused = { kind: 'edit_refused'; record: ApprovalRecord; why: string };

/** `rerun`: approve running a `failed` or `outcome_unknown` call once more (a new decision). */
export type Verdict = 'approve' | 'deny' | 'rerun';

/** Events channels hear about, through the notification queue. */
export const approvalEventKinds = [
  'requested',
  'vote',
  'decided',
  'expired',
  'withdrawn',
  'executed',
  'outcome_unknown',
  'rerun_approved',
  /** A reminder of `settings.remind` was due (the last of `reminded`). */
  'reminded',
  /** An escalation step was taken (the last of `escalated`). */
  'escalated',
  /** The policy's context calls' answers were attached to the held call. */
  'context',
] as const;
export type ApprovalEventKind = (typeof approvalEventKinds)[number];

/**
 * The port an approval channel implements (Slack is one). Calls come from a queue worker with
 * retries and backoff; throw to have the delivery retried. Implementations must be idempotent.
 */
export interface ApprovalNotifier {
  readonly name: string;
  notify(kind: ApprovalEventKind, record: ApprovalRecord): Promise<void>;
}

/** Resolves Slack user groups to members; the Slack channel provides one, cached. */
export interface ApproverDirectory {
  groupMembers(groupId: string): Promise<readonly string[]>;
}

export type { ExecutionOutcome };
