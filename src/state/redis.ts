/**
 * Redis connections. The call path fails fast when Redis is down (no offline queue, short command
 * timeout) so a limited or held call is refused at once with a clear message instead of hanging;
 * ioredis keeps reconnecting in the background and the gateway recovers by itself.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
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

/**
 * A connection to the Redis a URL names: `redis://` / `rediss://` as ioredis reads them, or
 * `redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER[?db=N]` for a master found through
 * Redis Sentinel (ioredis follows a failover to the new master by itself), or
 * `redis+cluster://[:PASSWORD@]HOST:PORT[,HOST:PORT…]` for a Redis Cluster (seed nodes). Every connection
 * Airlock opens — the call path, BullMQ, the CLI, doctor — goes through here.
 */
export function openRedis(url: string, options: RedisOptions): Redis {
  const cluster = parseClusterUrl(url);
  if (cluster) {
    const { retryStrategy, enableOfflineQueue, enableReadyCheck, lazyConnect, enableAutoPipelining, ...perNode } = options;
    const clusterOptions: ClusterOptions = {
      redisOptions: { ...perNode, ...(cluster.password ? { password: cluster.password } : {}) },
      ...(retryStrategy ? { clusterRetryStrategy: (times) => retryStrategy(times) ?? null } : {}),
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      ...(enableReadyCheck === undefined ? {} : { enableReadyCheck }),
      ...(lazyConnect === undefined ? {} : { lazyConnect }),
      ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
    };
    // A Cluster speaks the same commands and events as a single connection, and every key of one
    // Airlock operation lives in one slot (the prefix is a hash tag, checked at config load), so
    // the code above this module treats it as one Redis.
    return new Cluster(cluster.nodes, clusterOptions) as unknown as Redis;
  }
  const sentinel = parseSentinelUrl(url);
  return sentinel ? new Redis({ ...options, ...sentinel }) : new Redis(url, options);
}

/** The seed nodes and password of a `redis+cluster://[:PASSWORD@]HOST:PORT[,HOST:PORT…]` URL, or undefined. */
export function parseClusterUrl(url: string): { nodes: { host: string; port: number }[]; password?: string } | undefined {
  const match = /^redis\+cluster:\/\/(?:(?:[^:@/]*):([^@/]*)@)?([^/?]+)\/?$/.exec(url);
  if (!match) return undefined;
  const [, password, hosts = ''] = match;
  return { nodes: hosts.split(',').map((hostPort) => hostAndPort(hostPort, 6379)), ...(password ? { password: decodeURIComponent(password) } : {}) };
}

/**
 * Why a prefix cannot be used with this Redis, or undefined. On a Cluster every key Airlock
 * writes must hash to one slot (its Lua scripts and BullMQ's touch several keys at once), so the
 * prefix must start with a hash tag such as `{airlock}:`.
 */
export function clusterPrefixProblem(url: string | undefined, prefix: string): string | undefined {
  if (url === undefined || !parseClusterUrl(url)) return undefined;
  if (/^\{[^{}]+\}/.test(prefix)) return undefined;
  return `with Redis Cluster, redis.prefix must start with a hash tag so that all of Airlock's keys share one slot, e.g. "{airlock}:" (got ${JSON.stringify(prefix)})`;
}

function hostAndPort(hostPort: string, defaultPort: number): { host: string; port: number } {
  const at = hostPort.lastIndexOf(':');
  return at > 0 ? { host: hostPort.slice(0, at), port: Number(hostPort.slice(at + 1)) } : { host: hostPort, port: defaultPort };
}

