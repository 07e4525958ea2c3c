/**
 * Which Redis an unconfigured Airlock uses: the one on the default address when it answers there,
 * else an embedded redis-server it starts (and stops), else a message saying how to get one.
 * Real processes throughout; the default address is a parameter so the test does not depend on
 * whatever listens on 127.0.0.1:6379 on this machine.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { parseSentinelUrl } from '../src/state/redis.js';
import { processAlive, readEmbeddedRedisInfo } from '../src/state/embedded-redis.js';
import { probeRedis, redisCandidatesForCli, resolveRedisForServer } from '../src/state/redis-location.js';
import { freePort } from './helpers/redis-server.js';

const log = createLogger({ level: 'silent' });

function configIn(redis: Record<string, unknown> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-redis-'));
  return parseConfig({ redis, mcpServers: { x: { command: 'node' } } }, path.join(dir, 'airlock.config.json'), {});
}

describe('the Redis an unconfigured gateway uses', () => {
  it('is the one answering on the default address, when one does', async () => {
    const config = configIn();
    const resolved = await resolveRedisForServer(config, { log, localUrl: inject('redisUrl') });
    expect(resolved).toMatchObject({ url: inject('redisUrl'), source: 'local', started: undefined });
  });

  it('is an embedded redis-server otherwise: loopback, password-protected, append-only, data next to the config, stopped on request', async () => {
    const config = configIn();
    const resolved = await resolveRedisForServer(config, { log, localUrl: `redis://127.0.0.1:${await freePort()}` });
    const embedded = resolved.started;
    expect(resolved.source).toBe('embedded');
    expect(embedded).toBeDefined();
    if (!embedded) return;
    try {
      expect(resolved.url).toMatch(/^redis:\/\/:[0-9a-f]{48}@127\.0\.0\.1:\d+$/);
      const dataDir = path.join(config.dir, '.airlock', 'redis');
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      expect(statSync(path.join(dataDir, 'redis.conf')).mode & 0o777).toBe(0o600);
      const redis = new Redis(resolved.url);
      try {
        expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
        expect(await redis.config('GET', 'dir')).toEqual(['dir', dataDir]);
      } finally {
        redis.disconnect();
      }
      const anonymous = new Redis(resolved.url.replace(/:[0-9a-f]{48}@/, ''), { maxRetriesPerRequest: 0, retryStrategy: () => null });
      anonymous.on('error', () => undefined);
      await expect(anonymous.set('k', 'v')).rejects.toThrow(/NOAUTH/);
      anonymous.disconnect();
      // Other processes of the same config (the CLI) find it through its connection file.
      expect(redisCandidatesForCli(config).urls[0]).toBe(resolved.url);
      expect(readEmbeddedRedisInfo(dataDir)?.pid).toBe(embedded.pid);
    } finally {
      await embedded.stop();
    }
    expect(processAlive(embedded.pid)).toBe(false);
    expect(readEmbeddedRedisInfo(path.join(config.dir, '.airlock', 'redis'))).toBeUndefined();
  });

  it('is the running embedded one when a second process of the same config starts: it uses it and leaves it running', async () => {
    const config = configIn({ url: 'embedded' });
    const first = await resolveRedisForServer(config, { log });
    try {
      const second = await resolveRedisForServer(config, { log });
      expect(second).toMatchObject({ url: first.url, source: 'embedded', started: undefined });
    } finally {
      await first.started?.stop();
    }
  });

  it('is not guessed when the Redis on the default address wants a password: the error says to set the URL', async () => {
    const port = await freePort();
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--requirepass', 'sesame'], { stdio: 'ignore' });
    try {
      const localUrl = `redis://127.0.0.1:${port}`;
      const deadline = Date.now() + 10_000;
      while ((await probeRedis(localUrl, 500)) !== 'auth' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const outcome = await resolveRedisForServer(configIn(), { log, localUrl }).then(
        async (resolved) => {
          await resolved.started?.stop(); // not what should happen; clean up before failing
          return resolved;
        },
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(Error);
      expect((outcome as Error).message).toContain(
        `A Redis answers on 127.0.0.1:${port} but wants a password: set REDIS_URL=redis://:PASSWORD@127.0.0.1:${port}`,
      );
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('cannot be had without redis-server on PATH: the error says how to install it', async () => {
    const config = configIn();
    const attempt = resolveRedisForServer(config, { log, localUrl: `redis://127.0.0.1:${await freePort()}`, env: { PATH: '/nonexistent' } });
    await expect(attempt).rejects.toThrow(
      /nothing answers on 127\.0\.0\.1:\d+, and redis-server is not installed.*\n.*apt-get install redis-server.*brew install redis.*docker compose up/,
    );
  });
});

describe('redis+sentinel:// URLs', () => {
  it('name the sentinels, the master, the password and the database; a config accepts one; other URLs are left to ioredis', () => {
    expect(parseSentinelUrl('redis+sentinel://:s3cr%40t@10.0.0.1:26379,10.0.0.2,sentinel-3:26380/airlock-master?db=2')).toEqual({
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
        { host: 'sentinel-3', port: 26380 },
      ],
      name: 'airlock-master',
      password: 's3cr@t',
      db: 2,
    });
    expect(parseSentinelUrl('redis://127.0.0.1:6379')).toBeUndefined();
    const config = parseConfig(
      { mcpServers: { u: { url: 'http://127.0.0.1:1/mcp' } }, redis: { url: 'redis+sentinel://127.0.0.1:26379/m' } },
      '/tmp/airlock.config.json',
      {},
    );
    expect(config.redis.url).toBe('redis+sentinel://127.0.0.1:26379/m');
  });
});
