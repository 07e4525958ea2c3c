/**
 * Builds dist when stale (CLI tests run the compiled command), and starts one throwaway
 * redis-server for the whole run unless REDIS_URL is set; tests isolate themselves with a key
 * prefix of their own (see helpers/gateway.ts).
 */
import type { TestProject } from 'vitest/node';
import { ensureBuilt } from './helpers/built-cli.js';
import { startRedisServer } from './helpers/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Tests of the command line run the compiled CLI, as operators do: build it when it is stale.
  ensureBuilt();
  const fromEnv = process.env['REDIS_URL'];
  if (fromEnv) {
    project.provide('redisUrl', fromEnv);
    return async () => undefined;
  }
  const redis = await startRedisServer();
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
