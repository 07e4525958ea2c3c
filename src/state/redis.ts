/**
 * Redis connections. The call path fails fast when Redis is down (no offline queue, short command
 * timeout) so a limited or held call is refused at once with a clear message instead of hanging;
 * ioredis keeps reconnecting in the background and the gateway recovers by itself.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../log.js';

export type { Redis };

export interface RedisConnectOptions {
  /** Connection name shown by CLIENT LIST, e.g. `airlock:calls`. */
  name: string;
  /**
   * `fail-fast` for the request path; `blocking` for BullMQ workers and queue events, which need
   * `maxRetriesPerRequest: null` and wait out outages instead of failing.
   */
  mode: 'fail-fast' | 'blocking';
  log?: Logger;
}

/** Creates a connection; it connects in the background (check readiness with `pingRedis`). */
export function createRedis(url: string, options: RedisConnectOptions): Redis {
  const common: RedisOptions = {
    connectionName: options.name,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    lazyConnect: false,
  };
  const specific: RedisOptions =
    options.mode === 'fail-fast'
      ? // Auto-pipelining sends the commands of one event-loop tick (limit checks, audit appends of many calls) in one write.
        { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2_000, connectTimeout: 2_000, enableAutoPipelining: true }
      : { maxRetriesPerRequest: null, enableReadyCheck: true };
  const redis = new Redis(url, { ...common, ...specific });
  let reported = false;
  redis.on('error', (error: Error) => {
    // ioredis emits an error per failed reconnect; log the first of an outage, not hundreds.
    if (!reported) options.log?.warn({ err: error.message, connection: options.name }, 'redis connection error');
    reported = true;
  });
  redis.on('ready', () => {
    if (reported) options.log?.info({ connection: options.name }, 'redis connection restored');
    reported = false;
  });
  return redis;
}

/** Resolves true when Redis answers PING within the timeout. */
export async function pingRedis(redis: Redis, timeoutMs = 1_000): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    return await Promise.race([redis.ping().then((r) => r === 'PONG'), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until the connection is ready or the deadline passes; never throws. */
export async function waitForRedis(redis: Redis, deadlineMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, deadlineMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', onReady);
  });
}
