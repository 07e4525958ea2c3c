/**
 * The approvals core's vocabulary: a held call (ApprovalRecord), who decides (Actor), what a
 * decision attempt returns (a union, never an exception for "already decided"), and the port
 * every approval channel implements (ApprovalNotifier). Slack, the dashboard, the REST API and
 * the CLI all speak these types; the core imports none of them.
 */
import { z } from 'zod';
import type { AuditActor, ExecutionOutcome } from '../audit/types.js';

export const approvalStatuses = ['pending', 'approved', 'denied', 'expired', 'withdrawn'] as const;
export type ApprovalStatus = (typeof approvalStatuses)[number];

export type Actor = AuditActor;

const ActorSchema = z.object({
  kind: z.enum(['slack', 'admin', 'dashboard', 'cli', 'system']),
  id: z.string(),
  name: z.string().optional(),
});

const SettingsSchema = z.object({
  approvers: z.array(z.string()),
  quorum: z.number().int().min(1),
  timeoutMs: z.number().int().positive(),
  channel: z.string().optional(),
  show: z.array(z.string()),
  allowSelfApproval: z.boolean(),
});

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
  createdAt: z.number(),
  expiresAt: z.number(),
});
export type HeldRequest = z.infer<typeof HeldRequestSchema>;

export const VoteSchema = z.object({ actor: ActorSchema, at: z.number() });
export type Vote = z.infer<typeof VoteSchema>;

export const ExecutionSchema = z.object({
  outcome: z.enum(['success', 'tool_error', 'upstream_failure']),
  at: z.number(),
  durationMs: z.number(),
  /** Short summary for channels: the run id when the result has one, else the first text. */
  summary: z.string(),
});
export type Execution = z.infer<typeof ExecutionSchema>;

/** A held call with its current state, as read back from Redis. */
export interface ApprovalRecord extends HeldRequest {
  status: ApprovalStatus;
  votes: Vote[];
  decidedBy: Actor | undefined;
  decidedAt: number | undefined;
  reason: string | undefined;
  execution: Execution | undefined;
  /** Where channels posted it (e.g. `{"slack": {"channel": "C1", "ts": "1.2"}}`). */
  channelRefs: Record<string, unknown>;
}

/** What a decision attempt did. "Already decided" is an answer, not a fault. */
export type DecisionResult =
  | { kind: 'decided'; record: ApprovalRecord }
  | { kind: 'vote_recorded'; record: ApprovalRecord; approvals: number; quorum: number }
  | { kind: 'duplicate_vote'; record: ApprovalRecord; approvals: number; quorum: number }
  | { kind: 'already_decided'; record: ApprovalRecord }
  | { kind: 'not_authorized'; record: ApprovalRecord; why: string }
  | { kind: 'not_found' };

export type Verdict = 'approve' | 'deny';

/** Events channels hear about, through the notification queue. */
export type ApprovalEventKind = 'requested' | 'vote' | 'decided' | 'expired' | 'withdrawn' | 'executed';

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
