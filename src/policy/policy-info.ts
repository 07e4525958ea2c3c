/**
 * A compiled policy described for people: the tool table the dashboard, `GET /api/policy` and
 * `airlock policy check` show. Read-only and derived; nothing here takes part in a decision.
 */
import type { CompiledEntry, CompiledPolicy, Outcome } from './compiled.js';
import { anyApprover, type Action, type ApprovalSettings, type LimitSpec, type StateErrorMode } from './types.js';

export interface PolicyToolInfo {
  /** The tool name or glob as written. */
  entry: string;
  kind: 'exact' | 'glob';
  /** What happens when no rule matches. */
  action: Action;
  /** Actions its rules can lead to besides `action`. */
  ruleActions: Action[];
  reason: string | undefined;
  description: string | undefined;
  limits: LimitSpec[];
  /** Settings a held call gets when the entry's own action holds it (rules may refine them). */
  approval: ApprovalSettings | undefined;
  rules: number;
  constraints: number;
  redact: string[];
  onStateError: StateErrorMode;
}

export interface PolicyFileInfo {
  /** Absolute path, or `(built-in deny-all)` when no policy file is configured. */
  file: string;
  version: string;
  /** ISO time the engine swapped this version in. */
  loadedAt: string;
  /** Whether agents without their own policy file use it. */
  isDefault: boolean;
  /** Agents configured to use this file. */
  agents: string[];
  default: Action;
  defaultReason: string;
  hideDenied: boolean;
  onStateError: StateErrorMode;
  tools: PolicyToolInfo[];
  /** `resources` entries (URIs or URI globs), in file order. */
  resources: PolicyToolInfo[];
  /** `prompts` entries, in file order. */
  prompts: PolicyToolInfo[];
  /** Rules (ids) that hold calls without naming approvers: anyone who can sign in may decide those. */
  openApprovals: string[];
}

function toolInfo(entry: CompiledEntry): PolicyToolInfo {
  const ruleActions = [...new Set(entry.rules.map((rule) => rule.outcome.action))].filter((action) => action !== entry.fallback.action);
  return {
    entry: entry.key,
    kind: entry.kind,
    action: entry.fallback.action,
    ruleActions,
    reason: entry.fallback.action === 'allow' ? undefined : entry.fallback.reason,
    description: entry.description,
    limits: entry.limits,
    approval: entry.fallback.action === 'approve' ? entry.fallback.approval : undefined,
    rules: entry.rules.length,
    constraints: entry.constraints.length,
    redact: entry.fallback.redact,
    onStateError: entry.onStateError,
  };
}

/** The table of one compiled policy, entries in file order. */
export function describePolicy(policy: CompiledPolicy, meta: { loadedAtMs: number; isDefault: boolean; agents: string[] }): PolicyFileInfo {
  return {
    file: policy.source,
    version: policy.version,
    loadedAt: new Date(meta.loadedAtMs).toISOString(),
    isDefault: meta.isDefault,
    agents: meta.agents,
    default: policy.defaultOutcome.action,
    defaultReason: policy.defaultOutcome.reason,
    hideDenied: policy.hideDenied,
    onStateError: policy.onStateError,
    tools: policy.sections.tool.entries.map(toolInfo),
    resources: policy.sections.resource.entries.map(toolInfo),
    prompts: policy.sections.prompt.entries.map(toolInfo),
    openApprovals: openApprovalRules(policy),
  };
}

/** Ids of the outcomes that hold a call with no approvers named (so anyone signed in may decide). */
export function openApprovalRules(policy: CompiledPolicy): string[] {
  const outcomes: Outcome[] = [
    policy.defaultOutcome,
    ...Object.values(policy.sections)
      .flatMap((section) => section.entries)
      .flatMap((entry) => [entry.fallback, ...entry.rules.map((rule) => rule.outcome)]),
  ];
  const open = outcomes.filter((o) => o.action === 'approve' && o.approval.approvers.includes(anyApprover)).map((o) => o.rule.id);
  return [...new Set(open)];
}