/** The ioredis options of a `redis+sentinel://` URL, or undefined for any other URL. */
export function parseSentinelUrl(url: string): RedisOptions | undefined {
  const match = /^redis\+sentinel:\/\/(?:(?:[^:@/]*):([^@/]*)@)?([^/]+)\/([^/?]+)(?:\?db=(\d+))?$/.exec(url);
  if (!match) return undefined;
  const [, password, hosts = '', name = '', db] = match;
  const sentinels = hosts.split(',').map((hostPort) => hostAndPort(hostPort, 26379));
  return {
    sentinels,
    name: decodeURIComponent(name),
    ...(password ? { password: decodeURIComponent(password) } : {}),
    ...(db ? { db: Number(db) } : {}),
  };
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
  const redis = openRedis(url, { ...common, ...specific });
  let reported = false;
  redis.on('error', (error: Error) => {
    // ioredis emits an error per failed reconnect, on every connection. Whether Redis is reachable
    // is told once per change by whoever owns the process's view of it (watchRedisAvailability);
    // here only a fault that is not about reaching Redis is worth a warning.
    if (isRedisConnectionError(error)) {
      if (!reported) options.log?.debug({ err: error.message, connection: options.name }, 'redis connection error');
    } else {
      options.log?.warn({ err: error.message, connection: options.name }, 'redis error');
    }
    reported = true;
  });
  redis.on('ready', () => {
    if (reported) options.log?.debug({ connection: options.name }, 'redis connection restored');
    reported = false;
  });
  return redis;
}

const connectionErrorCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOENT']);

/**
 * Whether an error only says Redis cannot be reached right now (refused, reset, timed out, the
 * connection closed, a command refused while offline) — as opposed to a fault in what was sent.
 */
export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === 'string' && connectionErrorCodes.has(code)) return true;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  return /Connection is closed|Stream isn't writeable|connect ETIMEDOUT|Command timed out|Reached the max retries per request|ECONNREFUSED|ECONNRESET|getaddrinfo/i.test(
    error.message,
  );
}

/** An 'error' listener for BullMQ queues and workers: outages at debug (told once elsewhere), other faults as warnings. */
export function redisClientErrorLogger(log: Logger, message: string, fields: Record<string, unknown> = {}): (error: Error) => void {
  return (error) => {
    if (isRedisConnectionError(error)) log.debug({ ...fields, err: error.message }, message);
    else log.warn({ ...fields, err: error.message }, message);
  };
}

/**
 * Calls `listener` once per change of whether the connection can reach Redis: `false` with the
 * reason when an attempt fails (the first one at start included), `true` when it is ready again.
 * ioredis reports every retry; this reports each outage once. Returns an unsubscribe function.
 */
export function watchRedisAvailability(redis: Redis, listener: (available: boolean, reason?: string) => void): () => void {
  let last: boolean | undefined = redis.status === 'ready' ? true : undefined;
  const change = (available: boolean, reason?: string) => {
    if (last === available) return;
    last = available;
    listener(available, reason);
  };
  const onReady = () => change(true);
  const onError = (error: Error) => {
    if (isRedisConnectionError(error)) change(false, error.message);
  };
  const onEnd = () => change(false, 'connection closed');
  const onClose = () => {
    if (last === true) change(false, 'connection lost');
  };
  redis.on('ready', onReady);
  redis.on('error', onError);
  redis.on('close', onClose);
  redis.on('end', onEnd);
  return () => {
    redis.off('ready', onReady);
    redis.off('error', onError);
    redis.off('close', onClose);
    redis.off('end', onEnd);
  };
}

/**
 * Resolves true once the connection is ready, false at its first failed attempt or at the
 * deadline: "is Redis there now?", without waiting out a refused connection's retries.
 */
export async function redisAnswersSoon(redis: Redis, deadlineMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return new Promise((resolve) => {
    const done = (value: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      resolve(value);
    };
    const onReady = () => done(true);
    const onError = () => done(false);
    const timer = setTimeout(() => done(false), deadlineMs);
    redis.once('ready', onReady);
    redis.once('error', onError);
  });
}

/** A Redis URL fit for logs and messages: the password (if any) masked. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
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

/** Where a SCAN must run to see every key: each master of a Cluster, else the one connection. */
export function scanTargets(redis: Redis): Redis[] {
  // openRedis returns a Cluster typed as Redis; `isCluster` tells them apart at run time.
  return redis.isCluster ? (redis as unknown as Cluster).nodes('master') : [redis];
}
