/**
 * The pieces of a scaled-out deployment for the benchmarks, as real processes: gateway replicas
 * (compiled JavaScript, `airlock serve`, configs written by the tests' own writer), the Databricks
 * mock as their stdio child, and HAProxy with the shipped deploy/haproxy/haproxy.cfg in front.
 * Compiled rather than tsx so that a replica starts in about a second and its CPU per call is what
 * production runs; `npm run build` first (bench/scale-out.ts does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { adminToken, writeGatewayConfig, type InProcessGatewayOptions } from '../test/helpers/in-process-gateway.js';
import { freePort } from '../test/helpers/redis-server.js';
import { repoRoot, type CallLog } from '../test/helpers/upstreams.js';
import { treeCpuMs } from './process-tree.js';

export interface Replica {
  baseUrl: string;
  pid: number;
  /** host:port, as HAProxy's AIRLOCK_REPLICA_n wants it. */
  address: string;
  output(): string;
  /** SIGKILL the replica, then its children (the mock), which would otherwise linger as orphans. */
  kill(): void;
  /** SIGTERM and wait (children end with it); SIGKILL after 5 s. */
  stop(): Promise<void>;
}

/** The compiled Databricks mock as a stdio upstream, its calls logged to `callLog`. */
export function builtMockStdio(callLog?: CallLog) {
  return {
    command: process.execPath,
    args: [path.join(repoRoot, 'dist/examples/databricks-mock/server.js')],
    env: callLog ? { DATABRICKS_MOCK_CALL_LOG: callLog.path } : {},
  };
}

/** `port`: the one a killed replica had, so the load balancer in front finds its replacement there. */
export async function startReplica(options: InProcessGatewayOptions & { port?: number }): Promise<Replica> {
  const port = options.port ?? (await freePort());
  const written = writeGatewayConfig({ ...options, config: { ...options.config, port } });
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist/src/cli.js'), 'serve', '--config', written.file], {
    cwd: repoRoot,
    env: { ...process.env, AIRLOCK_ADMIN_TOKEN: adminToken, LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor(`${baseUrl}/readyz`, child, () => output, 30_000);
  const pid = child.pid as number; // a spawned process that answered HTTP has a pid
  return {
    baseUrl,
    pid,
    address: `127.0.0.1:${port}`,
    output: () => output,
    kill() {
      const tree = [...treeCpuMs(pid).keys()];
      for (const p of tree) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface LoadBalancer {
  url: string;
  pid: number;
  /** When (performance.now()) HAProxy logged a server going DOWN (a health check's verdict), oldest first. */
  serverDownTimes(): number[];
  /** Each server's status from the stats socket ("UP", "UP 1/2" going down, "DOWN", …), by name. */
  serverStatus(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * HAProxy with the shipped haproxy.cfg in front of `addresses` (two: the same one twice puts a
 * single replica behind it). `edit` changes a copy of the file first (to measure a setting).
 */
export async function startHaproxy(addresses: [string, string], edit?: (cfg: string) => string): Promise<LoadBalancer> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, AIRLOCK_LISTEN: `127.0.0.1:${port}`, AIRLOCK_REPLICA_1: addresses[0], AIRLOCK_REPLICA_2: addresses[1] };
  // Debian installs it in /usr/sbin, which is not on every user's PATH.
  const binary = existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';
  // The shipped file as it is, plus a second file with a stats socket only the benchmark reads.
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-haproxy-'));
  const socket = path.join(dir, 'stats.sock');
  const extra = path.join(dir, 'stats.cfg');
  writeFileSync(extra, `global\n  stats socket ${socket} mode 600 level user\n`);
  let cfg = path.join(repoRoot, 'deploy/haproxy/haproxy.cfg');
  if (edit) {
    const shipped = readFileSync(cfg, 'utf8');
    cfg = path.join(dir, 'haproxy.cfg');
    writeFileSync(cfg, edit(shipped));
  }
  const child = spawn(binary, ['-db', '-f', cfg, '-f', extra], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const downTimes: number[] = [];
  const onOutput = (c: Buffer) => {
    const text = c.toString();
    output += text;
    // "Server airlock/replica1 is DOWN, reason: Layer4 connection problem…"
    for (const _ of text.matchAll(/Server \S+ is DOWN/g)) downTimes.push(performance.now());
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/healthz`, child, () => output, 15_000);
  return {
    url,
    pid: child.pid as number, // it answered HTTP
    serverDownTimes: () => [...downTimes],
    serverStatus: () => serverStatus(socket),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** `show stat` on HAProxy's stats socket: the status column of each server of the backend. */
function serverStatus(socket: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    let text = '';
    const conn = createConnection(socket, () => conn.end('show stat\n'));
    conn.on('data', (c: Buffer) => (text += c.toString()));
    conn.on('error', reject);
    conn.on('close', () => {
      const [head, ...rows] = text.replace(/^# /, '').trim().split('\n');
      const columns = (head ?? '').split(',');
      const name = columns.indexOf('svname');
      const status = columns.indexOf('status');
      const out: Record<string, string> = {};
      for (const row of rows) {
        const cells = row.split(',');
        const server = cells[name] ?? '';
        if (server !== 'FRONTEND' && server !== 'BACKEND') out[server] = cells[status] ?? '';
      }
      resolve(out);
    });
  });
}

async function waitFor(url: string, child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: the process exited early (${child.exitCode}): ${output()}`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${url} did not answer 200 in time: ${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `airlock_calls_in_flight` of one replica (0 when it does not answer: it is dead). */
export async function callsInFlight(baseUrl: string): Promise<number> {
  const text = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(2_000) })
    .then((r) => r.text())
    .catch(() => '');
  const line = text.split('\n').find((l) => l.startsWith('airlock_calls_in_flight'));
  return Number(line?.split(' ').pop() ?? '0');
}

/** The admin REST API of one replica, as an operator's script calls it (test/helpers/admin-api.ts needs vitest). */
export function adminOf(baseUrl: string) {
  const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', 'x-airlock-actor': 'bench' };
  return {
    /** Polls until `count` approvals are pending; their ids. */
    async waitForPending(count: number, timeoutMs: number): Promise<string[]> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const res = await fetch(`${baseUrl}/api/approvals?status=pending`, { headers });
        const body = (await res.json()) as { approvals?: { id: string }[] };
        const ids = (body.approvals ?? []).map((a) => a.id);
        if (ids.length >= count) return ids;
        if (Date.now() > deadline) throw new Error(`expected ${count} pending approval(s) at ${baseUrl}, found ${ids.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async approve(id: string): Promise<{ status: number; body: string }> {
      const res = await fetch(`${baseUrl}/api/approvals/${id}/approve`, { method: 'POST', headers, body: '{}' });
      return { status: res.status, body: await res.text() };
    },
  };
}

/** The text of a tool result's content blocks. */
export function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content.map((c) => c.text ?? '').join('\n');
}
