/**
 * The compiled form of a policy: what compile.ts builds once per file and evaluate() reads on
 * every call. Everything a decision needs is precomputed here (merged approval settings, redact
 * lists, limits, reasons, trace lines), so evaluation only matches and copies references.
 * The arrays are frozen: decisions share them, and nothing downstream may change a policy.
 */
import type { LoadProblem } from '../errors.js';
import type { CompiledCondition, CompiledOperator } from './constraints.js';
import type { NameIndex } from './glob.js';
import type { Action, ApprovalSettings, LimitSpec, RuleRef, StateErrorMode, SubjectKind } from './types.js';

/** What one entry, rule or the default decides once it is the one that applies. */
export interface Outcome {
  readonly action: Action;
  readonly rule: RuleRef;
  /** Deny: told to the agent. Approve: why the call is held, shown to approvers. */
  readonly reason: string;
  /** Merged top-level ← entry ← rule settings (used when the action is approve). */
  readonly approval: ApprovalSettings;
  /** Union of every redact list that applies. */
  readonly redact: string[];
  /** The last trace line, e.g. `→ approve (tools.run_job.rules[0]): …`. */
  readonly traceLine: string;
}

export interface CompiledRule {
  readonly id: string;
  /** Condition on the agent's name; undefined when the rule applies to every agent. */
  readonly agent: readonly CompiledOperator[] | undefined;
  readonly when: readonly CompiledCondition[];
  readonly outcome: Outcome;
  /** `mode: "shadow"`: evaluated, never deciding; the pipeline audits what it would have done. */
  readonly shadow: boolean;
}

export interface CompiledEntry {
  /** The key as written: a tool name or a glob. */
  readonly key: string;
  /** `tools.run_job`, `tools["list_*"]`. */
  readonly id: string;
  readonly kind: 'exact' | 'glob';
  readonly description: string | undefined;
  readonly constraints: readonly CompiledCondition[];
  readonly rules: readonly CompiledRule[];
  /** Constraints and rule conditions with a max_length (regex, not_regex, normalize): checked first. */
  readonly lengthChecked: readonly CompiledCondition[];
  /** The entry's own action, when no rule matches. */
  readonly fallback: Outcome;
  readonly limits: LimitSpec[];
  readonly onStateError: StateErrorMode;
  /** Every outcome is deny: constraints are not worth checking, and tools/list can hide it. */
  readonly alwaysDenied: boolean;
  /** First trace line: which entry matched. */
  readonly matchLine: string;
  /**
   * Whole traces, precomputed: `traces[i]` when rule i decides, `traces[rules.length]` when the
   * entry's own action does; `deniedTrace` when it can only deny. Decisions share these arrays.
   */
  readonly traces: readonly string[][];
  readonly deniedTrace: string[];
}

/** One section of the file (tools, resources or prompts): its entries and their name index. */
export interface CompiledSection {
  /** Entries in file order (for info and the dashboard). */
  readonly entries: readonly CompiledEntry[];
  readonly index: NameIndex<CompiledEntry>;
  /** The trace when no entry of this section matches and the default decides. */
  readonly defaultTrace: string[];
}

export interface CompiledPolicy {
  /** First 12 hex characters of the SHA-256 of the canonical policy JSON. */
  readonly version: string;
  /** Absolute file path, or `(built-in)`. */
  readonly source: string;
  readonly hideDenied: boolean;
  readonly onStateError: StateErrorMode;
  readonly defaultOutcome: Outcome;
  readonly defaultTrace: string[];
  /** The tools section's entries in file order (as `sections.tool.entries`). */
  readonly entries: readonly CompiledEntry[];
  /** The tools section's index (as `sections.tool.index`). */
  readonly index: NameIndex<CompiledEntry>;
  readonly sections: Readonly<Record<SubjectKind, CompiledSection>>;
  /** Not problems: patterns that would backtrack in a backtracking engine (`policy check` prints them). */
  readonly warnings: readonly LoadProblem[];
}

/**
 * Freezes an array in place and keeps its mutable type: decisions share these arrays, so a
 * consumer that tried to change one would throw instead of silently changing the policy.
 */
export function frozen<T>(items: T[]): T[] {
  Object.freeze(items);
  return items;
}
