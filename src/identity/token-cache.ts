/**
 * Verified access tokens by token string, each until its own expiry, so a busy agent's token is
 * verified (signature, claims, mapping) once and every later request costs one map lookup. Only
 * successes are kept — a flood of bad tokens cannot fill it — and it is bounded: when full, the
 * oldest entry goes first (insertion order), which is the one nearest to lapsing for equal TTLs.
 */
export class TokenCache<V> {
  private readonly entries = new Map<string, { value: V; untilMs: number }>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(maxEntries: number, now: () => number = Date.now) {
    this.maxEntries = maxEntries;
    this.now = now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value kept for `token`, unless it lapsed (then it is dropped). */
  get(token: string): V | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (this.now() >= entry.untilMs) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.value;
  }

  /** Keeps `value` until `untilMs` (epoch ms); nothing is kept for a token already lapsed or with a zero-size cache. */
  set(token: string, value: V, untilMs: number): void {
    if (this.maxEntries === 0 || untilMs <= this.now()) return;
    this.entries.delete(token);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    this.entries.set(token, { value, untilMs });
  }
}
