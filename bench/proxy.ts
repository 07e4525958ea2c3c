/**
 * bench:proxy — what a relay costs in front of an MCP server, Airlock next to a plain proxy.
 *
 * Four paths to the Databricks mock (compiled JavaScript), each driven by the official SDK client
 * from this process calling `tools/call list_jobs`:
 *
 *   direct         the mock's own Streamable HTTP mode
 *   airlock-stdio  an Airlock gateway process with the mock as its stdio child
 *   airlock-http   an Airlock gateway process with a second mock (HTTP mode) as its upstream
 *   mcp-proxy      mcp-proxy 6 (Streamable HTTP) fronting the mock as its stdio child
 *
 * Airlock runs the full pipeline: an allow policy with a rate limit on list_jobs (never reached),
 * the inputSchema check and the audit append. Concurrency 1 and 32 (one client session per
 * worker); each round runs every path once, in an order that rotates by round, so machine noise
 * hits all alike; the table reports medians of the rounds. CPU per call is charged to each path's
 * process tree (the proxy and its children, from /proc); Redis and a separate upstream are shown
 * apart. Ends with the targets, met or not.
 *
 *   npm run bench:proxy [-- --seconds 5 --rounds 3 --only airlock-http --profile DIR]
 *
 * Then the OAuth token check of /mcp (bench/oauth-token-check.ts): a JWT access token from a real
 * OpenID Provider against a static token, per request on a warm cache (`--only oauth`: that alone).
 *
 * `--only` measures one path (and direct); `--profile DIR` starts the gateways with --cpu-prof into
 * DIR (summarise a profile with `npx tsx bench/profile-summary.ts FILE`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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
import { cpuBetween, treeCpuMs } from './process-tree.js';
import { measureGatewayCalls, measureTokenCheck, reportGatewayCalls, reportTokenCheck } from './oauth-token-check.js';
import { reportProxyBench, type Measurement, type TargetName } from './proxy-report.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, only: { type: 'string' }, profile: { type: 'string' } },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const call = { name: 'list_jobs', arguments: { params: {} } };
const mockEntry = 'dist/examples/databricks-mock/server.js';
const allTargets: TargetName[] = ['direct', 'airlock-stdio', 'airlock-http', 'mcp-proxy'];
const targetNames: TargetName[] = values.only ? allTargets.filter((t) => t === 'direct' || t === values.only) : allTargets;
const profileArgs = values.profile ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(values.profile)] : [];

interface Target {
  url: string;
  headers: Record<string, string>;
  /** Root of the process tree charged to this path. */
  root: number;
  /** Processes outside the tree that the path also keeps busy (Redis, a separate upstream). */
  outside: number[];
}

async function main(): Promise<void> {
  const build = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('build failed');
  const children: ChildProcess[] = [];
  const redis = process.env['REDIS_URL'] ? undefined : await startRedisServer();
  try {
    const redisUrl = process.env['REDIS_URL'] ?? (redis as { url: string }).url; // one of the two is set
    const redisPid = await redisProcessId(redisUrl);
    const start = async (args: string[], port: number, readyPath: string, env: Record<string, string> = {}) => {
      const child = await startProcess(args, env, port, readyPath);
      children.push(child);
      return child.pid as number; // a spawned process that answered HTTP has a pid
    };

    const directPort = await freePort();
    const directPid = await start([mockEntry, '--http'], directPort, '/', { PORT: String(directPort) });
    const upstreamPort = await freePort();
    const upstreamPid = await start([mockEntry, '--http'], upstreamPort, '/', { PORT: String(upstreamPort) });
    const token = generateToken();
    const gateway = async (name: string, upstream: unknown) => {
      const port = await freePort();
      const pid = await start(
        [...profileArgs, 'dist/src/cli.js', 'serve', '--config', writeGatewayConfig(name, port, redisUrl, upstream, token)],
        port,
        '/healthz',
        {
          LOG_LEVEL: 'warn',
        },
      );
      return { url: `http://127.0.0.1:${port}/mcp`, pid };
    };
    const viaStdio = await gateway('stdio', { command: process.execPath, args: [path.join(repoRoot, mockEntry)] });
    const viaHttp = await gateway('http', { url: `http://127.0.0.1:${upstreamPort}/mcp` });
    const proxyPort = await freePort();
    const proxyPid = await start(
      [mcpProxyBin(), '--port', String(proxyPort), '--host', '127.0.0.1', '--server', 'stream', '--', process.execPath, path.join(repoRoot, mockEntry)],
      proxyPort,
      '/',
    );

    const auth = { Authorization: `Bearer ${token}` };
    const targets: Record<TargetName, Target> = {
      direct: { url: `http://127.0.0.1:${directPort}/mcp`, headers: {}, root: directPid, outside: [] },
      'airlock-stdio': { url: viaStdio.url, headers: auth, root: viaStdio.pid, outside: [redisPid] },
      'airlock-http': { url: viaHttp.url, headers: auth, root: viaHttp.pid, outside: [upstreamPid, redisPid] },
      'mcp-proxy': { url: `http://127.0.0.1:${proxyPort}/mcp`, headers: {}, root: proxyPid, outside: [] },
    };
    const measurements = await measureAll(targets);
    reportProxyBench(measurements, { seconds, rounds });
  } finally {
    await Promise.all(children.map(stopProcess));
    await redis?.stop();
  }
}

