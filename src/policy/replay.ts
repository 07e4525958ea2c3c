/**
 * Policy replay: what a candidate policy would have decided for calls already in the audit
 * history. Pure and in memory — it reads events handed to it and touches no state: rate limits are
 * simulated with sliding windows of its own over the events' times, never Redis's counters.
 *
 * Each audited decision of a call (`allowed`, `approval_requested`, `grant_used`, `denied`,
 * `invalid_arguments`, `rate_limited`) is one call; its arguments are evaluated as stored, that is
 * with the old policy's `redact` paths masked. A new decision that reads a masked (or truncated)
 * value cannot be trusted, so it is counted as uncertain.
 */
import type { CallEvent } from '../audit/call-reader.js';
import type { AuditEvent } from '../audit/types.js';
import { redactedMarker, type PathSegments } from '../util/paths.js';
import type { CompiledPolicy } from './compiled.js';
import type { CompiledCondition } from './constraints.js';
import { evaluate } from './evaluate.js';
import type { LimitSpec, SubjectKind } from './types.js';

/** What happened to a call, as the history says, or as the candidate would decide. */
export type ReplayOutcome = 'allow' | 'approve' | 'deny' | 'invalid_arguments' | 'rate_limited';

/** Audit event types that record a call's decision, and the outcome each stands for. */
const recordedOutcome: Readonly<Partial<Record<AuditEvent['type'], ReplayOutcome>>> = {
  allowed: 'allow',
  approval_requested: 'approve',
  grant_used: 'approve',
  denied: 'deny',
  invalid_arguments: 'invalid_arguments',
  rate_limited: 'rate_limited',
};

/** The event types a replay reads (for filtering the history before decoding). */
export const replayedEventTypes = Object.keys(recordedOutcome) as Array<AuditEvent['type']>;

export interface ReplayExample {
  time: string;
  agent: string | undefined;
  /** As stored: redacted paths masked. */
  arguments: unknown;
  /** The candidate rule that decided. */
  rule: string;
  uncertain: boolean;
}

export interface ReplayTransition {
  from: ReplayOutcome;
  to: ReplayOutcome;
  count: number;
  /** How many of them read a redacted or truncated value. */
  uncertain: number;
  examples: ReplayExample[];
}

export interface ReplayToolReport {
  tool: string;
  calls: number;
  changed: number;
  /** Changed calls by transition, most frequent first. */
  transitions: ReplayTransition[];
}

export interface ReplayReport {
  policyVersion: string;
  /** Calls replayed. */
  calls: number;
  changed: number;
  unchanged: number;
  /** Calls whose new decision read a redacted or truncated value (changed or not). */
  uncertain: number;
  /** Oldest and newest call replayed. */
  from: string | undefined;
  to: string | undefined;
  tools: ReplayToolReport[];
}

export interface ReplayOptions {
  /** Examples kept per transition. Default 3. */
  examplesPerTransition?: number;
}

interface ToolTally {
  calls: number;
  changed: number;
  transitions: Map<string, ReplayTransition>;
}

/** Accumulates a replay: `observe()` each event (oldest first), then `report()`. */
export class PolicyReplay {
  private readonly tools = new Map<string, ToolTally>();
  private readonly windows = new Map<string, number[]>();
  private readonly conditions = new Map<string, readonly CompiledCondition[]>();
  private calls = 0;
  private changed = 0;
  private uncertain = 0;
  private first: string | undefined;
  private last: string | undefined;
  private readonly examples: number;

  constructor(
    private readonly candidate: CompiledPolicy,
    options: ReplayOptions = {},
  ) {
    this.examples = options.examplesPerTransition ?? 3;
  }

  /** Replays one event; events that do not record a call's decision are ignored. Returns whether it was a call. */
  observe(event: CallEvent): boolean {
    const from = recordedOutcome[event.type];
    if (from === undefined || event.tool === undefined || event.argumentsHash === undefined) return false;
    const args =
      event.arguments !== null && typeof event.arguments === 'object' && !Array.isArray(event.arguments) ? (event.arguments as Record<string, unknown>) : {};
    const { kind, name } = subjectOf(event.tool);
    const decision = evaluate(this.candidate, event.agent ?? '', name, args, kind);
    let to: ReplayOutcome = decision.kind;
    if ((decision.kind === 'allow' || decision.kind === 'approve') && decision.limits.length > 0) {
      if (!this.admit(decision.limits, event, Date.parse(event.time))) to = 'rate_limited';
    }
    const uncertain = this.readsMaskedValue(kind, name, args);
    this.calls += 1;
    if (uncertain) this.uncertain += 1;
    this.first ??= event.time;
    this.last = event.time;
    const tally = this.tally(event.tool);
    tally.calls += 1;
    if (from === to) return true;
    this.changed += 1;
    tally.changed += 1;
    const key = `${from}→${to}`;
    let transition = tally.transitions.get(key);
    if (!transition) {
      transition = { from, to, count: 0, uncertain: 0, examples: [] };
      tally.transitions.set(key, transition);
    }
    transition.count += 1;
    if (uncertain) transition.uncertain += 1;
    if (transition.examples.length < this.examples) {
      transition.examples.push({ time: event.time, agent: event.agent, arguments: event.arguments, rule: decision.rule.id, uncertain });
    }
    return true;
  }

