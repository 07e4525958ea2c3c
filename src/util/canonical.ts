/**
 * The one canonical form of JSON in Airlock: RFC 8785, the JSON Canonicalization Scheme (JCS).
 * Object members sorted by the UTF-16 code units of their names, no whitespace, numbers and
 * strings exactly as ECMAScript's JSON.stringify writes them (which is what JCS specifies).
 * Two calls with the same arguments in another key order, spacing or number spelling have the
 * same bytes — what the approval binding, the audit content and the chain hash rely on.
 *
 * Prototype-free: names are read with Object.keys and written into null-prototype objects, so
 * `__proto__` is just a name here (a stored audit event with an injected `__proto__` member
 * hashes differently, and `verify` notices). Arguments from agents go through
 * `canonicalArguments`, which refuses a `__proto__` name outright (see there) and bounds nesting.
 */
import { createHash } from 'node:crypto';

/** Deepest nesting `canonicalJson` follows before refusing (the stack stays far from its limit). */
const maxCanonicalDepth = 1_000;

/** RFC 8785 canonical JSON of a JSON value. Throws on what JSON cannot carry (NaN, Infinity, functions…) or absurd nesting. */
export function canonicalJson(value: unknown): string {
  return serialize(value, 0);
}

function serialize(value: unknown, depth: number): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot carry the number ${String(value)}`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonical JSON cannot carry a ${typeof value}`);
  }
  if (depth >= maxCanonicalDepth) throw new RangeError(`canonical JSON refuses nesting deeper than ${maxCanonicalDepth} levels`);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i += 1) {
      const item: unknown = value[i];
      out += `${i === 0 ? '' : ','}${item === undefined ? 'null' : serialize(item, depth + 1)}`;
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>; // a non-null, non-array object: read by own keys only
  let out = '{';
  let first = true;
  for (const key of Object.keys(record).sort()) {
    const child = record[key];
    if (child === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(key)}:${serialize(child, depth + 1)}`;
    first = false;
  }
  return `${out}}`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A JSON object with no prototype: `constructor`, `toString`… are only ever its own members. */
export type JsonObject = Record<string, unknown>;

/** Edge limits for agents' arguments. */
export interface CanonicalLimits {
  /** Deepest nesting of objects and arrays accepted (the top-level arguments object is depth 1). */
  maxDepth: number;
}

export const defaultCanonicalLimits: CanonicalLimits = { maxDepth: 64 };

/** For `policy explain` (CLI, API, dashboard): the most nesting any config can allow; refusing more only keeps explain from a stack overflow. */
export const explainLimits: CanonicalLimits = { maxDepth: 512 };

/** What is wrong with arguments at the edge, shaped like a policy constraint violation. */
export interface ArgumentViolation {
  /** Dotted path to the offending member (`params.__proto__`), `(arguments)` for the whole. */
  path: string;
  rule: string;
  problem: string;
}

/** Arguments in their one canonical form, or the one reason they have none. */
export type CanonicalArgumentsResult =
  | {
      ok: true;
      /** A deep copy built from null-prototype objects: evaluate, redact and forward this. */
      value: JsonObject;
      /** Its RFC 8785 bytes: what is hashed, bound to an approval and sent upstream. */
      json: string;
    }
  | { ok: false; violation: ArgumentViolation };

/**
 * Names refused in agents' arguments. `__proto__` is the one name JSON and JavaScript read
 * differently: JSON.parse makes it an own member, while an assignment or a spread anywhere
 * downstream (ours, a library's, the upstream's) sets the prototype instead — the member
 * vanishes from one view and stays in another. Refusing it leaves one meaning. `constructor`
 * and `prototype` stay ordinary names: in null-prototype objects they are only data.
 */
const refusedNames = new Set(['__proto__']);

class Refusal extends Error {
  constructor(readonly violation: ArgumentViolation) {
    super(violation.problem);
  }
}

/** Where a member sits, built only when a refusal names it. */
interface PathNode {
  parent: PathNode | undefined;
  key: string;
}

/**
 * The edge step for an agent's `tools/call` arguments: checks nesting and member names, and
 * returns a prototype-free copy (members in canonical order) plus its canonical bytes, in one
 * pass. Never throws for any JSON input: depth is checked before descending, so the stack stays short.
 */
export function canonicalArguments(value: unknown, limits: CanonicalLimits = defaultCanonicalLimits): CanonicalArgumentsResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, violation: { path: '(arguments)', rule: 'a JSON object', problem: 'are not a JSON object' } };
  }
  const holder: { value: unknown } = { value: undefined };
  try {
    const json = copyInto(holder, value, undefined, 1, limits);
    return { ok: true, value: holder.value as JsonObject, json }; // an object in, an object out
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, violation: error.violation };
    return { ok: false, violation: { path: '(arguments)', rule: 'JSON values only', problem: error instanceof Error ? error.message : String(error) } };
  }
}

/** Sets `holder.value` to a prototype-free copy of `value` and returns its canonical JSON. */
function copyInto(holder: { value: unknown }, value: unknown, path: PathNode | undefined, depth: number, limits: CanonicalLimits): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw refusal(path, 'finite numbers', `is ${String(value)}`);
    holder.value = value;
    return serialize(value, 0);
  }
  if (depth > limits.maxDepth) {
    throw refusal(
      path,
      `nesting at most ${limits.maxDepth} levels`,
      `nests deeper than ${limits.maxDepth} levels of objects and arrays; flatten the arguments`,
    );
  }
  const slot: { value: unknown } = { value: undefined };
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    let json = '[';
    for (let i = 0; i < value.length; i += 1) {
      json += (i === 0 ? '' : ',') + copyInto(slot, value[i] ?? null, { parent: path, key: String(i) }, depth + 1, limits);
      out.push(slot.value);
    }
    holder.value = out;
    return `${json}]`;
  }
  const out = Object.create(null) as JsonObject; // null prototype: every name below is a plain data member
  const record = value as Record<string, unknown>; // a non-null, non-array object
  let json = '{';
  for (const key of Object.keys(record).sort()) {
    if (refusedNames.has(key)) {
      throw refusal(
        { parent: path, key },
        'no member named "__proto__"',
        'is a member named "__proto__", which JSON and JavaScript read differently; rename or remove it',
      );
    }
    const child = record[key];
    if (child === undefined) continue;
    json += (json.length === 1 ? '' : ',') + JSON.stringify(key) + ':' + copyInto(slot, child, { parent: path, key }, depth + 1, limits);
    out[key] = slot.value;
  }
  holder.value = out;
  return `${json}}`;
}

function refusal(path: PathNode | undefined, rule: string, problem: string): Refusal {
  const keys: string[] = [];
  for (let node = path; node; node = node.parent) keys.unshift(node.key);
  return new Refusal({ path: keys.length === 0 ? '(arguments)' : keys.join('.'), rule, problem });
}
