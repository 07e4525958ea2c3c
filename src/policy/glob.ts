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

/**
 * Name → entry index: exact names in a Map; globs bucketed by their literal prefix, so a lookup
 * probes one bucket per distinct prefix length (a handful) and tests only globs whose prefix
 * already matched.
 */
export class NameIndex<T> {
  private readonly exact = new Map<string, T>();
  private readonly buckets = new Map<string, IndexedGlob<T>[]>();
  /** Distinct prefix lengths of the globs, ascending. */
  private readonly prefixLengths: number[];

  /** `entries` in file order; keys containing `*` are globs. */
  constructor(entries: ReadonlyArray<readonly [string, T]>) {
    const globs: Array<GlobMatcher & { order: number; value: T }> = [];
    entries.forEach(([key, value], order) => {
      if (isGlob(key)) globs.push({ ...compileGlob(key), order, value });
      else this.exact.set(key, value);
    });
    globs.sort(compareGlobSpecificity);
    const lengths = new Set<number>();
    globs.forEach((glob, rank) => {
      const bucket = this.buckets.get(glob.prefix) ?? [];
      bucket.push({ glob, rank, value: glob.value });
      this.buckets.set(glob.prefix, bucket);
      lengths.add(glob.prefix.length);
    });
    this.prefixLengths = [...lengths].sort((a, b) => a - b);
  }

  /** The most specific entry for a name, or undefined when none matches. */
  lookup(name: string): T | undefined {
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    let best: IndexedGlob<T> | undefined;
    for (const length of this.prefixLengths) {
      if (length > name.length) break;
      const bucket = this.buckets.get(length === 0 ? '' : name.slice(0, length));
      if (bucket === undefined) continue;
      for (const candidate of bucket) {
        // Buckets are in rank order: the first match in a bucket is its best.
        if (best !== undefined && candidate.rank > best.rank) break;
        if (matchGlob(candidate.glob, name)) {
          best = candidate;
          break;
        }
      }
    }
    return best?.value;
  }
}
