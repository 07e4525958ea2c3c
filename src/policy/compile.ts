/**
 * Policy compilation, the load-time step between the zod schema and evaluate(): checks what the
 * schema cannot see (rules that could never match, unreachable quorums, counters defined two
 * ways), then builds the name index, condition closures and precomputed outcomes. A policy either
 * compiles with no problem at all or is rejected with every problem, each with its JSON path.
 */
import { jsonPath, type LoadProblem } from '../errors.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';
import { escalationProblem, grantsProblem, mergeApproval, quorumProblem, redactOf, type ApprovalLayer } from './approval-settings.js';
import { frozen, type CompiledEntry, type CompiledPolicy, type CompiledRule, type CompiledSection, type Outcome } from './compiled.js';
import { compileConditions, compileOperators } from './constraints.js';
import { isGlob, NameIndex } from './glob.js';
import { backtrackingWarnings } from './regex-lint.js';
import { namedWindows, type ConditionSpec, type LimitSpecInput, type PolicyFile, type RuleSpec, type ToolEntry } from './schema.js';
import { sectionOf, type Action, type ApprovalSettings, type LimitSpec, type RuleRef, type SubjectKind } from './types.js';

export type CompileResult = { ok: true; policy: CompiledPolicy } | { ok: false; problems: LoadProblem[] };

/** The policy's version: first 12 hex of the SHA-256 of its canonical JSON (key order and spacing do not count). */
export function policyVersion(raw: unknown): string {
  return sha256Hex(canonicalJson(raw)).slice(0, 12);
}

/** `tools.run_job`, `tools["list_*"].rules[0]`: a JSON path without its `$.`. */
export function refId(path: readonly PropertyKey[]): string {
  return jsonPath(path).slice(2);
}

interface Context {
  file: string | undefined;
  policy: PolicyFile;
  problems: LoadProblem[];
  counters: Map<string, { path: string; limit: LimitSpec }>;
}

function problem(ctx: Context, path: readonly PropertyKey[], message: string): void {
  ctx.problems.push(ctx.file === undefined ? { path: jsonPath(path), message } : { file: ctx.file, path: jsonPath(path), message });
}

/** Whether a path is redacted, or holds or sits under a redacted path (its value must not be echoed). */
function redactionTest(redact: readonly string[]): (path: string) => boolean {
  return (path) => redact.some((r) => path === r || path.startsWith(`${r}.`) || r.startsWith(`${path}.`));
}

function describeAction(action: Action, rule: RuleRef, reason: string): string {
  return action === 'allow' ? `→ allow (${rule.id})` : `→ ${action} (${rule.id}): ${reason}`;
}

function defaultReason(action: Action, subject: string): string {
  if (action === 'deny') return `${subject} denies this call.`;
  return `${subject} requires a person's approval for this call.`;
}

interface Settings {
  approval: ApprovalSettings;
  redact: string[];
}

/** Merged approval settings and redact list for a stack of layers (built once per distinct stack). */
function settingsOf(layers: readonly ApprovalLayer[], redact: ReadonlyArray<readonly string[] | undefined>): Settings {
  return { approval: mergeApproval(layers), redact: redactOf([...redact, ...layers.map((layer) => layer.spec?.redact)]) };
}

function outcome(ctx: Context, action: Action, rule: RuleRef, reason: string, layers: readonly ApprovalLayer[], settings: Settings): Outcome {
  if (action === 'approve') {
    const found = quorumProblem(settings.approval, layers, ctx.file);
    if (found) ctx.problems.push(found);
    const grants = grantsProblem(settings.approval, layers, ctx.file);
    if (grants) ctx.problems.push(grants);
    const late = escalationProblem(settings.approval, layers, ctx.file);
    if (late) ctx.problems.push(late);
    const isRedacted = redactionTest(settings.redact);
    const hidden = (settings.approval.editable ?? []).find(isRedacted);
    if (hidden !== undefined) {
      const where = [...layers].reverse().find((layer) => layer.spec?.editable !== undefined) ?? layers.at(-1);
      const path = jsonPath([...(where?.path ?? []), 'editable']);
      const message = `"${hidden}" is both editable and redacted: an approver cannot change a value they may not see; remove it from one of the lists`;
      ctx.problems.push(ctx.file === undefined ? { path, message } : { file: ctx.file, path, message });
    }
  }
  return { action, rule, reason, approval: settings.approval, redact: settings.redact, traceLine: describeAction(action, rule, reason) };
}

