/**
 * Rate limits in Redis, checked after policy and argument checks and before a call is forwarded
 * or held. One check is one script run (one round trip): every limit of the call is checked on
 * Redis's own clock and, only if all admit, the call is counted in each — so with any number of
 * gateway replicas on one Redis, no window of any counter ever holds more than `max` admitted
 * calls, and a refused call uses up nothing. A Redis fault throws `state_store_unavailable`
 * (the pipeline applies the policy's `on_state_error`); ioredis reconnects by itself and the
 * script is loaded again on the first NOSCRIPT after a Redis restart.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { LimitScope, LimitSpec } from '../policy/types.js';
import { scanTargets } from '../state/redis.js';
import { withStateStore } from '../state/state-store.js';
import { limitKeys, type LimitKeys, type ParsedLogKey } from './limit-keys.js';
import { checkScript, evalScript, inspectScript } from './limit-scripts.js';
import type { LimitResult, LimitSubject, RateLimiter } from './types.js';

/** What a limiter needs: a connection, the deployment's key prefix and, in tests, a clock. */
export interface RedisRateLimiterOptions {
  /** A fail-fast connection (`createRedis(url, { mode: 'fail-fast' })`) so an outage refuses at once. */
  redis: Redis;
  /** Key prefix of the deployment (`redis.prefix` in the config). */
  prefix: string;
  /**
   * Injected clock (ms) for tests: when given, this time is passed to the script instead of
   * Redis's TIME, so window rollover is tested without sleeping. Replicas must share one clock,
   * so production leaves it unset.
   */
  now?: () => number;
  /** Deadline for one Redis operation; default `stateStoreDeadlineMs`. */
  deadlineMs?: number;
}

/** One counter's current state, as `airlock limits show` prints it. */
export interface LimitUsage {
  counter: string;
  scope: LimitScope;
  /** The agent (`grant`) or session id (`session`); undefined for `global`. */
  subject: string | undefined;
  /** Calls admitted in the current window. */
  count: number;
  /** The max and window of the limit that last counted a call here. */
  max: number;
  windowSec: number;
  /** Until the oldest counted call leaves the window and the count drops by one. */
  resetsInMs: number;
  /** The same moment as an ISO time (on Redis's clock, or the injected one). */
  resetsAt: string;
}

/** Narrows `inspect()`; no filter shows every counter with calls in its window. */
export interface InspectFilter {
  /** Only counters that bind this agent: its `grant` counters and the `global` ones. */
  agent?: string;
}

/** The reply of checkScript: `[0]` admitted, `[i, count, retryAfterMs]` refused by limit i. */
const CheckReply = z.union([
  z.tuple([z.literal(0)]).transform(() => ({ admitted: true as const })),
  z
    .tuple([z.number().int().min(1), z.number().int(), z.number().int()])
    .transform(([index, count, retryAfterMs]) => ({ admitted: false as const, index, count, retryAfterMs })),
]);
const InspectReply = z.array(z.number().int()).min(1);

/** Keys per inspect script run: bounds the work one script does while Redis serves nobody else. */
const inspectBatch = 200;

/** The production RateLimiter: a sliding-window log per counter and scope, in Redis. */
export class RedisRateLimiter implements RateLimiter {
  private readonly redis: Redis;
  private readonly keys: LimitKeys;
  private readonly now: (() => number) | undefined;
  private readonly deadlineMs: number | undefined;
  /** Random per instance plus a sequence: a log member no other call, on any replica, uses. */
  private readonly instanceId = randomBytes(6).toString('base64url');
  private sequence = 0;

  constructor(options: RedisRateLimiterOptions) {
    this.redis = options.redis;
    this.keys = limitKeys(options.prefix);
    this.now = options.now;
    this.deadlineMs = options.deadlineMs;
  }

