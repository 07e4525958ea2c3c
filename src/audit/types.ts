/**
 * The audit contract every part writes through: one event per step of every call and every
 * administrative act. Writers pass arguments already redacted (policy `redact` paths removed)
 * together with the hash of the full canonical arguments; the store adds id, time and chain hashes.
 */

export const auditEventTypes = [
  'allowed',
  'denied',
  'invalid_arguments',
  'rate_limited',
  'approval_requested',
  'approval_vote',
  'approval_reminded',
  'approval_escalated',
  'approved',
  'approval_denied',
  'expired',
  'withdrawn',
  'unauthorized_approver',
  'edit_refused',
  'executed',
  'outcome_unknown',
  'rerun_approved',
  'grant_created',
  'grant_used',
  'grant_revoked',
  'would_have',
  'refused',
  'policy_loaded',
  'policy_rejected',
  'retention_trimmed',
  'dashboard_sign_in',
] as const;

export type AuditEventType = (typeof auditEventTypes)[number];

export interface AuditActor {
  /** Who kinds of actor there are is the approvals' business (src/approvals/deciders.ts); the audit records any. */
  kind: string;
  /** Slack user id, `admin:<name>`, dashboard user, CLI user. */
  id: string;
  name?: string;
}

export type ExecutionOutcome = 'success' | 'tool_error' | 'upstream_failure';

export interface AuditLatency {
  /** Time the call was held awaiting a decision. */
  heldMs?: number;
  /** From the approval request to the decision. */
  decisionMs?: number;
  /** The upstream call alone. */
  upstreamMs?: number;
  /** The whole tools/call as the agent saw it. */
  totalMs?: number;
}

export interface AuditEventInput {
  type: AuditEventType;
  agent?: string;
  /** Who signed in as the agent with OAuth (`sub "…" (client "…")`); absent for static tokens. */
  principal?: string;
  session?: string;
  upstream?: string;
  tool?: string;
  /** Arguments with the policy's `redact` paths removed. Never the raw arguments. */
  arguments?: unknown;
  /** Keyed hash (`hmac-sha256:<hex>`) of the full canonical (RFC 8785) arguments; it cannot confirm a guessed redacted value. */
  argumentsHash?: string;
  policyVersion?: string;
  rule?: string;
  actor?: AuditActor;
  reason?: string;
  /** Links the events of one held call. */
  approvalId?: string;
  outcome?: ExecutionOutcome;
  latency?: AuditLatency;
  /** Anything else worth keeping (limit that refused, quorum progress, policy file …). */
  details?: Record<string, unknown>;
}

export interface AuditEvent extends AuditEventInput {
  /** Redis stream id (`<ms>-<seq>`), ordered, usable as a cursor. */
  id: string;
  /** ISO 8601 time the event was recorded. */
  time: string;
  /** Position in the chain (1-based, never reused). */
  seq: number;
  prevHash: string;
  hash: string;
}

/** Where events go. Implementations must not lose a write silently: retry, then throw. */
export interface AuditSink {
  append(event: AuditEventInput): Promise<void>;
}
