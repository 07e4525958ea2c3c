/**
 * Real upstream MCP servers for tests: the Databricks mock (stdio or HTTP) and the third-party
 * `@modelcontextprotocol/server-everything`, plus the mock's call log that proves what reached it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis-server.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const mockEntry = path.join(repoRoot, 'examples/databricks-mock/server.ts');

export interface LoggedCall {
  event: 'call' | 'cancelled';
  tool: string;
  arguments: Record<string, unknown>;
  pid: number;
}

export interface CallLog {
  path: string;
  /** Every tools/call the mock received, in order. */
  calls(): LoggedCall[];
  /** Calls the mock saw cancelled (notifications/cancelled) before it answered. */
  cancellations(): LoggedCall[];
}

export function createCallLog(): CallLog {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-calls-')), 'calls.jsonl');
  const entries = (): LoggedCall[] =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => JSON.parse(line) as LoggedCall)
      : [];
  return {
    path: file,
    calls: () => entries().filter((e) => e.event === 'call'),
    cancellations: () => entries().filter((e) => e.event === 'cancelled'),
  };
}

/** The mcpServers entry that starts the Databricks mock over stdio (through tsx, from source). */
export function databricksMockStdio(options: { callLog?: CallLog; delayMs?: number } = {}) {
  const env: Record<string, string> = {};
  if (options.callLog) env['DATABRICKS_MOCK_CALL_LOG'] = options.callLog.path;
  if (options.delayMs) env['DATABRICKS_MOCK_DELAY_MS'] = String(options.delayMs);
  return { command: process.execPath, args: ['--import', 'tsx', mockEntry], env, cwd: repoRoot };
}

export interface RunningServer {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts the Databricks mock as a Streamable HTTP server on a free port. */
export async function startDatabricksMockHttp(options: { callLog?: CallLog; port?: number } = {}): Promise<RunningServer> {
  const port = options.port ?? (await freePort());
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port) };
  if (options.callLog) env['DATABRICKS_MOCK_CALL_LOG'] = options.callLog.path;
  const child = spawn(process.execPath, ['--import', 'tsx', mockEntry, '--http'], { env, cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  return waitForHttp(child, `http://127.0.0.1:${port}/mcp`, port);
}

const require = createRequire(import.meta.url);

/** Path to server-everything's CLI entry (a third-party MCP server with stdio and HTTP modes). */
export function everythingEntry(): string {
  const pkg = require.resolve('@modelcontextprotocol/server-everything/package.json');
  const manifest = JSON.parse(readFileSync(pkg, 'utf8')) as { bin: Record<string, string> | string };
  const bin = typeof manifest.bin === 'string' ? manifest.bin : Object.values(manifest.bin)[0];
  if (!bin) throw new Error('server-everything has no bin entry');
  return path.join(path.dirname(pkg), bin);
}

export function everythingStdio() {
  return { command: process.execPath, args: [everythingEntry(), 'stdio'] };
}

export async function startEverythingHttp(): Promise<RunningServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [everythingEntry(), 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return waitForHttp(child, `http://127.0.0.1:${port}/mcp`, port);
}

async function waitForHttp(child: ChildProcess, url: string, port: number): Promise<RunningServer> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}): ${stderr}`);
    try {
      await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) });
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`server on port ${port} did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