/** SIGTERM, then SIGKILL if it is still running 6 s later (mcp-proxy's graceful shutdown takes up to 5 s; an idle keep-alive connection can hold the mock's). */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 6_000);
  await exited;
  clearTimeout(timer);
}

async function measureAll(targets: Record<TargetName, Target>): Promise<Measurement[]> {
  const measurements: Measurement[] = [];
  for (const concurrency of [1, 32]) {
    const clients = {} as Record<TargetName, Client[]>; // filled for every target just below
    for (const name of targetNames) clients[name] = await connectMany(targets[name], concurrency);
    // Warm every path (JIT, connection pools, the mock's state) before measuring.
    for (const name of targetNames) await runLoad(clients[name], (c) => c.callTool(call), 1);
    const perTarget = new Map<TargetName, { load: LoadResult; treeMs: number; rootMs: number; outsideMs: number }[]>();
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < targetNames.length; i++) {
        const name = targetNames[(round + i) % targetNames.length] as TargetName; // index taken modulo the length
        const target = targets[name];
        const before = { tree: treeCpuMs(target.root), outside: target.outside.map((pid) => treeCpuMs(pid)) };
        const load = await runLoad(clients[name], (c) => c.callTool(call), seconds);
        const tree = cpuBetween(target.root, before.tree, treeCpuMs(target.root));
        const outsideMs = target.outside.reduce((sum, pid, k) => sum + cpuBetween(pid, before.outside[k] ?? new Map(), treeCpuMs(pid)).treeMs, 0);
        const calls = Math.max(1, load.calls);
        const runs = perTarget.get(name) ?? [];
        perTarget.set(name, runs);
        runs.push({
          load,
          treeMs: tree.treeMs / calls,
          rootMs: tree.rootMs / calls,
          outsideMs: outsideMs / calls,
        });
        process.stderr.write(
          `round ${round + 1} c=${concurrency} ${name}: ${load.throughput.toFixed(0)} calls/s, p50 ${load.p50Ms.toFixed(3)} ms, ${load.errors} errors\n`,
        );
      }
    }
    await Promise.all(targetNames.flatMap((name) => clients[name].map((c) => c.close())));
    for (const name of targetNames) {
      const runs = perTarget.get(name) ?? [];
      const m = (pick: (run: (typeof runs)[number]) => number) => median(runs.map(pick));
      measurements.push({
        concurrency,
        target: name,
        p50Ms: m((r) => r.load.p50Ms),
        p99Ms: m((r) => r.load.p99Ms),
        callsPerSec: m((r) => r.load.throughput),
        errors: runs.reduce((sum, r) => sum + r.load.errors, 0),
        treeCpuMsPerCall: m((r) => r.treeMs),
        rootCpuMsPerCall: m((r) => r.rootMs),
        outsideCpuMsPerCall: m((r) => r.outsideMs),
      });
    }
  }
  return measurements;
}

function writeGatewayConfig(name: string, port: number, redisUrl: string, upstream: unknown, token: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `airlock-bench-${name}-`));
  const policyFile = path.join(dir, 'policy.json');
  // Allowed, with a rate limit that is checked on every call and never reached.
  const limits = [{ counter: 'bench_list_jobs', window: 'minute', max: 1_000_000_000, scope: 'grant' }];
  writeFileSync(policyFile, JSON.stringify({ version: '1', default: 'allow', tools: { list_jobs: { limits } } }));
  const configFile = path.join(dir, 'airlock.config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      port,
      host: '127.0.0.1',
      redis: { url: redisUrl, prefix: `bench-${process.pid}-${name}:` },
      mcpServers: { databricks: upstream },
      agents: { bench: { tokenSha256: hashToken(token) } },
      policy: policyFile,
    }),
  );
  return configFile;
}

function mcpProxyBin(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('mcp-proxy/package.json')), 'dist/bin/mcp-proxy.mjs');
}

async function redisProcessId(url: string): Promise<number> {
  const redis = new Redis(url);
  try {
    return Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1] ?? 0);
  } finally {
    redis.disconnect();
  }
}

async function connectMany(target: Target, count: number): Promise<Client[]> {
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

/** Starts `node <args>` from the repo and waits until `readyPath` answers HTTP at all. */
async function startProcess(args: string[], env: Record<string, string>, port: number, readyPath: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${port}${readyPath}`, { signal: AbortSignal.timeout(500) });
      return child;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`${args[0]} did not start`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

if (values.only !== 'oauth') await main();
// The OAuth token check on /mcp (issue 17): what a JWT adds over a static token, alone and through a gateway.
reportTokenCheck(await measureTokenCheck());
reportGatewayCalls(await measureGatewayCalls());
