/**
 * bench:proxy — what the gateway adds to a tools/call.
 *
 * Starts the Databricks mock as a Streamable HTTP server and an Airlock gateway (a separate
 * process, compiled JavaScript, allow-everything policy) in front of it, then drives both with the
 * official SDK client from this process: (a) straight to the mock, (b) through the gateway.
 * Concurrency 1 and 32 (one client session per concurrent worker). Rounds alternate direct and
 * gateway so machine noise hits both alike; the table reports the median of the rounds.
 *
 *   npm run bench:proxy [-- --seconds 5 --rounds 3]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { generateToken, hashToken } from '../src/identity/tokens.js';
import { fetchWithOwnSignal } from '../test/helpers/fetch.js';
import { freePort, startRedisServer } from '../test/helpers/redis-server.js';
import { repoRoot } from '../test/helpers/upstreams.js';
import { median, runLoad, type LoadResult } from './load.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const call = { name: 'list_jobs', arguments: { params: {} } };

async function main(): Promise<void> {
  const build = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('build failed');
  const redis = process.env['REDIS_URL'] ? undefined : await startRedisServer();
  const redisUrl = process.env['REDIS_URL'] ?? (redis as { url: string }).url;

  const mockPort = await freePort();
  const mock = await startProcess(['dist/examples/databricks-mock/server.js', '--http'], { PORT: String(mockPort) }, mockPort);
  const gatewayPort = await freePort();
  const token = generateToken();
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-'));
  const policyFile = path.join(dir, 'allow-all.json');
  writeFileSync(policyFile, JSON.stringify({ version: '1', default: 'allow' }));
  const configFile = path.join(dir, 'airlock.config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      port: gatewayPort,
      host: '127.0.0.1',
      redis: { url: redisUrl, prefix: `bench-${process.pid}:` },
      mcpServers: { databricks: { url: `http://127.0.0.1:${mockPort}/mcp` } },
      agents: { bench: { tokenSha256: hashToken(token) } },
      policy: policyFile,
    }),
  );
  const gateway = await startProcess(['dist/src/cli.js', 'serve', '--config', configFile], { LOG_LEVEL: 'warn' }, gatewayPort);

  const targets = {
    direct: { url: `http://127.0.0.1:${mockPort}/mcp`, headers: {} },
    gateway: { url: `http://127.0.0.1:${gatewayPort}/mcp`, headers: { Authorization: `Bearer ${token}` } },
  };
  const results: Record<string, LoadResult[]> = {};
  const cpu: Record<string, CpuPerCall[]> = {};
  const processes = { client: process.pid, gateway: gateway.pid ?? 0, mock: mock.pid ?? 0, redis: await redisPid(redisUrl) };
  try {
    for (const concurrency of [1, 32]) {
      const clients = {
        direct: await connectMany(targets.direct, concurrency),
        gateway: await connectMany(targets.gateway, concurrency),
      };
      // Warm both paths (JIT, connection pools) before measuring.
      for (const kind of ['direct', 'gateway'] as const) await runLoad(clients[kind], (c) => c.callTool(call), 1);
      for (let round = 0; round < rounds; round++) {
        for (const kind of ['direct', 'gateway'] as const) {
          const before = cpuTimes(processes);
          const result = await runLoad(clients[kind], (c) => c.callTool(call), seconds);
          (results[`${kind}@${concurrency}`] ??= []).push(result);
          (cpu[`${kind}@${concurrency}`] ??= []).push(perCall(before, cpuTimes(processes), result.calls));
          process.stderr.write(`round ${round + 1} ${kind} c=${concurrency}: ${result.throughput.toFixed(0)} calls/s, p50 ${result.p50Ms.toFixed(3)} ms\n`);
        }
      }
      await Promise.all([...clients.direct, ...clients.gateway].map((c) => c.close()));
    }
  } finally {
    gateway.kill('SIGTERM');
    mock.kill('SIGTERM');
    await redis?.stop();
  }
  report(results);
  reportCpu(cpu);
}

type CpuPerCall = Record<'client' | 'gateway' | 'mock' | 'redis', number>;

/** CPU time (user + system, ms) each process has used so far, from /proc (the bench's own from Node). */
function cpuTimes(pids: CpuPerCall): CpuPerCall {
  const ofPid = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1_000) / 100; // utime + stime, in clock ticks of 1/100 s
  };
  const own = process.cpuUsage();
  return { client: (own.user + own.system) / 1_000, gateway: ofPid(pids.gateway), mock: ofPid(pids.mock), redis: ofPid(pids.redis) };
}