function compileLimit(ctx: Context, spec: LimitSpecInput, path: PropertyKey[], seen: Set<string>): LimitSpec {
  const windowSec = typeof spec.window === 'number' ? spec.window : namedWindows[spec.window];
  const limit: LimitSpec = { counter: spec.counter, windowSec, max: spec.max, scope: spec.scope };
  if (seen.has(spec.counter)) problem(ctx, [...path, 'counter'], `counter "${spec.counter}" is listed twice for this tool; one limit per counter`);
  seen.add(spec.counter);
  const earlier = ctx.counters.get(spec.counter);
  if (earlier === undefined) {
    ctx.counters.set(spec.counter, { path: jsonPath(path), limit });
  } else if (earlier.limit.windowSec !== windowSec || earlier.limit.max !== spec.max || earlier.limit.scope !== spec.scope) {
    const was = earlier.limit;
    problem(
      ctx,
      path,
      `counter "${spec.counter}" is also defined at ${earlier.path} as max ${was.max} per ${was.windowSec} s, scope ${was.scope}; tools naming one counter share one count, so window, max and scope must agree (or use another counter name)`,
    );
  }
  return limit;
}

function compileRule(
  ctx: Context,
  entry: ToolEntry,
  entryPath: PropertyKey[],
  rule: RuleSpec,
  index: number,
  inherited: Settings,
  isRedacted: (p: string) => boolean,
): CompiledRule {
  const path = [...entryPath, 'rules', index];
  const id = refId(path);
  if (rule.agent === undefined && Object.keys(rule.when ?? {}).length === 0) {
    problem(ctx, path, 'a rule needs "when" conditions or an "agent" condition; to decide every call of the tool, set the tool\'s "action" instead');
  }
  const ref: RuleRef = { id, entry: String(entryPath.at(-1)) };
  const reason = rule.reason ?? entry.reason ?? defaultReason(rule.action, id);
  const layers: ApprovalLayer[] = [
    { spec: ctx.policy.approval, path: ['approval'] },
    { spec: entry.approval, path: [...entryPath, 'approval'] },
    { spec: rule.approval, path: [...path, 'approval'] },
  ];
  return {
    id,
    agent: rule.agent === undefined ? undefined : compileOperators(rule.agent, false),
    when: compileConditions(rule.when, isRedacted),
    shadow: rule.mode === 'shadow',
    outcome: outcome(
      ctx,
      rule.action,
      ref,
      reason,
      layers,
      rule.approval === undefined ? inherited : { approval: mergeApproval(layers), redact: inherited.redact },
    ),
  };
}

function compileEntry(ctx: Context, kind: SubjectKind, key: string, entry: ToolEntry): CompiledEntry {
  const path: PropertyKey[] = [sectionOf[kind], key];
  const id = refId(path);
  // Every redact list the entry mentions applies to every outcome of it — a path redacted only
  // under one rule's approval settings is still masked when another rule (or none) decides.
  const redactAll = redactOf([
    ctx.policy.redact,
    entry.redact,
    ctx.policy.approval?.redact,
    entry.approval?.redact,
    ...entry.rules.map((rule) => rule.approval?.redact),
  ]);
  const isRedacted = redactionTest(redactAll);
  const seen = new Set<string>();
  const limits = frozen(entry.limits.map((limit, i) => compileLimit(ctx, limit, [...path, 'limits', i], seen)));
  const layers: ApprovalLayer[] = [
    { spec: ctx.policy.approval, path: ['approval'] },
    { spec: entry.approval, path: [...path, 'approval'] },
  ];
  const settings: Settings = { approval: mergeApproval(layers), redact: redactAll };
  const rules = entry.rules.map((rule, i) => compileRule(ctx, entry, path, rule, i, settings, isRedacted));
  const action = entry.action ?? 'allow';
  const fallback = outcome(ctx, action, { id, entry: key }, entry.reason ?? defaultReason(action, id), layers, settings);
  const constraints = compileConditions(entry.constraints, isRedacted);
  const match = isGlob(key) ? 'glob' : 'exact';
  const matchLine =
    match === 'exact' ? `${JSON.stringify(key)} matched ${id} (exact name)` : `the ${kind} matched ${id} (the most specific glob; no exact entry)`;
  const checked = constraints.length > 0 ? [matchLine, `constraints: all ${constraints.length} hold`] : [matchLine];
  const missLines = rules.map((rule) => (rule.shadow ? `${rule.id} is a shadow rule (audited, never decides)` : `${rule.id} did not match`));
  const traces = [...rules, undefined].map((decider, i) => {
    const misses = missLines.slice(0, i);
    const last = decider === undefined ? fallback.traceLine : `${decider.id} matched`;
    return frozen([...checked, ...misses, last, ...(decider === undefined ? [] : [decider.outcome.traceLine])]);
  });
  return {
    key,
    id,
    kind: match,
    description: entry.description,
    constraints,
    rules,
    lengthChecked: frozen([...constraints, ...rules.flatMap((rule) => rule.when)].filter((condition) => condition.maxLength !== undefined)),
    fallback,
    limits,
    onStateError: entry.on_state_error ?? ctx.policy.on_state_error,
    alwaysDenied: action === 'deny' && rules.every((rule) => rule.outcome.action === 'deny'),
    matchLine,
    traces,
    deniedTrace: frozen([matchLine, fallback.traceLine]),
  };
}

