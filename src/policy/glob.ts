/**
 * Tool-name lookup for a compiled policy: which `tools` entry governs a called tool. Built once
 * at load; evaluate() calls `lookup()` on every tools/call, so its cost must depend on the name
 * being looked up, not on how many entries the policy has.
 *
 * Precedence (most specific entry wins):
 *   1. an exact name beats any glob;
 *   2. among globs, more literal (non-`*`) characters win;
 *   3. then fewer `*`;
 *   4. then the entry written first in the file.
 * `*` matches any run of characters, including none; every other character is literal.
 */

/** A compiled `*` glob: its literal parts, matched without building a RegExp. */
export interface GlobMatcher {
  readonly pattern: string;
  /** Characters before the first `*` (the index key). */
  readonly prefix: string;
  readonly suffix: string;
  /** Literal parts between the first and last `*`, in order. */
  readonly middle: readonly string[];
  readonly literalChars: number;
  readonly stars: number;
}

export function isGlob(pattern: string): boolean {
  return pattern.includes('*');
}

/** Compiles a glob into its literal parts; call once per pattern at load. */
export function compileGlob(pattern: string): GlobMatcher {
  const parts = pattern.split('*');
  const prefix = parts[0] ?? '';
  const suffix = parts.length > 1 ? (parts.at(-1) ?? '') : '';
  const middle = parts.slice(1, -1).filter((part) => part.length > 0);
  return { pattern, prefix, suffix, middle, literalChars: pattern.length - (parts.length - 1), stars: parts.length - 1 };
}

/** Whether a name matches a compiled glob. */
export function matchGlob(glob: GlobMatcher, name: string): boolean {
  if (glob.stars === 0) return name === glob.pattern;
  if (name.length < glob.literalChars) return false;
  if (!name.startsWith(glob.prefix) || !name.endsWith(glob.suffix)) return false;
  let from = glob.prefix.length;
  const end = name.length - glob.suffix.length;
  for (const part of glob.middle) {
    const at = name.indexOf(part, from);
    if (at < 0 || at + part.length > end) return false;
    from = at + part.length;
  }
  return true;
}

/** Orders globs from most to least specific; `order` is the position in the file. */
export function compareGlobSpecificity(a: GlobMatcher & { order: number }, b: GlobMatcher & { order: number }): number {
  return b.literalChars - a.literalChars || a.stars - b.stars || a.order - b.order;
}

interface IndexedGlob<T> {
  glob: GlobMatcher;
  /** 0 is the most specific glob of the policy. */
  rank: number;
  value: T;
}

/** Globs sharing one literal key (a prefix or a suffix), most specific first. */
class Buckets<T> {
  private readonly byKey = new Map<string, IndexedGlob<T>[]>();
  /** Distinct key lengths, ascending: a lookup probes one bucket per length. */
  private lengths: number[] = [];

  add(key: string, glob: IndexedGlob<T>): void {
    const bucket = this.byKey.get(key) ?? [];
    bucket.push(glob);
    this.byKey.set(key, bucket);
    if (!this.lengths.includes(key.length)) this.lengths = [...this.lengths, key.length].sort((a, b) => a - b);
  }

  /** The best-ranked glob matching `name` among buckets whose key `keyOf` cuts from it; beats `best` only. */
  best(name: string, keyOf: (name: string, length: number) => string, best: IndexedGlob<T> | undefined): IndexedGlob<T> | undefined {
    for (const length of this.lengths) {
      if (length > name.length) break;
      const bucket = this.byKey.get(keyOf(name, length));
      if (bucket !== undefined) best = firstMatch(bucket, name, best);
    }
    return best;
  }
}

/** The first glob of a rank-ordered list that matches and outranks `best`. */
function firstMatch<T>(globs: readonly IndexedGlob<T>[], name: string, best: IndexedGlob<T> | undefined): IndexedGlob<T> | undefined {
  for (const candidate of globs) {
    if (best !== undefined && candidate.rank > best.rank) return best;
    if (matchGlob(candidate.glob, name)) return candidate;
  }
  return best;
}

const cutPrefix = (name: string, length: number) => name.slice(0, length);
const cutSuffix = (name: string, length: number) => name.slice(name.length - length);

/**
 * Name → entry index: exact names in a Map; globs bucketed by their literal prefix (`list_*`),
 * or by their literal suffix when they start with `*` (`*_cluster`), so a lookup probes one
 * bucket per distinct key length and tests only globs whose key already matched. Only globs
 * with neither (`*`, `*sql*`) are tested one by one, and policies have few of those.
 */
export class NameIndex<T> {
  private readonly exact = new Map<string, T>();
  private readonly byPrefix = new Buckets<T>();
  private readonly bySuffix = new Buckets<T>();
  private readonly floating: IndexedGlob<T>[] = [];

  /** `entries` in file order; keys containing `*` are globs. */
  constructor(entries: ReadonlyArray<readonly [string, T]>) {
    const globs: Array<GlobMatcher & { order: number; value: T }> = [];
    entries.forEach(([key, value], order) => {
      if (isGlob(key)) globs.push({ ...compileGlob(key), order, value });
      else this.exact.set(key, value);
    });
    globs.sort(compareGlobSpecificity);
    globs.forEach((glob, rank) => {
      const indexed = { glob, rank, value: glob.value };
      if (glob.prefix !== '') this.byPrefix.add(glob.prefix, indexed);
      else if (glob.suffix !== '') this.bySuffix.add(glob.suffix, indexed);
      else this.floating.push(indexed);
    });
  }

  /** The most specific entry for a name, or undefined when none matches. */
  lookup(name: string): T | undefined {
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    let best = this.byPrefix.best(name, cutPrefix, undefined);
    best = this.bySuffix.best(name, cutSuffix, best);
    best = firstMatch(this.floating, name, best);
    return best?.value;
  }
}
