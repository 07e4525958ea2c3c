/**
 * What a policy decides, as plain types: the contract between the policy engine (which produces
 * a Decision from a pure evaluate()) and the steps that act on it — rate limits, the approval
 * hold, the audit history and the agent's answer.
 */

export type Action = 'allow' | 'deny' | 'approve';

/**
 * What a decision is about: a tool (tools/call), a resource (resources/read and subscribe, by URI)
 * or a prompt (prompts/get). Each kind has its own section of the policy file; `default` covers all.
 */
export type SubjectKind = 'tool' | 'resource' | 'prompt';

/** The policy file section of each kind. */
export const sectionOf = { tool: 'tools', resource: 'resources', prompt: 'prompts' } as const satisfies Record<SubjectKind, string>;

/** `global`: one count for everyone; `grant`: one per agent; `session`: one per MCP session. */
export type LimitScope = 'global' | 'grant' | 'session';

export interface LimitSpec {
  /** Counter name; tools naming the same counter share its count. */
  counter: string;
  windowSec: number;
  max: number;
  scope: LimitScope;
}

/**
 * In `approvers`: the policy names no approvers, so anyone who can decide at all may — any
 * dashboard user, any Slack user who can click in the approval channel (the gateway warns at
 * start). An empty list, by contrast, means admins only.
 */
export const anyApprover = '*';

/** How a held call is decided; parsed and defaulted by the policy engine. */
export interface ApprovalSettings {
  /** Slack user IDs (U…/W…) and user-group IDs (S…) allowed to decide; `[anyApprover]` when the policy names none. */
  approvers: string[];
  /** Distinct approvals needed to release; one deny decides. */
  quorum: number;
  /** Until auto-deny as expired; undefined → the config's `approvals.defaultTimeout`. */
  timeoutMs: number | undefined;
  /** Slack channel ID or name; undefined → the config's `slack.defaultChannel`. */
  channel: string | undefined;
  /** Argument paths that lead the approval message (`params.job_id`, `params.notebook_params`). */
  show: string[];
  /** Whether the Slack user who owns the agent may approve its calls. */
  allowSelfApproval: boolean;
  /** Standing grants approvers may give; undefined: approve-once only. */
  grants: GrantPolicy | undefined;
  /** Read-only upstream calls whose answers approvers see (policy `approval.context`). */
  context: ContextCall[];
  /** Also ask the agent's own client through MCP elicitation (policy `approval.client`). */
  askClient: boolean;
  /** Also DM each approver named by user ID (absent: no). */
  directMessage?: boolean;
  /** Argument paths an approver may change before approving (absent: none). */
  editable?: string[];
  /** Fractions of the timeout at which a still-pending call reminds its approvers (absent: none). */
  remind?: number[];
  /** Steps taken while still pending (absent: none). */
  escalate?: EscalationStep[];
}

/** One `approval.context` item, parsed. */
export interface ContextCall {
  label: string;
  tool: string;
  arguments: Record<string, unknown>;
  /** [path in the context call, path in the held call]. */
  from: Array<[string, string]>;
  find: { in: string | undefined; match: Array<[string, string]> } | undefined;
  redact: string[];
  timeoutMs: number;
  maxBytes: number;
}

/** What an approver may grant for a tool (policy `approval.grants`). */
export interface GrantPolicy {
  /** Argument paths a grant may pin to the approved call's values. */
  pin: string[];
  /** The longest grant. */
  maxDurationMs: number;
}

/** After `afterMs`, post to `channel` and/or let `approvers` decide too. */
export interface EscalationStep {
  afterMs: number;
  channel?: string;
  approvers: string[];
}

/** When the state store (Redis) cannot be reached: refuse (closed, the default) or let through (open). */
export type StateErrorMode = 'closed' | 'open';

/** The entry and rule that decided, for messages, audit and `policy explain`. */
export interface RuleRef {
  /** Stable id such as `tools.run_job.rules[0]`, `tools["list_*"]` or `default`. */
  id: string;
  /** The tool entry that matched (the glob as written), when one did. */
  entry: string | undefined;
}

export interface ConstraintViolation {
  /** Dotted argument path, e.g. `params.job_id`. */
  path: string;
  /** The operator and operand as written, e.g. `in [101, 102]`. */
  rule: string;
  /** What is wrong with the value, e.g. `is 999`. */
  problem: string;
}

/** What a shadow rule (`mode: "shadow"`) that matched before the deciding rule would have done instead. */
export interface ShadowOutcome {
  rule: RuleRef;
  action: Action;
  reason: string;
}

interface DecisionBase {
  rule: RuleRef;
  /** Set when a shadow rule would have decided this call (it is not enforced; the pipeline audits `would_have`). */
  shadow?: ShadowOutcome;
  /** Short human-readable steps that led here (for `policy explain` and the dashboard). */
  trace: string[];
  /** Version (content hash) of the policy that decided. */
  policyVersion: string;
  /** Argument paths never shown nor written to the audit log. */
  redact: string[];
  onStateError: StateErrorMode;
}

export type Decision =
  | (DecisionBase & { kind: 'allow'; limits: LimitSpec[] })
  /** `reason`: why the call is held (the rule's or tool's reason), for approvers and the agent. */
  | (DecisionBase & { kind: 'approve'; limits: LimitSpec[]; approval: ApprovalSettings; reason: string })
  | (DecisionBase & { kind: 'deny'; reason: string })
  | (DecisionBase & { kind: 'invalid_arguments'; violations: ConstraintViolation[] });

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