  report(): ReplayReport {
    const tools = [...this.tools.entries()]
      .map(([tool, t]) => ({ tool, calls: t.calls, changed: t.changed, transitions: [...t.transitions.values()].sort((a, b) => b.count - a.count) }))
      .sort((a, b) => b.changed - a.changed || b.calls - a.calls || a.tool.localeCompare(b.tool));
    return {
      policyVersion: this.candidate.version,
      calls: this.calls,
      changed: this.changed,
      unchanged: this.calls - this.changed,
      uncertain: this.uncertain,
      from: this.first,
      to: this.last,
      tools,
    };
  }

  /**
   * Whether the candidate's entry for this call has a condition on a value the history does not
   * hold: masked by `redact`, or the whole arguments truncated (`airlock_truncated`). Decisions of
   * calls that read none are certain.
   */
  private readsMaskedValue(kind: SubjectKind, name: string, args: Record<string, unknown>): boolean {
    const conditions = this.conditionsOf(kind, name);
    if (conditions.length === 0) return false;
    if ('airlock_truncated' in args) return true;
    const masked: string[][] = [];
    collectMasked(args, [], masked);
    return masked.length > 0 && conditions.some((condition) => masked.some((segments) => overlaps(condition.segments, segments)));
  }

  /** Every condition of the entry that decides (kind, name) in the candidate, computed once per name. */
  private conditionsOf(kind: SubjectKind, name: string): readonly CompiledCondition[] {
    const key = `${kind}:${name}`;
    let conditions = this.conditions.get(key);
    if (conditions === undefined) {
      const entry = this.candidate.sections[kind].index.lookup(name);
      conditions = entry === undefined ? [] : [...entry.constraints, ...entry.rules.flatMap((rule) => rule.when)];
      this.conditions.set(key, conditions);
    }
    return conditions;
  }

  private tally(tool: string): ToolTally {
    let tally = this.tools.get(tool);
    if (!tally) {
      tally = { calls: 0, changed: 0, transitions: new Map() };
      this.tools.set(tool, tally);
    }
    return tally;
  }

  /** A sliding-window log per counter and scope, on the events' own times: admits when every limit has room. */
  private admit(limits: readonly LimitSpec[], event: CallEvent, atMs: number): boolean {
    const logs = limits.map((limit) => {
      const scope = limit.scope === 'global' ? '' : limit.scope === 'grant' ? `a:${event.agent ?? ''}` : `s:${event.session ?? ''}`;
      const key = `${limit.counter}|${scope}`;
      let log = this.windows.get(key);
      if (!log) {
        log = [];
        this.windows.set(key, log);
      }
      const since = atMs - limit.windowSec * 1_000;
      let drop = 0;
      while (drop < log.length && (log[drop] ?? Infinity) <= since) drop += 1;
      if (drop > 0) log.splice(0, drop);
      return { log, max: limit.max };
    });
    if (logs.some(({ log, max }) => log.length >= max)) return false;
    for (const { log } of logs) log.push(atMs);
    return true;
  }
}

/** `resource:<uri>` and `prompt:<name>` name resources and prompts in the audit; anything else is a tool. */
function subjectOf(label: string): { kind: SubjectKind; name: string } {
  if (label.startsWith('resource:')) return { kind: 'resource', name: label.slice('resource:'.length) };
  if (label.startsWith('prompt:')) return { kind: 'prompt', name: label.slice('prompt:'.length) };
  return { kind: 'tool', name: label };
}

/** Collects the paths whose value is the redaction marker (one shared prefix array, copied only on a find). */
function collectMasked(value: unknown, prefix: string[], out: string[][]): void {
  if (value === redactedMarker) {
    out.push([...prefix]);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    prefix.push(key);
    collectMasked((value as Record<string, unknown>)[key], prefix, out);
    prefix.pop();
  }
}

/** One path is the other or lies under it. */
function overlaps(a: PathSegments, b: PathSegments): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) if (a[i] !== b[i]) return false;
  return true;
}
