/**
 * Shared CLI plumbing: argument parsing with node's own parseArgs, config loading, and one way
 * to print errors (problems one per line, exit code 2 for the operator's input, 1 otherwise).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
import { loadConfig, resolveConfigPath, type LoadedConfig } from '../config/load.js';
import { AirlockError, isAirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { createRedis, redisAnswersSoon, type Redis } from '../state/redis.js';
import { redisCandidatesForCli } from '../state/redis-location.js';

/** A usage error: printed without a stack, exit code 2. */
export class CliError extends Error {}

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
export async function connectCliRedis(config: LoadedConfig, log: Logger): Promise<Redis> {
  return (await connectCliRedisAt(config, log)).redis;
}

/** connectCliRedis, plus the URL it connected to (for parts that open connections of their own, like BullMQ). */
export async function connectCliRedisAt(config: LoadedConfig, log: Logger): Promise<{ redis: Redis; url: string }> {
  const { urls, missing } = redisCandidatesForCli(config);
  for (const url of urls) {
    const redis = createRedis(url, { name: 'airlock:cli', mode: 'fail-fast', log });
    if (await redisAnswersSoon(redis, 3_000)) return { redis, url };
    redis.disconnect();
  }
  throw new AirlockError('state_store_unavailable', missing);
}

/** Prints an error for a person at a terminal; returns the exit code. */
export function printError(error: unknown): number {
  if (error instanceof CliError) {
    process.stderr.write(`airlock: ${error.message}\n`);
    return 2;
  }
  if (isAirlockError(error)) {
    process.stderr.write(`airlock: ${error.message}\n`);
    return error.fault === 'client' ? 2 : 1;
  }
  process.stderr.write(`airlock: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 1;
}