/**
 * Compiles a schema-valid policy. `raw` is the file's JSON as written (it defines the version);
 * `file` labels problems and the compiled policy's source.
 */
export function compilePolicy(policy: PolicyFile, raw: unknown, file: string | undefined): CompileResult {
  const ctx: Context = { file, policy, problems: [], counters: new Map() };
  const compileSection = (kind: SubjectKind, specs: Record<string, ToolEntry>) =>
    Object.entries(specs).map(([key, entry]) => compileEntry(ctx, kind, key, entry));
  const entriesOf: Record<SubjectKind, CompiledEntry[]> = {
    tool: compileSection('tool', policy.tools),
    resource: compileSection('resource', policy.resources),
    prompt: compileSection('prompt', policy.prompts),
  };
  const defaultLayers: ApprovalLayer[] = [{ spec: policy.approval, path: ['approval'] }];
  const defaultRef: RuleRef = { id: 'default', entry: undefined };
  const defaultText =
    policy.default_reason ??
    (policy.default === 'deny'
      ? 'No entry of the policy enables this tool, and the policy denies every other tool.'
      : policy.default === 'approve'
        ? "No entry of the policy names this tool, and the policy's default requires a person's approval."
        : '');
  const defaultOutcome = outcome(ctx, policy.default, defaultRef, defaultText, defaultLayers, settingsOf(defaultLayers, [policy.redact]));
  const section = (kind: SubjectKind, miss: string): CompiledSection => ({
    entries: entriesOf[kind],
    index: new NameIndex(entriesOf[kind].map((entry) => [entry.key, entry] as const)),
    defaultTrace: frozen([`${miss}; the default applies`, defaultOutcome.traceLine]),
  });
  const sections: Record<SubjectKind, CompiledSection> = {
    tool: section('tool', 'no tools entry matches the tool'),
    resource: section('resource', 'no resources entry matches the URI'),
    prompt: section('prompt', 'no prompts entry matches the prompt'),
  };
  if (ctx.problems.length > 0) {
    // Outcomes that inherit one bad setting report it once.
    const unique = new Map(ctx.problems.map((p) => [`${p.path}\u0000${p.message}`, p]));
    return { ok: false, problems: [...unique.values()] };
  }
  return {
    ok: true,
    policy: {
      version: policyVersion(raw),
      source: file ?? '(inline)',
      hideDenied: policy.hide_denied,
      onStateError: policy.on_state_error,
      defaultOutcome,
      defaultTrace: sections.tool.defaultTrace,
      entries: sections.tool.entries,
      index: sections.tool.index,
      sections,
      warnings: frozen(regexWarnings(policy, file)),
    },
  };
}

/** `policy check` warnings: every regex and not_regex that would backtrack in a backtracking engine, at its JSON path. */
function regexWarnings(policy: PolicyFile, file: string | undefined): LoadProblem[] {
  const out: LoadProblem[] = [];
  const check = (spec: ConditionSpec, path: readonly PropertyKey[]) => {
    for (const key of ['regex', 'not_regex'] as const) {
      const pattern = spec[key];
      if (pattern === undefined) continue;
      for (const warning of backtrackingWarnings(pattern, spec.flags)) {
        const message = `${warning}; a backtracking engine would take time growing with the square of the input or worse. Airlock runs it in linear time, but consider rewriting it.`;
        out.push(file === undefined ? { path: jsonPath([...path, key]), message } : { file, path: jsonPath([...path, key]), message });
      }
    }
  };
  for (const section of ['tools', 'resources', 'prompts'] as const) {
    for (const [key, entry] of Object.entries(policy[section])) {
      for (const [argPath, spec] of Object.entries(entry.constraints ?? {})) check(spec, [section, key, 'constraints', argPath]);
      entry.rules.forEach((rule, i) => {
        if (rule.agent) check(rule.agent, [section, key, 'rules', i, 'agent']);
        for (const [argPath, spec] of Object.entries(rule.when ?? {})) check(spec, [section, key, 'rules', i, 'when', argPath]);
      });
    }
  }
  return out;
}
