/**
 * The display-safe shape of a held call, shared by every channel (REST API, CLI, dashboard,
 * Slack): arguments only with redacted paths masked, the policy's `show` paths first, times ISO.
 * The full arguments never leave the core.
 */
import { getPath, parsePath } from '../util/paths.js';
import type { ApprovalRecord } from './types.js';

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
  approvers: string[];
  quorum: number;
  approvals: number;
  votes: Array<{ actor: string; name: string | undefined; at: string }>;
  channel: string | undefined;
  createdAt: string;
  expiresAt: string;
  decidedBy: { id: string; name: string | undefined; kind: string } | undefined;
  decidedAt: string | undefined;
  reason: string | undefined;
  execution: { outcome: string; at: string; durationMs: number; summary: string } | undefined;
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
    approvers: record.settings.approvers,
    quorum: record.settings.quorum,
    approvals: record.votes.length,
    votes: record.votes.map((v) => ({ actor: v.actor.id, name: v.actor.name, at: iso(v.at) })),
    channel: record.settings.channel,
    createdAt: iso(record.createdAt),
    expiresAt: iso(record.expiresAt),
    decidedBy: record.decidedBy ? { id: record.decidedBy.id, name: record.decidedBy.name, kind: record.decidedBy.kind } : undefined,
    decidedAt: record.decidedAt === undefined ? undefined : iso(record.decidedAt),
    reason: record.reason,
    execution: record.execution ? { ...record.execution, at: iso(record.execution.at) } : undefined,
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
