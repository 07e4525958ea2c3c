/**
 * `policy check`'s warning for patterns that would backtrack in a backtracking engine (PCRE,
 * Java, JavaScript's RegExp). Airlock itself runs every pattern in linear time (regex.ts), so
 * these are warnings, not problems: they matter when the same pattern is reused elsewhere, and
 * they usually point at a pattern that says less than its author meant.
 *
 * A heuristic over a light parse of the pattern, by design neither complete nor exact:
 *  1. nested quantifiers — a repeated group containing a variable-length repeat: `(a+)+`, `(\w*,?)*`;
 *  2. overlapping alternatives in a repeated group — `(a|ab)*`, `(\d|\w)+`;
 *  3. overlapping neighbours — a repeated character (class) followed by another unbounded repeat
 *     that can match the same character, with only optional parts between: `\s*\s*`,
 *     `[^;]*;?\s*`, `.*.*`.
 * Which characters an atom can match is decided by running the atom itself (in the linear
 * engine) over a sample alphabet: all of ASCII plus a handful of non-ASCII characters.
 */
import { compileRegex } from './regex.js';

interface Quantifier {
  min: number;
  max: number;
}

type Node = { kind: 'atom'; source: string; q: Quantifier } | { kind: 'assert'; q: Quantifier } | { kind: 'group'; branches: Node[][]; q: Quantifier };

const once: Quantifier = { min: 1, max: 1 };
const sample = [...Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)), 'é', 'ß', 'ſ', '\u212a', '\u00a0', '\u2028', '\u037e', '\uff1b', '中', '😀'];

/** Human-readable warnings for one pattern; empty when none of the heuristics fires (or it does not parse). */
export function backtrackingWarnings(pattern: string, flags = ''): string[] {
  let branches: Node[][];
  try {
    branches = new Parser(pattern).parseAlternation();
  } catch {
    return [];
  }
  const sets = new CharSets(flags);
  const warnings = new Set<string>();
  const visit = (seq: Node[]) => {
    checkNeighbours(seq, sets, warnings);
    for (const node of seq) {
      if (node.kind !== 'group') continue;
      if (node.q.max === Infinity) {
        if (containsRepeat(node.branches)) warnings.add(`nested quantifiers: a repeated group contains a repeat (${describeNode(node)})`);
        else if (node.branches.length > 1 && alternativesOverlap(node.branches, sets)) {
          warnings.add(`alternatives that can start with the same character inside a repeated group (${describeNode(node)})`);
        }
      }
      for (const branch of node.branches) visit(branch);
    }
  };
  for (const branch of branches) visit(branch);
  return [...warnings];
}

/** Whether a variable-length repeat (`*`, `+`, `{1,3}` — not a fixed `{3}`) sits anywhere inside. */
function containsRepeat(branches: Node[][]): boolean {
  return branches.some((seq) => seq.some((node) => node.q.max > node.q.min || (node.kind === 'group' && containsRepeat(node.branches))));
}

function alternativesOverlap(branches: Node[][], sets: CharSets): boolean {
  const firsts = branches.map((seq) => firstSet(seq, sets));
  for (let i = 0; i < firsts.length; i += 1) for (let j = i + 1; j < firsts.length; j += 1) if (overlaps(firsts[i], firsts[j])) return true;
  return false;
}

/** Rule 3: an unbounded repeat followed, across optional parts only, by another that overlaps it. */
function checkNeighbours(seq: Node[], sets: CharSets, warnings: Set<string>): void {
  for (let i = 0; i < seq.length; i += 1) {
    const left = seq[i] as Node; // i < length
    // Repeated groups are rules 1 and 2's business; here, a repeated character class or literal.
    if (left.q.max !== Infinity || left.kind !== 'atom') continue;
    const leftSet = sets.of(left.source);
    for (let j = i + 1; j < seq.length; j += 1) {
      const right = seq[j] as Node; // j < length
      if (right.kind === 'assert') continue;
      if (right.q.max === Infinity && overlaps(leftSet, firstSet([right], sets))) {
        warnings.add(
          `overlapping quantifiers: ${describeNode(left)} and ${describeNode(right)} can match the same characters with only optional parts between them`,
        );
        break;
      }
      if (right.q.min > 0) break;
    }
  }
}

/** Characters the first character of a sequence can be (assertions and optional parts looked through). */
function firstSet(seq: Node[], sets: CharSets): boolean[] {
  const out = sets.empty();
  for (const node of seq) {
    if (node.kind === 'assert') continue;
    const here =
      node.kind === 'atom'
        ? sets.of(node.source)
        : union(
            node.branches.map((b) => firstSet(b, sets)),
            sets,
          );
    for (let k = 0; k < out.length; k += 1) out[k] ||= here[k] ?? false;
    if (node.q.min > 0) break;
  }
  return out;
}

function union(parts: boolean[][], sets: CharSets): boolean[] {
  const out = sets.empty();
  for (const part of parts) for (let k = 0; k < out.length; k += 1) out[k] ||= part[k] ?? false;
  return out;
}

function overlaps(a: readonly boolean[] | undefined, b: readonly boolean[] | undefined): boolean {
  if (!a || !b) return false;
  for (let k = 0; k < a.length; k += 1) if (a[k] && b[k]) return true;
  return false;
}

