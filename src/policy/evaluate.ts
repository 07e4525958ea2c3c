/**
 * evaluate(): the policy step of a tools/call, a pure function of (compiled policy, agent name,
 * tool name, arguments) — no I/O, no clock, no parsing. The pipeline acts on the Decision:
 * deny and invalid_arguments end the call; allow and approve go on to rate limits, then forward
 * or hold.
 *
 * Order: find the entry (exact name, else the most specific glob, else the default) → an entry
 * that can only deny denies → strings longer than a regex or normalize may examine are rejected
 * → constraints (a violating call is rejected before anything else) → rules, first match wins →
 * the entry's own action.
 */
import type { CompiledEntry, CompiledPolicy, CompiledRule, Outcome } from './compiled.js';
import { checkConstraints, conditionsHold, operatorsHold, overLength } from './constraints.js';
import type { ConstraintViolation, Decision, LimitSpec, StateErrorMode, SubjectKind } from './types.js';

const noLimits: LimitSpec[] = [];
Object.freeze(noLimits);

/** One allocation per decision: the object itself; every array in it is shared and frozen. */
function decide(policy: CompiledPolicy, outcome: Outcome, limits: LimitSpec[], onStateError: StateErrorMode, trace: string[]): Decision {
  const { rule, redact } = outcome;
  const policyVersion = policy.version;
  switch (outcome.action) {
    case 'allow':
      return { kind: 'allow', rule, trace, policyVersion, redact, onStateError, limits };
    case 'approve':
      return { kind: 'approve', rule, trace, policyVersion, redact, onStateError, limits, approval: outcome.approval, reason: outcome.reason };
    case 'deny':
      return { kind: 'deny', rule, trace, policyVersion, redact, onStateError, reason: outcome.reason };
  }
}

/**
 * Index of the first enforced rule that matches, or `rules.length` when the entry's own action
 * decides; and the first shadow rule that matched before it (it would have decided instead).
 */
function select(entry: CompiledEntry, agent: string, args: Record<string, unknown>): { chosen: number; shadow: CompiledRule | undefined } {
  const { rules } = entry;
  let shadow: CompiledRule | undefined;
  for (let i = 0; i < rules.length; i += 1) {
    const rule = rules[i];
    if (rule === undefined || (rule.shadow && shadow !== undefined)) continue;
    if ((rule.agent === undefined || operatorsHold(rule.agent, agent)) && conditionsHold(rule.when, args)) {
      if (!rule.shadow) return { chosen: i, shadow };
      shadow = rule;
    }
  }
  return { chosen: rules.length, shadow };
}

function invalid(policy: CompiledPolicy, entry: CompiledEntry, violations: ConstraintViolation[], ruleId: string, traceLine: string): Decision {
  return {
    kind: 'invalid_arguments',
    violations,
    rule: { id: ruleId, entry: entry.key },
    trace: [entry.matchLine, traceLine],
    policyVersion: policy.version,
    redact: entry.fallback.redact,
    onStateError: entry.onStateError,
  };
}

/**
 * Decides one call. Never throws for any arguments. `kind` picks the section: a tool's arguments,
 * a resource's `{uri, operation}`, a prompt's arguments are what conditions see.
 */
export function evaluate(policy: CompiledPolicy, agent: string, name: string, args: Record<string, unknown>, kind: SubjectKind = 'tool'): Decision {
  const section = policy.sections[kind];
  const entry = section.index.lookup(name);
  if (entry === undefined) return decide(policy, policy.defaultOutcome, noLimits, policy.onStateError, section.defaultTrace);
  if (entry.alwaysDenied) return decide(policy, entry.fallback, noLimits, entry.onStateError, entry.deniedTrace);
  if (entry.lengthChecked.length > 0) {
    const tooLong = overLength(entry.lengthChecked, args);
    if (tooLong.length > 0)
      return invalid(policy, entry, tooLong, `${entry.id}.max_length`, `max_length: ${tooLong.length} value(s) too long to examine → invalid_arguments`);
  }
  if (entry.constraints.length > 0) {
    const violations = checkConstraints(entry.constraints, args);
    if (violations.length > 0)
      return invalid(policy, entry, violations, `${entry.id}.constraints`, `constraints: ${violations.length} violated → invalid_arguments`);
  }
  const { chosen, shadow } = select(entry, agent, args);
  const outcome = entry.rules[chosen]?.outcome ?? entry.fallback;
  const decision = decide(policy, outcome, entry.limits, entry.onStateError, entry.traces[chosen] ?? entry.deniedTrace);
  if (shadow !== undefined) decision.shadow = { rule: shadow.outcome.rule, action: shadow.outcome.action, reason: shadow.outcome.reason };
  return decision;
}

/**
 * Whether the agent could ever get anything but a deny for this tool (tools/list hides the rest
 * when the policy's `hide_denied` is on). Argument conditions are assumed satisfiable; agent
 * conditions are checked, so a rule that denies one agent outright hides the tool from it.
 */
export function isVisible(policy: CompiledPolicy, agent: string, name: string, kind: SubjectKind = 'tool'): boolean {
  if (!policy.hideDenied) return true;
  const entry = policy.sections[kind].index.lookup(name);
  if (entry === undefined) return policy.defaultOutcome.action !== 'deny';
  for (const rule of entry.rules) {
    if (rule.shadow || (rule.agent !== undefined && !operatorsHold(rule.agent, agent))) continue;
    if (rule.outcome.action !== 'deny') return true;
    if (rule.when.length === 0) return false;
  }
  return entry.fallback.action !== 'deny';
}
