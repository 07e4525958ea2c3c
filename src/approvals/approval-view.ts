/**
 * The display-safe shape of a held call, shared by every channel (REST API, CLI, dashboard,
 * Slack): arguments only with redacted paths masked, the policy's `show` paths first, times ISO.
 * The full arguments never leave the core.
 */
import { getPath, parsePath } from '../util/paths.js';
import { argumentChanges, type ArgumentChange } from '../util/argument-diff.js';
import { approversOf, currentVotes, rerunnableStatuses, type ApprovalRecord, type ContextEntry, type PreviousApproval } from './types.js';

export interface ApprovalView {
  id: string;
  status: ApprovalRecord['status'];
  agent: string;
  owner: string | undefined;
  session: string;
  upstream: string;
  tool: string;
  /** `show` paths and their values, in the policy's order. */
  highlights: Array<{ path: string; value: unknown }>;
  /** All arguments, redacted paths masked. */
  arguments: unknown;
  argumentsHash: string;
  policyVersion: string;
  rule: string;
  /** Why the policy holds this call, when the policy says. */
  holdReason: string | undefined;
  /** Who may decide now: the policy's approvers plus those of every escalation step taken. */
  approvers: string[];
  quorum: number;
  /** Argument paths an approver may change before approving. */
  editable: string[];
  /** The approver's edit the call runs with: who, what changed (before → after), and the arguments as edited. */
  edit:
    | {
        editor: { id: string; name: string | undefined; kind: string };
        at: string;
        changes: Array<{ path: string; before: unknown; after: unknown }>;
        arguments: unknown;
      }
    | undefined;
  /** Reminders sent so far (indexes into the policy's `remind`). */
  reminded: number[];
  /** Escalation steps taken so far, each with where it posted and whom it added. */
  escalations: Array<{ step: number; afterMs: number; channel: string | undefined; approvers: string[] }>;
  /** Approvals toward what is being decided now: the call, or (after `failed` / `outcome_unknown`) its re-run. */
  approvals: number;
  /** Every vote, each with the execution it approved (1, then 2… for re-runs). */
  votes: Array<{ actor: string; name: string | undefined; principal: string | undefined; at: string; attempt: number }>;
  channel: string | undefined;
  createdAt: string;
  expiresAt: string;
  decidedBy: { id: string; name: string | undefined; kind: string } | undefined;
  decidedAt: string | undefined;
  reason: string | undefined;
  /** 1 for the approved call; each approved re-run adds one. */
  attempt: number;
  /** Whether an approver may now approve a re-run (the call failed, or its outcome is unknown). */
  rerunnable: boolean;
  /** The current execution's claim: which replica, since when, and (while running) until when its lease holds. */
  claim: { by: string; at: string; leaseUntil: string | undefined } | undefined;
  /** When the lease lapsed with no outcome (status `outcome_unknown`). */
  unknownAt: string | undefined;
  execution: { outcome: string; at: string; durationMs: number; summary: string; truncated: boolean } | undefined;
  /** What an approver may grant with this call's approval (policy `approval.grants`): pinnable paths with this call's values, the longest duration. */
  grantOptions: { pins: Array<{ path: string; value?: unknown }>; maxDurationMs: number } | undefined;
  /** The policy's context calls: their labels, and their answers once fetched (`entries` undefined while loading). */
  context: { labels: string[]; entries: ContextEntry[] | undefined } | undefined;
  /** The last approved call of the same tool (and pinned values) and what changed since, both as displayed (redacted). */
  previous:
    | {
        approvalId: string;
        agent: string;
        decidedAt: string;
        decidedBy: { id: string; name: string | undefined; kind: string } | undefined;
        changes: ArgumentChange[];
        moreChanges: number;
      }
    | undefined;
}

export function toApprovalView(record: ApprovalRecord): ApprovalView {
  return {
    id: record.id,
    status: record.status,
    agent: record.agent,
    owner: record.owner,
    session: record.sessionId,
    upstream: record.upstream,
    tool: record.tool,
    highlights: highlights(record),
    arguments: record.displayArguments,
    argumentsHash: record.argumentsHash,
    policyVersion: record.policyVersion,
    rule: record.rule,
    holdReason: record.holdReason,
    approvers: approversOf(record),
    quorum: record.settings.quorum,
    editable: record.settings.editable ?? [],
    edit: record.edit
      ? {
          editor: { id: record.edit.editor.id, name: record.edit.editor.name, kind: record.edit.editor.kind },
          at: iso(record.edit.at),
          changes: record.edit.changes,
          arguments: record.edit.displayArguments,
        }
      : undefined,
    reminded: record.reminded,
    escalations: record.escalated.flatMap((step) => {
      const spec = record.settings.escalate?.[step];
      return spec ? [{ step, afterMs: spec.afterMs, channel: spec.channel, approvers: spec.approvers }] : [];
    }),
    approvals: currentVotes(record).length,
    votes: record.votes.map((v) => ({ actor: v.actor.id, name: v.actor.name, principal: v.principal, at: iso(v.at), attempt: v.attempt })),
    channel: record.settings.channel,
    createdAt: iso(record.createdAt),
    expiresAt: iso(record.expiresAt),
    decidedBy: record.decidedBy ? { id: record.decidedBy.id, name: record.decidedBy.name, kind: record.decidedBy.kind } : undefined,
    decidedAt: record.decidedAt === undefined ? undefined : iso(record.decidedAt),
    reason: record.reason,
    attempt: record.attempt,
    rerunnable: rerunnableStatuses.includes(record.status),
    claim: record.claim
      ? { by: record.claim.by, at: iso(record.claim.at), leaseUntil: record.claim.leaseUntil === undefined ? undefined : iso(record.claim.leaseUntil) }
      : undefined,
    unknownAt: record.unknownAt === undefined ? undefined : iso(record.unknownAt),
    execution: record.execution ? { ...record.execution, at: iso(record.execution.at), truncated: record.execution.truncated === true } : undefined,
    grantOptions:
      record.settings.grants && record.grantPins
        ? {
            pins: record.grantPins.map((pin) => ({ path: pin.path, ...(pin.shown === undefined ? {} : { value: pin.shown }) })),
            maxDurationMs: record.settings.grants.maxDurationMs,
          }
        : undefined,
    previous: record.previous ? previousView(record.previous, record.displayArguments) : undefined,
    context: record.settings.context ? { labels: record.settings.context, entries: record.context } : undefined,
  };
}

function previousView(previous: PreviousApproval, now: unknown): NonNullable<ApprovalView['previous']> {
  const { changes, more } = argumentChanges(previous.displayArguments, now);
  const by = previous.decidedBy;
  return {
    approvalId: previous.approvalId,
    agent: previous.agent,
    decidedAt: iso(previous.decidedAt),
    decidedBy: by ? { id: by.id, name: by.name, kind: by.kind } : undefined,
    changes,
    moreChanges: more,
  };
}

/** The policy's `show` paths with their (redacted) values; missing paths are left out. */
export function highlights(record: ApprovalRecord): Array<{ path: string; value: unknown }> {
  const out: Array<{ path: string; value: unknown }> = [];
  for (const path of record.settings.show) {
    const value = getPath(record.displayArguments, parsePath(path));
    if (value !== undefined) out.push({ path, value });
  }
  return out;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
