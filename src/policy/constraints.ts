/**
 * Conditions on argument values (and on the agent's name), compiled once at load into small
 * closures. evaluate() uses them two ways: as constraints (every failing operator becomes a
 * ConstraintViolation the agent can act on) and as rule conditions (a yes/no, with no strings built).
 *
 * Comparison semantics, chosen so a deny-list cannot be side-stepped by re-typing a value:
 * numbers and numeric strings ("101", "0101") compare as numbers, because upstreams such as
 * Databricks accept either; nothing else is coerced (strings are case-sensitive — use a regex
 * with flag "i"). Objects and arrays compare by canonical JSON. A missing value fails every
 * operator except `ne`, `not_in` and `exists: false`.
 */
import type { ConstraintViolation } from './types.js';
import type { ConditionSpec } from './schema.js';
import { canonicalJson } from '../util/canonical.js';
import { getPath, parsePath, type PathSegments } from '../util/paths.js';

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
}

const numericString = /^-?\d+(\.\d+)?$/;

/** The number a value denotes: a number, or a string of decimal digits; else undefined. */
function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && numericString.test(value)) return Number(value);
  return undefined;
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

/** Compiles every operator of one condition; `hideValue` keeps values out of problem texts. */
export function compileOperators(spec: ConditionSpec, hideValue: boolean): CompiledOperator[] {
  const out: CompiledOperator[] = [];
  const say = (value: unknown, why = '') => describe(value, hideValue, why);
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
  if (spec.eq !== undefined) {
    const matches = valueSet([spec.eq]);
    out.push(operator(`eq ${JSON.stringify(spec.eq)}`, matches, (v) => say(v)));
  }
  if (spec.ne !== undefined) {
    const matches = valueSet([spec.ne]);
    out.push(
      operator(
        `ne ${JSON.stringify(spec.ne)}`,
        (v) => !matches(v),
        (v) => say(v),
      ),
    );
  }
  if (spec.in !== undefined) {
    const matches = valueSet(spec.in);
    out.push(operator(`in ${JSON.stringify(spec.in)}`, matches, (v) => say(v)));
  }
  if (spec.not_in !== undefined) {
    const matches = valueSet(spec.not_in);
    out.push(
      operator(
        `not_in ${JSON.stringify(spec.not_in)}`,
        (v) => !matches(v),
        (v) => say(v),
      ),
    );
  }
  if (spec.regex !== undefined) {
    // Flags never include g or y (the schema refuses them), so test() keeps no state between calls.
    const pattern = new RegExp(spec.regex, spec.flags ?? '');
    out.push(
      operator(
        `regex ${String(pattern)}`,
        (v) => typeof v === 'string' && pattern.test(v),
        (v) => (typeof v === 'string' ? `${say(v)}, which does not match` : say(v, v === undefined ? '' : ` (${typeName(v)}, not a string)`)),
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
  return Object.entries(specs).map(([path, spec]) => ({ path, segments: parsePath(path), operators: compileOperators(spec, isRedacted(path)) }));
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
