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
 *
 * How: one pass builds a copy with members inserted in canonical order, then the engine's own
 * JSON.stringify writes it (it keeps insertion order). The one exception is names that look like
 * array indices ("0", "17"), which JavaScript always enumerates first in numeric order; a copy
 * holding one is written by a small serialiser of our own instead.
 */
import { createHash } from 'node:crypto';

/** A JSON object with no prototype: `constructor`, `toString`… are only ever its own members. */
export type JsonObject = Record<string, unknown>;

/** Deepest nesting `canonicalJson` follows before refusing (the stack stays far from its limit). */
const maxCanonicalDepth = 1_000;

/** RFC 8785 canonical JSON of a JSON value. Throws on what JSON cannot carry (NaN, Infinity, functions…) or absurd nesting. */
export function canonicalJson(value: unknown): string {
  const copy = new Copier({ maxDepth: maxCanonicalDepth, refuse: undefined });
  const sorted = copy.value(value, undefined, 1);
  return copy.indexNames ? serialize(sorted) : (JSON.stringify(sorted) ?? 'null');
}

/**
 * The sorted copy as JSON.stringify writes it even when some name is index-like (those then come
 * first, in numeric order). Airlock's canonical JSON had that order before it followed RFC 8785;
 * `verify` accepts it for events stored then. Like canonicalJson, `__proto__` is an ordinary name.
 */
export function engineOrderJson(value: unknown): { json: string; differs: boolean } {
  const copy = new Copier({ maxDepth: maxCanonicalDepth, refuse: undefined });
  const sorted = copy.value(value, undefined, 1);
  return { json: JSON.stringify(sorted) ?? 'null', differs: copy.indexNames };
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

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
const refusedName = '__proto__';

/**
 * The edge step for an agent's `tools/call` arguments: checks nesting and member names, and
 * returns a prototype-free copy (members in canonical order) plus its canonical bytes. Never
 * throws for any JSON input: depth is checked before descending, so the stack stays short.
 */
export function canonicalArguments(value: unknown, limits: CanonicalLimits = defaultCanonicalLimits): CanonicalArgumentsResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, violation: { path: '(arguments)', rule: 'a JSON object', problem: 'are not a JSON object' } };
  }
  const copy = new Copier({ maxDepth: limits.maxDepth, refuse: refusedName });
  try {
    const sorted = copy.value(value, undefined, 1) as JsonObject; // an object in, an object out
    return { ok: true, value: sorted, json: copy.indexNames ? serialize(sorted) : JSON.stringify(sorted) };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, violation: error.violation };
    throw error;
  }
}

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

/** A name JavaScript enumerates before all others, in numeric order (an array index). */
const indexName = /^(?:0|[1-9]\d{0,9})$/;

/** Builds the sorted, prototype-free copy, refusing what canonical JSON cannot carry. */
class Copier {
  /** Whether some object has an index-like name (then JSON.stringify would not keep our order). */
  indexNames = false;

  constructor(private readonly options: { maxDepth: number; refuse: string | undefined }) {}

  value(value: unknown, path: PathNode | undefined, depth: number): unknown {
    if (value === null) return null;
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        if (!Number.isFinite(value)) throw refusal(path, 'finite numbers', `is ${String(value)}, which JSON cannot carry`);
        return value;
      case 'object':
        break;
      default:
        throw refusal(path, 'JSON values only', `is a ${typeof value}, which JSON cannot carry`);
    }
    const { maxDepth, refuse } = this.options;
    if (depth > maxDepth) {
      throw refusal(path, `nesting at most ${maxDepth} levels`, `nests deeper than ${maxDepth} levels of objects and arrays; flatten the arguments`);
    }
    if (Array.isArray(value)) {
      const out: unknown[] = new Array<unknown>(value.length);
      for (let i = 0; i < value.length; i += 1) {
        const item: unknown = value[i];
        out[i] = item === undefined ? null : this.value(item, { parent: path, key: String(i) }, depth + 1);
      }
      return out;
    }
    const out = Object.create(null) as JsonObject; // null prototype: every name below is a plain data member
    const record = value as Record<string, unknown>; // a non-null, non-array object, read by own names only
    for (const key of Object.keys(record).sort()) {
      if (key === refuse) {
        throw refusal(
          { parent: path, key },
          `no member named "${key}"`,
          `is a member named "${key}", which JSON and JavaScript read differently; rename or remove it`,
        );
      }
      const child = record[key];
      if (child === undefined) continue;
      if (!this.indexNames && indexName.test(key)) this.indexNames = true;
      out[key] = this.value(child, { parent: path, key }, depth + 1);
    }
    return out;
  }
}

function refusal(path: PathNode | undefined, rule: string, problem: string): Refusal {
  const keys: string[] = [];
  for (let node = path; node; node = node.parent) keys.unshift(node.key);
  return new Refusal({ path: keys.length === 0 ? '(arguments)' : keys.join('.'), rule, problem });
}

/**
 * Canonical JSON of a copy already checked and sorted by Copier, member by member: used only when
 * some name is index-like, since JSON.stringify would then put it first. Depth is bounded by the copy.
 */
function serialize(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(serialize).join(',')}]`;
  const record = value as JsonObject; // a sorted, null-prototype copy
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) parts.push(`${JSON.stringify(key)}:${serialize(record[key])}`);
  return `{${parts.join(',')}}`;
}
