/**
 * Starts one throwaway redis-server for the whole run unless REDIS_URL is set; tests isolate
 * themselves with a key prefix of their own (see helpers/gateway.ts).
 */
import type { TestProject } from 'vitest/node';
import { startRedisServer } from './helpers/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fromEnv = process.env['REDIS_URL'];
  if (fromEnv) {
    project.provide('redisUrl', fromEnv);
    return async () => undefined;
  }
  const redis = await startRedisServer();
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