  /** Checks every limit and, only if all admit, counts the call in each; one Redis round trip. */
  async check(limits: readonly LimitSpec[], subject: LimitSubject): Promise<LimitResult> {
    if (limits.length === 0) return { admitted: true };
    const keys: string[] = [];
    const args: (string | number)[] = [this.clockArg(), `${this.instanceId}.${(this.sequence += 1)}`];
    for (const limit of limits) {
      keys.push(this.keys.log(limit.counter, limit.scope, subject), this.keys.meta(limit.counter));
      args.push(windowMs(limit), limit.max);
    }
    const reply = CheckReply.parse(await withStateStore(() => evalScript(this.redis, checkScript, keys, args), this.deadlineMs));
    if (reply.admitted) return reply;
    const limit = limits[reply.index - 1];
    if (!limit) throw new Error(`rate-limit script named limit ${reply.index} of ${limits.length}`);
    return { admitted: false, limit, count: reply.count, retryAfterMs: reply.retryAfterMs };
  }

  /**
   * Current counts and when each window next frees a slot, for `airlock limits show`. Counters
   * with nothing in their window are left out. Sessions are not tied to an agent in Redis, so an
   * agent filter shows its `grant` counters and the `global` ones.
   */
  async inspect(filter: InspectFilter = {}): Promise<LimitUsage[]> {
    const found = new Map<string, ParsedLogKey>();
    for (const node of scanTargets(this.redis)) {
      let cursor = '0';
      do {
        const [next, page] = await withStateStore(() => node.scan(cursor, 'MATCH', this.keys.logPattern(), 'COUNT', 1_000), this.deadlineMs);
        cursor = next;
        for (const key of page) {
          const parsed = this.keys.parseLog(key);
          if (parsed && matches(parsed, filter)) found.set(key, parsed);
        }
      } while (cursor !== '0');
    }

    const entries = [...found.entries()];
    const usages: LimitUsage[] = [];
    for (let start = 0; start < entries.length; start += inspectBatch) {
      usages.push(...(await this.inspectKeys(entries.slice(start, start + inspectBatch))));
    }
    return usages.sort(byCounterScopeSubject);
  }

  private async inspectKeys(entries: [string, ParsedLogKey][]): Promise<LimitUsage[]> {
    const keys = entries.flatMap(([key, parsed]) => [key, this.keys.meta(parsed.counter)]);
    const reply = InspectReply.parse(await withStateStore(() => evalScript(this.redis, inspectScript, keys, [this.clockArg()]), this.deadlineMs));
    const [now, ...rest] = reply;
    if (now === undefined || rest.length !== entries.length * 4) throw new Error('rate-limit inspect script answered in an unexpected shape');
    const usages: LimitUsage[] = [];
    entries.forEach(([, parsed], i) => {
      const [window, max, count, oldest] = rest.slice(i * 4, i * 4 + 4);
      if (window === undefined || max === undefined || count === undefined || oldest === undefined) return;
      if (window < 0 || count === 0 || oldest < 0) return;
      const resetsInMs = Math.max(0, oldest + window - now);
      usages.push({ ...parsed, count, max, windowSec: window / 1_000, resetsInMs, resetsAt: new Date(now + resetsInMs).toISOString() });
    });
    return usages;
  }

  private clockArg(): string {
    return this.now ? String(Math.floor(this.now())) : '';
  }
}

/** A limit's window in whole milliseconds, at least 1. */
function windowMs(limit: LimitSpec): number {
  return Math.max(1, Math.round(limit.windowSec * 1_000));
}

function matches(parsed: ParsedLogKey, filter: InspectFilter): boolean {
  if (filter.agent === undefined) return true;
  return parsed.scope === 'global' || (parsed.scope === 'grant' && parsed.subject === filter.agent);
}

function byCounterScopeSubject(a: LimitUsage, b: LimitUsage): number {
  return a.counter.localeCompare(b.counter) || a.scope.localeCompare(b.scope) || (a.subject ?? '').localeCompare(b.subject ?? '');
}
