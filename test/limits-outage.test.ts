/**
 * Rate limits when Redis goes away and comes back: a check fails fast with
 * `state_store_unavailable`, and the same limiter works again once Redis is back on its port
 * (reconnect by ioredis, script loaded again after NOSCRIPT).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AirlockError } from '../src/errors.js';
import { waitForRedis } from '../src/state/redis.js';
import { testPrefix } from './helpers/approvals.js';
import { limit, startLimiter, subject, type LimiterReplica } from './helpers/limits.js';
import { startRedisServer, type RedisServerHandle } from './helpers/redis-server.js';

describe('RedisRateLimiter during a Redis outage', () => {
  let server: RedisServerHandle;
  let replica: LimiterReplica;

  beforeAll(async () => {
    server = await startRedisServer();
    replica = await startLimiter(testPrefix(), { url: server.url });
  });
  afterAll(async () => {
    replica.close();
    await server.stop();
  });

  it('throws state_store_unavailable within seconds while Redis is down, and recovers when it is back', async () => {
    const spec = limit('outage', 60, 2);
    expect((await replica.limiter.check([spec], subject())).admitted).toBe(true);

    await server.stop();
    for (let attempt = 0; attempt < 3; attempt++) {
      const started = Date.now();
      const error = await replica.limiter.check([spec], subject()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AirlockError);
      expect(error).toMatchObject({ code: 'state_store_unavailable' });
      expect(Date.now() - started).toBeLessThan(4_000);
    }

    await server.restart();
    expect(await waitForRedis(replica.redis, 10_000)).toBe(true);
    // A fresh server: the script is not loaded (NOSCRIPT → EVAL) and the counts started over.
    expect((await replica.limiter.check([spec], subject())).admitted).toBe(true);
    expect((await replica.limiter.check([spec], subject())).admitted).toBe(true);
    expect(await replica.limiter.check([spec], subject())).toMatchObject({ admitted: false, count: 2 });
  });
});
