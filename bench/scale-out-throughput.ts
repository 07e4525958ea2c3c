/**
 * bench:scale-out, part 3 — one vs two replicas behind HAProxy, and how far one Redis goes.
 * Two gateway processes (compiled, the Databricks mock as stdio child, an allow policy with a rate
 * limit on list_jobs checked on every call and never reached, as in bench:proxy) on one Redis; two
 * HAProxy processes with the shipped haproxy.cfg: one with both AIRLOCK_REPLICA_n on replica A
 * (one replica), one spreading over A and B. 32 SDK clients (one session each) per HAProxy; closed
 * loop of allowed list_jobs, rounds alternating the two set-ups. CPU per call is charged to each
 * gateway's process tree (gateway + mock child), HAProxy and Redis. A separate short run under
 * Redis MONITOR counts Redis round trips per allowed call (MONITOR itself costs Redis CPU, so not
 * during the timed rounds). Last, `redis-benchmark` measures what this Redis answers per second.
 */
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { generateToken } from '../src/identity/tokens.js';
import { fetchWithOwnSignal } from '../test/helpers/fetch.js';
import type { RedisServerHandle } from '../test/helpers/redis-server.js';
import { builtMockStdio, startHaproxy, startReplica, type LoadBalancer, type Replica } from './cluster.js';
import { median, runLoad } from './load.js';
import { cpuBetween, treeCpuMs } from './process-tree.js';
import { watchRedisTraffic } from './redis-traffic.js';

export type Setup = 'one replica' | 'two replicas';

export interface ThroughputMeasure {
  setup: Setup;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU ms per call, medians over the rounds. */
  cpu: { replicaA: number; replicaB: number; haproxy: number; redis: number };
}

export interface RedisCapacity {
  /** redis-benchmark requests/s by test name (`SET`, `GET`), one connection per client, no pipelining. */
  unpipelined: Record<string, number>;
  /** The same with 16 commands pipelined per round trip (what auto-pipelining can reach). */
  pipelined16: Record<string, number>;
}

export interface ThroughputResult {
  measures: ThroughputMeasure[];
  /** Redis round trips per allowed call, from MONITOR (two replicas). */
  redisRoundTripsPerCall: number;
  redisRoundTripsByCommand: Array<[string, number]>;
  capacity: RedisCapacity | undefined;
  concurrency: number;
  seconds: number;
  rounds: number;
}

const concurrency = 32;
const call = { name: 'list_jobs', arguments: { params: {} } };

