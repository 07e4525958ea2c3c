/**
 * Shared CLI plumbing: argument parsing with node's own parseArgs, config loading, and one way
 * to print errors (problems one per line, exit code 2 for the operator's input, 1 otherwise).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
import { loadConfig, resolveConfigPath, type LoadedConfig } from '../config/load.js';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Redis } from '../state/redis.js';
import { CliError } from './cli-error.js';

export { CliError, printError } from './cli-error.js';

export function parse<O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

export const configOption = { config: { type: 'string', short: 'c' } } as const;

export function loadCliConfig(flag: string | undefined): LoadedConfig {
  return loadConfig(resolveConfigPath(flag));
}

/**
 * The CLI's Redis connection — the same Redis the gateway of this config uses (its URL, or the
 * embedded redis-server it runs, or 127.0.0.1:6379) — ready to use; commands that read or decide
 * talk to Redis directly, so no gateway needs to run. Unreachable → a runtime failure (exit 1)
 * saying which Redis was tried and what to do. The caller disconnects it.
 */
export async function connectCliRedis(config: LoadedConfig, log?: Logger): Promise<Redis> {
  return (await connectCliRedisAt(config, log)).redis;
}

/** connectCliRedis, plus the URL it connected to (for parts that open connections of their own, like BullMQ). */
export async function connectCliRedisAt(config: LoadedConfig, log?: Logger): Promise<{ redis: Redis; url: string }> {
  // Loaded here, not at the top: `--help` and the commands without Redis never pay for the client.
  const [{ createRedis, redisAnswersSoon }, { redisCandidatesForCli }] = await Promise.all([import('../state/redis.js'), import('../state/redis-location.js')]);
  const { urls, missing } = redisCandidatesForCli(config);
  for (const url of urls) {
    const redis = createRedis(url, { name: 'airlock:cli', mode: 'fail-fast', ...(log ? { log } : {}) });
    if (await redisAnswersSoon(redis, 3_000)) return { redis, url };
    redis.disconnect();
  }
  throw new AirlockError('state_store_unavailable', missing);
}
