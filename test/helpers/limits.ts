/**
 * Rate limiters on real Redis for the limits tests: each one a "replica" with its own fail-fast
 * connection, sharing whatever key prefix the test gives, optionally on an injected clock.
 */
import { inject } from 'vitest';
import { RedisRateLimiter } from '../../src/limits/redis-limiter.js';
import type { LimitSubject } from '../../src/limits/types.js';
import { createLogger } from '../../src/log.js';
import type { LimitScope, LimitSpec } from '../../src/policy/types.js';
import { createRedis, waitForRedis, type Redis } from '../../src/state/redis.js';

/** One limiter with its own connection, as one gateway replica would have. */
export interface LimiterReplica {
  limiter: RedisRateLimiter;
  redis: Redis;
  close(): void;
}

/** Connects a limiter to the test Redis (or `url`), waiting until the connection is ready. */
export async function startLimiter(prefix: string, options: { now?: () => number; url?: string } = {}): Promise<LimiterReplica> {
  const redis = createRedis(options.url ?? inject('redisUrl'), { name: 'test:limits', mode: 'fail-fast', log: createLogger({ level: 'silent' }) });
  if (!(await waitForRedis(redis, 5_000))) throw new Error('test redis did not become ready');
  const limiter = new RedisRateLimiter({ redis, prefix, ...(options.now ? { now: options.now } : {}) });
  return { limiter, redis, close: () => redis.disconnect() };
}

/** A LimitSpec as the policy engine would produce it. */
export function limit(counter: string, windowSec: number, max: number, scope: LimitScope = 'grant'): LimitSpec {
  return { counter, windowSec, max, scope };
}

/** Who a call is counted for: an agent and its MCP session. */
export function subject(agent = 'agent-a', sessionId = 'session-1'): LimitSubject {
  return { agent, sessionId };
}

/** A clock the test moves by hand. */
export function manualClock(start = 1_700_000_000_000) {
  let now = start;
  return {
    now: () => now,
    set: (t: number) => {
      now = t;
    },
  };
}
