/**
 * Redis Cluster: a gateway process on a real 3-master cluster (`redis+cluster://` URL, a prefix
 * that is a hash tag). Every key of Airlock lives in one slot, so its Lua scripts and BullMQ's run
 * unchanged: limits are exact, a hold is decided and runs once, and the audit chain verifies.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { adminApi } from './helpers/admin-api.js';
import { ensureBuilt, runCli } from './helpers/built-cli.js';
import { connectClient, textOf } from './helpers/gateway.js';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { startRedisCluster, type RedisServerHandle } from './helpers/redis-server.js';
import { createCallLog, databricksMockStdio } from './helpers/upstreams.js';

beforeAll(() => ensureBuilt(), 120_000);

const nodes: RedisServerHandle[] = [];
const processes: GatewayProcess[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(processes.splice(0).map((p) => p.kill()));
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

const policy = {
  version: '1',
  default: 'allow',
  tools: {
    list_jobs: { action: 'allow', limits: [{ counter: 'list_jobs', window: 'minute', max: 3, scope: 'global' }] },
    run_job: { action: 'approve', approval: { approvers: [], timeout: '5m' } },
  },
};

describe('Redis Cluster', () => {
  it('keeps limits exact, decides and runs a hold once, and keeps a verifiable audit chain, with every key in one slot', async () => {
    const cluster = await startRedisCluster(3);
    nodes.push(...cluster.nodes);
    const callLog = createCallLog();
    const gw = await startGatewayProcess({
      redisUrl: cluster.url,
      prefix: `{test-${randomUUID()}}:`,
      mcpServers: { databricks: databricksMockStdio({ callLog }) },
      policy,
      config: { approvals: { progressInterval: '300ms' }, shutdownGrace: '1s' },
    });
    processes.push(gw);
    const agent = await connectClient(gw.mcpUrl, gw.tokens['agent-a'] ?? '');
    clients.push(agent);

    const listed = [];
    for (let i = 0; i < 4; i++) listed.push(await agent.callTool({ name: 'list_jobs', arguments: { params: {} } }));
    expect(listed.slice(0, 3).every((r) => !r.isError)).toBe(true);
    expect(listed[3]?._meta?.['airlock/error']).toMatchObject({ code: 'rate_limited' });
    const shown = runCli(['limits', 'show', '--config', gw.configFile]);
    expect(shown.stdout).toMatch(/^list_jobs\s+global\s+-\s+3\s+3\s+1 min\s+/m);

    const held = agent.callTool({ name: 'run_job', arguments: { params: { job_id: 123 } } }, CallToolResultSchema, {
      onprogress: () => undefined,
      resetTimeoutOnProgress: true,
      timeout: 60_000,
    }) as Promise<CallToolResult>;
    const api = adminApi(gw.baseUrl);
    const [pending] = await api.waitForPending(1, 20_000);
    expect((await api.approve(pending?.id ?? '', 'ops')).status).toBe(200);
    const result = await held;
    expect(result.isError, textOf(result)).toBeFalsy();
    expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number) });
    expect(callLog.calls().filter((c) => c.tool === 'run_job')).toHaveLength(1);

    const verified = await api.get<{ ok: boolean; events: number }>('/audit/verify');
    expect(verified.body).toMatchObject({ ok: true });
    expect(verified.body.events).toBeGreaterThanOrEqual(6);

    // All of it on the one node that owns the prefix's slot.
    const sizes = await Promise.all(
      cluster.nodes.map(async (node) => {
        const redis = new Redis(node.url);
        return Number(await redis.dbsize().finally(() => redis.disconnect()));
      }),
    );
    expect(sizes.filter((n) => n > 0)).toHaveLength(1);
  }, 90_000);

  it('refuses a config whose prefix is not a hash tag, saying which prefix to use', () => {
    const load = () =>
      parseConfig(
        { mcpServers: { u: { url: 'http://127.0.0.1:1/mcp' } }, redis: { url: 'redis+cluster://127.0.0.1:7000', prefix: 'airlock:' } },
        '/tmp/a.json',
        {},
      );
    expect(load).toThrow(/redis\.prefix must start with a hash tag.*"\{airlock\}:"/);
  });
});
