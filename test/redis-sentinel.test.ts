/**
 * Redis Sentinel: a gateway process whose REDIS_URL is a `redis+sentinel://` URL, a real master,
 * its replica and a sentinel (redis-server in sentinel mode). Calls are held, the master is
 * SIGKILLed, the sentinel promotes the replica, and the holds are decided through the gateway,
 * which found the new master by itself; each agent gets its result and the upstream ran each call
 * once.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { testPrefix } from './helpers/approvals.js';
import { connectClient, textOf } from './helpers/gateway.js';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { startRedisSentinel, startRedisServer, type RedisServerHandle } from './helpers/redis-server.js';
import { createCallLog, databricksMockStdio } from './helpers/upstreams.js';

const servers: RedisServerHandle[] = [];
const processes: GatewayProcess[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(processes.splice(0).map((p) => p.kill()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function masterPort(sentinel: RedisServerHandle): Promise<number> {
  const redis = new Redis(sentinel.url);
  try {
    const [, port] = (await redis.call('SENTINEL', 'get-master-addr-by-name', 'airlock-master')) as [string, string];
    return Number(port);
  } finally {
    redis.disconnect();
  }
}

describe('Redis Sentinel', () => {
  it('follows a failover: calls held before the master died are decided after it, each runs once and its agent gets the result', async () => {
    const master = await startRedisServer();
    const replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
    servers.push(master, replica);
    const sentinel = await startRedisSentinel(master.port, 'airlock-master');
    servers.push(sentinel);
    // The sentinel learns of the replica from the master's INFO; only then can it fail over.
    await until('the sentinel to see the replica', async () => {
      const redis = new Redis(sentinel.url);
      const replicas = (await redis.call('SENTINEL', 'replicas', 'airlock-master').finally(() => redis.disconnect())) as unknown[];
      return replicas.length > 0 ? true : undefined;
    });

    const callLog = createCallLog();
    const gw = await startGatewayProcess({
      redisUrl: `redis+sentinel://127.0.0.1:${sentinel.port}/airlock-master`,
      prefix: testPrefix(),
      mcpServers: { databricks: databricksMockStdio({ callLog }) },
      policy: { version: '1', default: 'allow', tools: { run_job: { action: 'approve', approval: { approvers: [], timeout: '5m' } } } },
      config: { approvals: { progressInterval: '300ms' }, shutdownGrace: '1s' },
    });
    processes.push(gw);
    const agent = await connectClient(gw.mcpUrl, gw.tokens['agent-a'] ?? '');
    clients.push(agent);
    const calls = [1, 2, 3].map(
      (i) =>
        agent.callTool({ name: 'run_job', arguments: { params: { job_id: 123, notebook_params: { date: `2026-11-0${i}` } } } }, CallToolResultSchema, {
          onprogress: () => undefined,
          resetTimeoutOnProgress: true,
          timeout: 60_000,
        }) as Promise<CallToolResult>,
    );
    const api = adminApi(gw.baseUrl);
    const pending = await api.waitForPending(3, 20_000);

    // Replication is asynchronous: wait until the replica has everything written so far, as the
    // README says a failover may lose what the replica had not yet received.
    const direct = new Redis(master.url);
    await until('the replica to acknowledge every write', async () => ((await direct.call('WAIT', '1', '1000')) === 1 ? true : undefined));
    direct.disconnect();
    await master.stop();
    await until('the sentinel to promote the replica', async () => ((await masterPort(sentinel)) === replica.port ? true : undefined));

    for (const { id } of pending) {
      await until(`approving ${id} after the failover`, async () => ((await api.approve(id, 'ops')).status === 200 ? true : undefined));
    }
    const results = await Promise.all(calls);
    for (const result of results) {
      expect(result.isError, textOf(result)).toBeFalsy();
      expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number) });
    }
    expect(
      callLog
        .calls()
        .filter((c) => c.tool === 'run_job')
        .map((c) => (c.arguments as { params: { notebook_params: { date: string } } }).params.notebook_params.date)
        .sort(),
    ).toEqual(['2026-11-01', '2026-11-02', '2026-11-03']);
  }, 90_000);
});
