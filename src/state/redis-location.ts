/**
 * Which Redis a process of this config uses, decided once before anything connects:
 *
 *   REDIS_URL or redis.url (a URL)  → that one;
 *   redis.url = "embedded"          → the embedded redis-server (started by `airlock serve`);
 *   neither                         → the Redis on 127.0.0.1:6379 when one answers there, else
 *                                     the embedded one.
 *
 * `airlock serve` and `airlock stdio` start the embedded redis-server when they need it; the other
 * commands only find the one running (through the connection file it leaves in `.airlock/redis/`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { EmbeddedRedis, embeddedDataDir, processAlive, readEmbeddedRedisInfo } from './embedded-redis.js';
import { openRedis, redactRedisUrl } from './redis.js';

/** Where an unconfigured Airlock looks for a Redis first. */
export const localRedisUrl = 'redis://127.0.0.1:6379';

export type RedisSource = 'configured' | 'local' | 'embedded';

export interface ResolvedRedis {
  url: string;
  source: RedisSource;
  /** Set when this process started the embedded redis-server (and so must stop it). */
  started: EmbeddedRedis | undefined;
}

export interface ResolveRedisOptions {
  log: Logger;
  /** Where to look for an unconfigured Redis (tests pass a port where nothing listens). */
  localUrl?: string;
  /** PATH for finding redis-server. */
  env?: NodeJS.ProcessEnv;
}

/** The embedded Redis's folder for this config: `.airlock/redis/` next to the config file. */
export function embeddedRedisDir(config: LoadedConfig): string {
  return path.join(config.dir, embeddedDataDir);
}

/** What the config asks for: a URL, the embedded one, or "decide" (nothing set). */
export function redisSetting(config: LoadedConfig): { kind: 'url'; url: string } | { kind: 'embedded' } | { kind: 'unset' } {
  const url = config.redis.url;
  if (url === undefined || url === '') return { kind: 'unset' };
  if (url === 'embedded') return { kind: 'embedded' };
  return { kind: 'url', url };
}

/**
 * For `airlock serve` and `airlock stdio`: the Redis to use, starting the embedded redis-server
 * when that is the choice and none runs for this config yet. Logs which one and why, once.
 */
export async function resolveRedisForServer(config: LoadedConfig, options: ResolveRedisOptions): Promise<ResolvedRedis> {
  const { log } = options;
  const setting = redisSetting(config);
  if (setting.kind === 'url') return { url: setting.url, source: 'configured', started: undefined };
  const localUrl = options.localUrl ?? localRedisUrl;
  if (setting.kind === 'unset') {
    const local = await probeRedis(localUrl, 500);
    if (local === 'ok') {
      log.info({ url: redactRedisUrl(localUrl) }, `no REDIS_URL or redis.url set: using the Redis that answers on ${hostPort(localUrl)}`);
      return { url: localUrl, source: 'local', started: undefined };
    }
    if (local === 'auth') {
      throw new AirlockError(
        'config_invalid',
        `A Redis answers on ${hostPort(localUrl)} but wants a password: set REDIS_URL=redis://:PASSWORD@${hostPort(localUrl)} (or redis.url), or set "redis": {"url": "embedded"} to have Airlock run its own.`,
      );
    }
  }
  const dataDir = embeddedRedisDir(config);
  const running = readEmbeddedRedisInfo(dataDir);
  if (running && (await probeRedis(running.url, 1_000)) === 'ok') {
    log.info(
      { url: redactRedisUrl(running.url), pid: running.pid, dataDir },
      `using the embedded redis-server already running for this config (pid ${running.pid}, started ${running.startedAt} by another Airlock process); it keeps running when this process stops`,
    );
    return { url: running.url, source: 'embedded', started: undefined };
  }
  if (running && processAlive(running.pid) && isRedisServer(running.pid)) {
    throw new AirlockError(
      'state_store_unavailable',
      `The embedded redis-server for this config (pid ${running.pid}, data in ${dataDir}) is running but does not answer; stop it (kill ${running.pid}) and start Airlock again.`,
    );
  }
  const why = setting.kind === 'embedded' ? 'redis.url is "embedded"' : `no REDIS_URL or redis.url is set and nothing answers on ${hostPort(localUrl)}`;
  const started = await EmbeddedRedis.start({ dataDir, log, why, ...(options.env ? { env: options.env } : {}) });
  log.info(
    { url: started.displayUrl, pid: started.pid, dataDir, appendonly: 'yes' },
    `${why}: started an embedded redis-server (pid ${started.pid}) on 127.0.0.1:${started.port}, data in ${dataDir} (append-only file on, so holds and audit survive a restart); it stops when Airlock stops`,
  );
  return { url: started.url, source: 'embedded', started };
}

/**
 * For the CLI: the Redis URLs to try, in order, with what to tell the operator when none answers.
 * Never starts a redis-server: the data belongs to the gateway that runs it.
 */
export function redisCandidatesForCli(config: LoadedConfig): { urls: string[]; missing: string } {
  const setting = redisSetting(config);
  if (setting.kind === 'url') {
    return { urls: [setting.url], missing: `cannot reach Redis at ${redactRedisUrl(setting.url)} (from ${config.file} or REDIS_URL): is it running?` };
  }
  const dataDir = embeddedRedisDir(config);
  const running = readEmbeddedRedisInfo(dataDir);
  const embeddedMissing = `the embedded redis-server for ${config.file} is not running (it runs while \`airlock serve --config ${config.file}\` runs, data in ${dataDir})`;
  if (setting.kind === 'embedded') {
    return { urls: running ? [running.url] : [], missing: `${embeddedMissing}: start the gateway, or set REDIS_URL / redis.url to your Redis.` };
  }
  return {
    urls: running ? [running.url, localRedisUrl] : [localRedisUrl],
    missing: `no Redis for ${config.file}: nothing answers on ${hostPort(localRedisUrl)} and ${embeddedMissing}; start the gateway, or set REDIS_URL / redis.url.`,
  };
}

/** Whether a Redis answers PING at `url`: 'ok', 'auth' (it wants a password), or 'none'. */
export async function probeRedis(url: string, timeoutMs: number): Promise<'ok' | 'auth' | 'none'> {
  const redis = openRedis(url, { lazyConnect: true, connectTimeout: timeoutMs, commandTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // A password-protected Redis fails ioredis's ready check with NOAUTH, told only on 'error'.
  let said = '';
  redis.on('error', (error: Error) => (said = error.message));
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG' ? 'ok' : 'none';
  } catch (error) {
    return /NOAUTH|WRONGPASS|invalid password/i.test(`${(error as Error).message} ${said}`) ? 'auth' : 'none';
  } finally {
    redis.disconnect();
  }
}

/** Whether the pid is a redis-server (Linux /proc; elsewhere assume it is). */
function isRedisServer(pid: number): boolean {
  try {
    return readCmdline(pid).includes('redis-server');
  } catch {
    return true;
  }
}

function readCmdline(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
}

function hostPort(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return url;
  }
}