function describeNode(node: Node): string {
  const { min, max } = node.q;
  const q =
    max === Infinity
      ? min === 0
        ? '*'
        : min === 1
          ? '+'
          : `{${min},}`
      : min === 0 && max === 1
        ? '?'
        : min === max
          ? min === 1
            ? ''
            : `{${min}}`
          : `{${min},${max}}`;
  if (node.kind === 'atom') return `${node.source}${q}`;
  if (node.kind === 'assert') return 'an assertion';
  return `(${node.branches.map((seq) => seq.map(describeNode).join('')).join('|')})${q}`;
}

/** Which sample characters an atom matches, computed once per atom source. */
class CharSets {
  private readonly cache = new Map<string, boolean[]>();
  private readonly flags: string;

  constructor(flags: string) {
    this.flags = flags.replace(/[^is]/g, '');
  }

  empty(): boolean[] {
    return sample.map(() => false);
  }

  of(source: string): boolean[] {
    let set = this.cache.get(source);
    if (set) return set;
    const compiled = compileRegex(`^(?:${source})$`, this.flags);
    set = compiled.ok ? sample.map((char) => compiled.regex.test(char)) : sample.map(() => true);
    this.cache.set(source, set);
    return set;
  }
}

/** A recursive-descent reader of the pattern syntax that matters for the heuristics. */
class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parseAlternation(): Node[][] {
    const branches: Node[][] = [this.parseSequence()];
    while (this.text[this.pos] === '|') {
      this.pos += 1;
      branches.push(this.parseSequence());
    }
    if (this.pos < this.text.length && this.text[this.pos] !== ')') throw new Error('unexpected');
    return branches;
  }

  private parseSequence(): Node[] {
    const seq: Node[] = [];
    while (this.pos < this.text.length && this.text[this.pos] !== '|' && this.text[this.pos] !== ')') {
      const node = this.parseAtom();
      if (node) seq.push({ ...node, q: this.parseQuantifier() });
    }
    return seq;
  }

  private parseAtom(): Node | undefined {
    const start = this.pos;
    const char = this.text[this.pos] as string; // pos < length
    this.pos += 1;
    if (char === '^' || char === '$') return { kind: 'assert', q: once };
    if (char === '(') return this.parseGroup();
    if (char === '[') {
      this.skipClass();
      return { kind: 'atom', source: this.text.slice(start, this.pos), q: once };
    }
    if (char === '\\') {
      const next = this.text[this.pos] ?? '';
      this.pos += 1;
      if ('bBAz'.includes(next)) return { kind: 'assert', q: once };
      if ((next === 'p' || next === 'P' || next === 'x') && this.text[this.pos] === '{') this.pos = this.text.indexOf('}', this.pos) + 1 || this.text.length;
      else if (next === 'p' || next === 'P') this.pos += 1;
      else if (next === 'x') this.pos += 2;
      else if (next === 'u') this.pos += 4;
      return { kind: 'atom', source: this.text.slice(start, this.pos), q: once };
    }
    return { kind: 'atom', source: char === '.' ? '.' : this.text.slice(start, this.pos), q: once };
  }

  private parseGroup(): Node | undefined {
    if (this.text[this.pos] === '?') {
      // (?:…), (?P<name>…), (?<name>…), (?i:…) and the flag-only (?i).
      const close = /^\?(P?<[^>]*>|[a-zA-Z-]*:|[a-zA-Z-]*\))/.exec(this.text.slice(this.pos));
      if (!close) throw new Error('unsupported group');
      this.pos += close[0].length;
      if (close[0].endsWith(')')) return undefined;
    }
    const branches = this.parseAlternation();
    if (this.text[this.pos] !== ')') throw new Error('unclosed group');
    this.pos += 1;
    return { kind: 'group', branches, q: once };
  }

  private skipClass(): void {
    if (this.text[this.pos] === '^') this.pos += 1;
    if (this.text[this.pos] === ']') this.pos += 1;
    while (this.pos < this.text.length && this.text[this.pos] !== ']') {
      if (this.text[this.pos] === '\\') this.pos += 2;
      else if (this.text.startsWith('[:', this.pos)) this.pos = this.text.indexOf(':]', this.pos) + 2 || this.text.length;
      else this.pos += 1;
    }
    this.pos += 1;
  }

  private parseQuantifier(): Quantifier {
    const char = this.text[this.pos];
    let q: Quantifier | undefined;
    if (char === '*') q = { min: 0, max: Infinity };
    else if (char === '+') q = { min: 1, max: Infinity };
    else if (char === '?') q = { min: 0, max: 1 };
    if (q) this.pos += 1;
    else {
      const braces = /^\{(\d+)(,(\d*))?\}/.exec(this.text.slice(this.pos));
      if (!braces) return once;
      this.pos += braces[0].length;
      const min = Number(braces[1]);
      q = { min, max: braces[2] === undefined ? min : braces[3] === '' ? Infinity : Number(braces[3]) };
    }
    if (this.text[this.pos] === '?') this.pos += 1; // lazy: the same shape for backtracking
    return q;
  }
}
