/**
 * Conditions on argument values (and on the agent's name), compiled once at load into small
 * closures. evaluate() uses them two ways: as constraints (every failing operator becomes a
 * ConstraintViolation the agent can act on) and as rule conditions (a yes/no, with no strings built).
 *
 * Comparison semantics, chosen so a deny-list cannot be side-stepped by re-typing a value:
 * numbers and numeric strings ("101", "0101") compare as numbers, because upstreams such as
 * Databricks accept either; nothing else is coerced. Strings compare exactly unless the
 * condition says `normalize` (nfkc, lower, trim — applied to values and operands alike, so
 * `{"eq": "prod", "normalize": ["lower", "trim"]}` also holds for "PROD" and "prod ").
 * Objects and arrays compare by canonical JSON. A missing value fails every operator except
 * `ne`, `not_in` and `exists: false`.
 *
 * Regexes run in the linear-time engine (regex.ts), and on at most `max_length` characters:
 * evaluate() rejects a longer value before any rule runs (see `overLength`).
 */
import type { ConstraintViolation } from './types.js';
import { defaultMaxLength, type ConditionSpec } from './schema.js';
import { canonicalJson } from '../util/canonical.js';
import { getPath, parsePath, type PathSegments } from '../util/paths.js';
import { compileRegex, type LinearRegex } from './regex.js';

/** One operator of a condition. `value` is undefined when the path is missing. */
export interface CompiledOperator {
  /** The operator and operand as written, e.g. `in [101,102]`. */
  readonly rule: string;
  test(value: unknown): boolean;
  /** What is wrong with a value that failed `test`. */
  problem(value: unknown): string;
}

export interface CompiledCondition {
  readonly path: string;
  readonly segments: PathSegments;
  readonly operators: readonly CompiledOperator[];
  /** Longest string this condition examines (it has a regex, not_regex or normalize); else undefined. */
  readonly maxLength: number | undefined;
}

const numericString = /^-?\d+(\.\d+)?$/;

/** The number a value denotes: a number, or a string of decimal digits; else undefined. */
function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && numericString.test(value)) return Number(value);
  return undefined;
}

type Prepare = (value: unknown) => unknown;
const asIs: Prepare = (value) => value;

/** The condition's `normalize` as one function over values (non-strings pass through). */
function normalizer(spec: ConditionSpec): Prepare {
  const steps = spec.normalize;
  if (steps === undefined) return asIs;
  const nfkc = steps.includes('nfkc');
  const lower = steps.includes('lower');
  const trim = steps.includes('trim');
  return (value) => {
    if (typeof value !== 'string') return value;
    let text = value;
    if (nfkc) text = text.normalize('NFKC');
    if (lower) text = text.toLowerCase();
    if (trim) text = text.trim();
    return text;
  };
}