function perCall(before: CpuPerCall, after: CpuPerCall, calls: number): CpuPerCall {
  const per = (key: keyof CpuPerCall) => (after[key] - before[key]) / Math.max(1, calls);
  return { client: per('client'), gateway: per('gateway'), mock: per('mock'), redis: per('redis') };
}

async function redisPid(url: string): Promise<number> {
  const redis = new Redis(url);
  try {
    return Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1] ?? 0);
  } finally {
    redis.disconnect();
  }
}

function reportCpu(cpu: Record<string, CpuPerCall[]>): void {
  const lines = ['| concurrency | path | client ms/call | gateway ms/call | mock ms/call | redis ms/call | total ms/call |', '|---|---|---|---|---|---|---|'];
  for (const concurrency of [1, 32]) {
    for (const kind of ['direct', 'gateway'] as const) {
      const runs = cpu[`${kind}@${concurrency}`] ?? [];
      const m = (key: keyof CpuPerCall) => median(runs.map((r) => r[key]));
      const total = m('client') + (kind === 'gateway' ? m('gateway') + m('redis') : 0) + m('mock');
      const cell = (key: keyof CpuPerCall) => (kind === 'direct' && (key === 'gateway' || key === 'redis') ? '—' : m(key).toFixed(3));
      lines.push(
        `| ${concurrency} | ${kind === 'direct' ? 'direct' : 'through gateway'} | ${cell('client')} | ${cell('gateway')} | ${cell('mock')} | ${cell('redis')} | ${total.toFixed(3)} |`,
      );
    }
  }
  process.stdout.write(`\nCPU time per call, by process (user + system, median of the rounds):\n\n${lines.join('\n')}\n`);
}

function report(results: Record<string, LoadResult[]>): void {
  const row = (key: string) => {
    const runs = results[key] ?? [];
    return {
      p50: median(runs.map((r) => r.p50Ms)),
      p99: median(runs.map((r) => r.p99Ms)),
      throughput: median(runs.map((r) => r.throughput)),
    };
  };
  const lines = ['| concurrency | path | p50 ms | p99 ms | calls/s |', '|---|---|---|---|---|'];
  const summary: string[] = [];
  for (const concurrency of [1, 32]) {
    const direct = row(`direct@${concurrency}`);
    const gateway = row(`gateway@${concurrency}`);
    for (const [name, r] of [
      ['direct', direct],
      ['through gateway', gateway],
    ] as const) {
      lines.push(`| ${concurrency} | ${name} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.throughput.toFixed(0)} |`);
    }
    summary.push(
      `c=${concurrency}: added p50 ${(gateway.p50 - direct.p50).toFixed(3)} ms, throughput through gateway ${((gateway.throughput / direct.throughput) * 100).toFixed(1)}% of direct`,
    );
  }
  process.stdout.write(`\n${lines.join('\n')}\n\n${summary.join('\n')}\n(median of ${rounds} rounds of ${seconds} s each)\n`);
}

async function connectMany(target: { url: string; headers: Record<string, string> }, count: number): Promise<Client[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const client = new Client({ name: 'bench', version: '1' });
      // The gateway's own fetch for upstreams: without it the SDK's transport piles one abort
      // listener per request onto a single signal, and the client, not the path, is measured.
      await client.connect(new StreamableHTTPClientTransport(new URL(target.url), { requestInit: { headers: target.headers }, fetch: fetchWithOwnSignal }));
      return client;
    }),
  );
}

async function startProcess(args: string[], env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(500) });
      return child;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${args[0]} did not start`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

await main();
