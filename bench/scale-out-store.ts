/**
 * bench:scale-out, part 2 — what resumability costs in Redis per call. One in-process gateway on
 * its own Redis, first with `http.resumption` on (the default), then off, each driven by the
 * official SDK client: (a) allowed list_jobs answered as plain JSON, (b) an allowed call that
 * streams progress (server-everything's trigger-long-running-operation, a few steps), (c) a held
 * run_job approved through the admin API at once. Round trips are counted from Redis MONITOR
 * (bench/redis-traffic.ts): all of them, and apart those that touch a session key
 * (`<prefix>mcp-session:…`: the event stream, the held-request hash, the session's metadata) with
 * the bytes they send. What stays stored is read back: the events key's entries (XRANGE, field
 * bytes) and its MEMORY USAGE.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { fetchWithOwnSignal } from '../test/helpers/fetch.js';
import { startInProcessGateway } from '../test/helpers/in-process-gateway.js';
import { everythingStdio } from '../test/helpers/upstreams.js';
import { adminOf, builtMockStdio, textOf } from './cluster.js';
import { watchRedisTraffic, type RedisTraffic } from './redis-traffic.js';

export type Scenario = 'allowed JSON (list_jobs)' | 'allowed, streams progress' | 'held, approved at once';

export interface StoreMeasure {
  scenario: Scenario;
  resumption: boolean;
  calls: number;
  /** Every client round trip to Redis during the calls, per call. */
  roundTripsPerCall: number;
  /** Of those, the ones touching a session key, per call. */
  sessionRoundTripsPerCall: number;
  /** Argument bytes of those, per call. */
  sessionBytesSentPerCall: number;
  /** Progress notifications the client received, per call. */
  progressPerCall: number;
  /** Entries left in the session's event stream, per call (priming events included). */
  eventsPerCall: number;
  /** Field bytes of those entries, per entry. */
  bytesPerEvent: number;
  /** MEMORY USAGE of the events key, per entry. */
  memoryPerEvent: number;
  /** Round trips that touched a session key during initialize (once per session). */
  sessionRoundTripsAtInitialize: number;
}

const calls: Record<Scenario, number> = { 'allowed JSON (list_jobs)': 200, 'allowed, streams progress': 20, 'held, approved at once': 20 };

export async function measureEventStore(redisUrl: string, log: (line: string) => void): Promise<StoreMeasure[]> {
  const traffic = await watchRedisTraffic(redisUrl, { tag: (args) => args.some((a) => a.includes('mcp-session:')) });
  const reader = new Redis(redisUrl, { connectionName: 'bench:reader' });
  const out: StoreMeasure[] = [];
  try {
    for (const resumption of [true, false]) {
      const prefix = `bench-store-${randomUUID()}:`;
      const gw = await startInProcessGateway({
        redisUrl,
        prefix,
        agents: ['agent-a'],
        mcpServers: { databricks: builtMockStdio(), everything: everythingStdio() },
        policy: { version: '1', default: 'allow', tools: { databricks__run_job: { action: 'approve', approval: { approvers: [], timeout: '5m' } } } },
        config: { http: { resumption: { enabled: resumption } } },
      });
      try {
        for (const scenario of Object.keys(calls) as Scenario[]) {
          const measure = await measureScenario(scenario, resumption, gw.mcpUrl, gw.baseUrl, gw.tokens['agent-a'] ?? '', prefix, traffic, reader);
          out.push(measure);
          log(
            `store ${scenario}, resumption ${resumption ? 'on' : 'off'}: ${measure.roundTripsPerCall.toFixed(2)} round trips/call ` +
              `(${measure.sessionRoundTripsPerCall.toFixed(2)} on session keys, ${measure.sessionBytesSentPerCall.toFixed(0)} B), ${measure.eventsPerCall.toFixed(2)} events/call`,
          );
        }
      } finally {
        await gw.gateway.close();
      }
    }
  } finally {
    await traffic.close();
    reader.disconnect();
  }
  return out;
}

async function measureScenario(
  scenario: Scenario,
  resumption: boolean,
  mcpUrl: string,
  baseUrl: string,
  token: string,
  prefix: string,
  traffic: RedisTraffic,
  reader: Redis,
): Promise<StoreMeasure> {
  const n = calls[scenario];
  traffic.reset();
  const client = new Client({ name: 'bench-store', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: fetchWithOwnSignal,
  });
  await client.connect(transport);
  const atInitialize = (await traffic.snapshot()).tagged;
  let progress = 0;
  const onprogress = () => (progress += 1);
  // One call outside the count: the first call of a session pays one-time costs (upstream session).
  const call = async (i: number) => {
    switch (scenario) {
      case 'allowed JSON (list_jobs)':
        return client.callTool({ name: 'databricks__list_jobs', arguments: { params: {} } });
      case 'allowed, streams progress':
        return client.callTool({ name: 'everything__trigger-long-running-operation', arguments: { duration: 0.05, steps: 5 } }, CallToolResultSchema, {
          onprogress,
        });
      case 'held, approved at once': {
        const args = { params: { job_id: 123, notebook_params: { run: `${resumption}-${i}` } } };
        const answer = client.callTool({ name: 'databricks__run_job', arguments: args }, CallToolResultSchema, { onprogress, resetTimeoutOnProgress: true });
        const admin = adminOf(baseUrl);
        const [id] = await admin.waitForPending(1, 10_000);
        await admin.approve(id ?? '');
        const result = await answer;
        if (!/run_id/.test(textOf(result))) throw new Error(`held call answered without a run id: ${textOf(result).slice(0, 200)}`);
        return result;
      }
    }
  };
  await call(-1);
  const sessionId = transport.sessionId ?? '';
  const eventsKey = `${prefix}mcp-session:${sessionId}:events`;
  const entriesBefore = await reader.xlen(eventsKey);
  progress = 0;
  traffic.reset();
  for (let i = 0; i < n; i++) await call(i);
  const seen = await traffic.snapshot();
  const entries = (await reader.xrange(eventsKey, '-', '+')).slice(entriesBefore);
  const fieldBytes = entries.reduce((sum, [, fields]) => sum + fields.reduce((s, f) => s + Buffer.byteLength(f), 0), 0);
  const memory = entries.length > 0 ? Number(await reader.call('MEMORY', 'USAGE', eventsKey, 'SAMPLES', '0')) : 0;
  const totalEntries = entriesBefore + entries.length;
  await client.close();
  return {
    scenario,
    resumption,
    calls: n,
    roundTripsPerCall: seen.total / n,
    sessionRoundTripsPerCall: seen.tagged / n,
    sessionBytesSentPerCall: seen.taggedBytes / n,
    progressPerCall: progress / n,
    eventsPerCall: entries.length / n,
    bytesPerEvent: entries.length > 0 ? fieldBytes / entries.length : 0,
    memoryPerEvent: totalEntries > 0 ? memory / totalEntries : 0,
    sessionRoundTripsAtInitialize: atInitialize,
  };
}