/** A set of JSON values with the comparison semantics above: one lookup per test. */
function valueSet(operands: readonly unknown[]): (value: unknown) => boolean {
  const [only] = operands;
  if (operands.length === 1 && typeof only === 'string' && !numericString.test(only)) return (value) => value === only;
  const numbers = new Set<number>();
  const scalars = new Set<unknown>();
  let objects: Set<string> | undefined;
  for (const operand of operands) {
    const n = asNumber(operand);
    if (n !== undefined) numbers.add(n);
    if (operand !== null && typeof operand === 'object') (objects ??= new Set()).add(canonicalJson(operand));
    else scalars.add(operand);
  }
  return (value) => {
    if (value === undefined) return false;
    if (value !== null && typeof value === 'object') return objects !== undefined && objects.has(canonicalJson(value));
    if (scalars.has(value)) return true;
    const n = asNumber(value);
    return n !== undefined && numbers.has(n);
  };
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** `is 999`, `is missing`; a redacted path never echoes its value (violations are audited). */
function describe(value: unknown, hideValue: boolean, why = ''): string {
  if (value === undefined) return 'is missing';
  const shown = hideValue ? `${typeName(value)} (value redacted)` : preview(value);
  return `is ${shown}${why}`;
}

function operator(rule: string, test: (value: unknown) => boolean, problem: (value: unknown) => string): CompiledOperator {
  return { rule, test, problem };
}

type NumericOp = 'lt' | 'lte' | 'gt' | 'gte';
const numericTests: Record<NumericOp, (a: number, b: number) => boolean> = {
  lt: (a, b) => a < b,
  lte: (a, b) => a <= b,
  gt: (a, b) => a > b,
  gte: (a, b) => a >= b,
};
const numericWords: Record<NumericOp, string> = { lt: 'below', lte: 'at most', gt: 'above', gte: 'at least' };

/** A condition's regex or not_regex, compiled; the schema has already refused patterns that do not compile. */
function linearRegex(pattern: string, flags: string | undefined): LinearRegex {
  const compiled = compileRegex(pattern, flags ?? '');
  if (!compiled.ok) throw new Error(`unreachable: the schema accepted a pattern the engine refuses: ${compiled.message}`);
  return compiled.regex;
}

/** The longest string a condition examines, when it examines strings by regex or normalisation. */
export function maxLengthOf(spec: ConditionSpec): number | undefined {
  const examines = spec.regex !== undefined || spec.not_regex !== undefined || spec.normalize !== undefined;
  return examines ? (spec.max_length ?? defaultMaxLength) : undefined;
}

/** Compiles every operator of one condition; `hideValue` keeps values out of problem texts. */
export function compileOperators(spec: ConditionSpec, hideValue: boolean): CompiledOperator[] {
  const out: CompiledOperator[] = [];
  const say = (value: unknown, why = '') => describe(value, hideValue, why);
  const prepare = normalizer(spec);
  const normalized = spec.normalize === undefined ? '' : ` (normalize ${spec.normalize.join(',')})`;
  const maxLength = maxLengthOf(spec) ?? Infinity;
  const fits = (v: unknown): v is string => typeof v === 'string' && v.length <= maxLength;
  if (spec.exists !== undefined) {
    const want = spec.exists;
    out.push(
      operator(
        `exists ${want}`,
        (v) => (v !== undefined) === want,
        (v) => (want ? 'is missing' : `${say(v)} but must be absent`),
      ),
    );
  }
  // With normalize, a string over max_length is never examined (evaluate() has rejected it already).
  const membership = (operands: readonly unknown[]) => {
    const matches = valueSet(operands.map(prepare));
    if (prepare === asIs) return matches;
    return (v: unknown) => (typeof v === 'string' && !fits(v) ? false : matches(prepare(v)));
  };
  if (spec.eq !== undefined) {
    const matches = membership([spec.eq]);
    out.push(operator(`eq ${JSON.stringify(spec.eq)}${normalized}`, matches, (v) => say(v)));
  }
  if (spec.ne !== undefined) {
    const matches = membership([spec.ne]);
    out.push(
      operator(
        `ne ${JSON.stringify(spec.ne)}${normalized}`,
        (v) => !matches(v),
        (v) => say(v),
      ),
    );
  }
  if (spec.in !== undefined) {
    const matches = membership(spec.in);
    out.push(operator(`in ${JSON.stringify(spec.in)}${normalized}`, matches, (v) => say(v)));
  }
  if (spec.not_in !== undefined) {
    const matches = membership(spec.not_in);
    out.push(
      operator(
        `not_in ${JSON.stringify(spec.not_in)}${normalized}`,
        (v) => !matches(v),
        (v) => say(v),
      ),
    );
  }
  const notString = (v: unknown) => say(v, v === undefined ? '' : ` (${typeName(v)}, not a string)`);
  if (spec.regex !== undefined) {
    const pattern = linearRegex(spec.regex, spec.flags);
    out.push(
      operator(
        `regex /${spec.regex}/${spec.flags ?? ''}${normalized}`,
        (v) => fits(v) && pattern.test(prepare(v) as string), // prepare keeps a string a string
        (v) => (typeof v === 'string' ? `${say(v)}, which does not match` : notString(v)),
      ),
    );
  }
  if (spec.not_regex !== undefined) {
    const pattern = linearRegex(spec.not_regex, spec.flags);
    out.push(
      operator(
        `not_regex /${spec.not_regex}/${spec.flags ?? ''}${normalized}`,
        (v) => fits(v) && !pattern.test(prepare(v) as string), // prepare keeps a string a string
        (v) => (typeof v === 'string' ? `${say(v)}, which matches` : notString(v)),
      ),
    );
  }
  for (const op of ['lt', 'lte', 'gt', 'gte'] as const) {
    const bound = spec[op];
    if (bound === undefined) continue;
    const compare = numericTests[op];
    out.push(
      operator(
        `${op} ${bound}`,
        (v) => {
          const n = asNumber(v);
          return n !== undefined && compare(n, bound);
        },
        (v) => {
          if (v === undefined) return say(v);
          return asNumber(v) === undefined ? say(v, ` (${typeName(v)}, not a number)`) : `${say(v)}, not ${numericWords[op]} ${bound}`;
        },
      ),
    );
  }
  return out;
}

/** Compiles `{path: condition}` for constraints or rule `when`. */
export function compileConditions(specs: Readonly<Record<string, ConditionSpec>> | undefined, isRedacted: (path: string) => boolean): CompiledCondition[] {
  if (specs === undefined) return [];
  return Object.entries(specs).map(([path, spec]) => ({
    path,
    segments: parsePath(path),
    operators: compileOperators(spec, isRedacted(path)),
    maxLength: maxLengthOf(spec),
  }));
}

/**
 * Strings longer than the conditions that examine them allow, one violation per path. A value
 * a regex cannot look at is neither "matches" nor "does not match", so it is refused outright,
 * whether the regex sits in a constraint or in a rule (fail closed: an allow rule must not let
 * it through, and a deny rule must not miss it).
 */
export function overLength(conditions: readonly CompiledCondition[], args: unknown): ConstraintViolation[] {
  const violations: ConstraintViolation[] = [];
  for (const condition of conditions) {
    if (condition.maxLength === undefined) continue;
    const value = getPath(args, condition.segments);
    if (typeof value !== 'string' || value.length <= condition.maxLength) continue;
    if (violations.some((v) => v.path === condition.path)) continue;
    violations.push({
      path: condition.path,
      rule: `max_length ${condition.maxLength}`,
      problem: `is a string of ${value.length} characters, longer than the ${condition.maxLength} this policy examines; send a shorter value (or ask an operator to raise max_length)`,
    });
  }
  return violations;
}

/** Whether every operator holds for one value. */
export function operatorsHold(operators: readonly CompiledOperator[], value: unknown): boolean {
  for (const op of operators) if (!op.test(value)) return false;
  return true;
}

/** Whether every condition holds for the arguments (rule matching: no strings built). */
export function conditionsHold(conditions: readonly CompiledCondition[], args: unknown): boolean {
  for (const condition of conditions) {
    if (!operatorsHold(condition.operators, getPath(args, condition.segments))) return false;
  }
  return true;
}

/**
 * Every violated operator, one per failure; a missing value is reported once per path
 * (its first failing operator) rather than once per operator.
 */
export function checkConstraints(conditions: readonly CompiledCondition[], args: unknown): ConstraintViolation[] {
  const violations: ConstraintViolation[] = [];
  for (const condition of conditions) {
    const value = getPath(args, condition.segments);
    for (const op of condition.operators) {
      if (op.test(value)) continue;
      violations.push({ path: condition.path, rule: op.rule, problem: op.problem(value) });
      if (value === undefined) break;
    }
  }
  return violations;
}