export async function measureThroughput(
  redis: RedisServerHandle,
  options: { seconds: number; rounds: number },
  log: (line: string) => void,
): Promise<ThroughputResult> {
  const tokens = { 'agent-a': generateToken() };
  const limits = [{ counter: 'bench_list_jobs', window: 'minute', max: 1_000_000_000, scope: 'grant' }];
  const start = () =>
    startReplica({
      redisUrl: redis.url,
      prefix: `bench-throughput-${process.pid}:`,
      tokens,
      agents: ['agent-a'],
      mcpServers: { databricks: builtMockStdio() },
      policy: { version: '1', default: 'allow', tools: { list_jobs: { limits } } },
    });
  const replicas: Replica[] = [];
  const balancers: LoadBalancer[] = [];
  const clients: Client[] = [];
  try {
    const a = await start();
    replicas.push(a);
    const b = await start();
    replicas.push(b);
    const redisPid = await redisProcessId(redis.url);
    const lbs: Record<Setup, LoadBalancer> = {
      'one replica': await startHaproxy([a.address, a.address]),
      'two replicas': await startHaproxy([a.address, b.address]),
    };
    balancers.push(...Object.values(lbs));
    const setups = Object.keys(lbs) as Setup[];
    const pools = {} as Record<Setup, Client[]>; // filled for both set-ups just below
    for (const setup of setups) {
      pools[setup] = await connectMany(`${lbs[setup].url}/mcp`, tokens['agent-a'], concurrency);
      clients.push(...pools[setup]);
      await runLoad(pools[setup], (c) => c.callTool(call), 1); // warm-up: JIT, pools, the mock
    }

    const runs = new Map<Setup, Array<{ load: Awaited<ReturnType<typeof runLoad>>; cpu: ThroughputMeasure['cpu'] }>>();
    for (let round = 0; round < options.rounds; round++) {
      for (let i = 0; i < setups.length; i++) {
        const setup = setups[(round + i) % setups.length] as Setup; // index taken modulo the length
        const roots = { replicaA: a.pid, replicaB: b.pid, haproxy: lbs[setup].pid, redis: redisPid };
        const before = Object.fromEntries(Object.entries(roots).map(([k, pid]) => [k, treeCpuMs(pid)]));
        const load = await runLoad(pools[setup], (c) => c.callTool(call), options.seconds);
        const calls = Math.max(1, load.calls);
        const per = (key: keyof typeof roots) => cpuBetween(roots[key], before[key] ?? new Map(), treeCpuMs(roots[key])).treeMs / calls;
        const cpu = { replicaA: per('replicaA'), replicaB: per('replicaB'), haproxy: per('haproxy'), redis: per('redis') };
        runs.set(setup, [...(runs.get(setup) ?? []), { load, cpu }]);
        log(
          `round ${round + 1} ${setup}: ${load.throughput.toFixed(0)} calls/s, p50 ${load.p50Ms.toFixed(2)} ms, ${load.errors} errors; ` +
            `CPU ms/call A ${cpu.replicaA.toFixed(3)}, B ${cpu.replicaB.toFixed(3)}, haproxy ${cpu.haproxy.toFixed(3)}, redis ${cpu.redis.toFixed(3)}`,
        );
      }
    }
    const measures = setups.map((setup): ThroughputMeasure => {
      const list = runs.get(setup) ?? [];
      const m = (pick: (r: (typeof list)[number]) => number) => median(list.map(pick));
      return {
        setup,
        callsPerSec: m((r) => r.load.throughput),
        p50Ms: m((r) => r.load.p50Ms),
        p99Ms: m((r) => r.load.p99Ms),
        errors: list.reduce((sum, r) => sum + r.load.errors, 0),
        cpu: { replicaA: m((r) => r.cpu.replicaA), replicaB: m((r) => r.cpu.replicaB), haproxy: m((r) => r.cpu.haproxy), redis: m((r) => r.cpu.redis) },
      };
    });

    const traffic = await watchRedisTraffic(redis.url);
    let counted;
    try {
      traffic.reset();
      const load = await runLoad(pools['two replicas'], (c) => c.callTool(call), 2);
      const seen = await traffic.snapshot();
      counted = {
        perCall: seen.total / Math.max(1, load.calls),
        byCommand: [...seen.byCommand].map(([k, v]): [string, number] => [k, v / Math.max(1, load.calls)]),
      };
    } finally {
      await traffic.close();
    }
    log(`redis round trips per allowed call: ${counted.perCall.toFixed(2)}`);
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    const capacity = redisCapacity(redis.port, log);
    return {
      measures,
      redisRoundTripsPerCall: counted.perCall,
      redisRoundTripsByCommand: counted.byCommand.sort((x, y) => y[1] - x[1]),
      capacity,
      concurrency,
      seconds: options.seconds,
      rounds: options.rounds,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(balancers.map((lb) => lb.stop()));
    await Promise.all(replicas.map((r) => r.stop()));
  }
}

/** `redis-benchmark` against the bench's Redis (50 clients, the tool's default), or undefined when the binary is missing. */
function redisCapacity(port: number, log: (line: string) => void): RedisCapacity | undefined {
  const run = (pipeline: number): Record<string, number> | undefined => {
    const out = spawnSync('redis-benchmark', ['-p', String(port), '-q', '-n', '200000', '-t', 'set,get', '-P', String(pipeline)], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (out.error || out.status !== 0) return undefined;
    const rates: Record<string, number> = {};
    // Lines look like "SET: 61124.69 requests per second, p50=0.407 msec" (progress lines end in \r).
    for (const match of out.stdout.matchAll(/([A-Z]+): ([\d.]+) requests per second/g)) rates[match[1] as string] = Number(match[2]);
    log(`redis-benchmark -P ${pipeline}: ${JSON.stringify(rates)}`);
    return rates;
  };
  const unpipelined = run(1);
  const pipelined16 = run(16);
  return unpipelined && pipelined16 ? { unpipelined, pipelined16 } : undefined;
}

async function redisProcessId(url: string): Promise<number> {
  const redis = new Redis(url, { connectionName: 'bench:pid' });
  try {
    return Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1] ?? 0);
  } finally {
    redis.disconnect();
  }
}

async function connectMany(url: string, token: string, count: number): Promise<Client[]> {
  const out: Client[] = [];
  // One after another, so HAProxy's round robin alternates new sessions between the replicas.
  for (let i = 0; i < count; i++) {
    const client = new Client({ name: 'bench-throughput', version: '1' });
    // The gateway's own fetch: the SDK's default piles one abort listener per request onto a single signal.
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } }, fetch: fetchWithOwnSignal }),
    );
    out.push(client);
  }
  return out;
}
