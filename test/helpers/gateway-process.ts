/**
 * A real gateway in its own process (`airlock serve`, run from source with tsx) on the suite's
 * Redis or a given one, for tests that kill it (SIGKILL) the way a crash would. Its config is
 * written like the in-process gateway's; its log (warn and above) is kept for failure messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { adminToken, writeGatewayConfig, type InProcessGatewayOptions } from './in-process-gateway.js';
import { freePort } from './redis-server.js';
import { repoRoot } from './upstreams.js';

export interface GatewayProcess {
  /** The config it was started with (for the CLI). */
  configFile: string;
  baseUrl: string;
  mcpUrl: string;
  tokens: Record<string, string>;
  child: ChildProcess;
  /** What the process wrote to stdout and stderr so far. */
  output(): string;
  /** SIGKILL: no shutdown, no drain — a crash. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/** `waitFor`: `ready` (default: Redis and every upstream up) or just `healthy` (the process serves HTTP). */
export async function startGatewayProcess(options: InProcessGatewayOptions & { waitFor?: 'ready' | 'healthy' }): Promise<GatewayProcess> {
  const port = await freePort();
  const written = writeGatewayConfig({ ...options, config: { ...options.config, port } });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli.ts'), 'serve', '--config', written.file], {
    cwd: repoRoot,
    env: { ...process.env, AIRLOCK_ADMIN_TOKEN: adminToken, LOG_LEVEL: 'warn', PORT: String(port), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const baseUrl = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  let lastAnswer = 'no answer yet';
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited early (${child.exitCode}): ${output}`);
    const ready = await fetch(`${baseUrl}/${options.waitFor === 'healthy' ? 'healthz' : 'readyz'}`, { signal: AbortSignal.timeout(1_000) }).then(
      async (r) => {
        lastAnswer = `${r.status} ${await r.text()}`;
        return r.status === 200;
      },
      (error: unknown) => {
        lastAnswer = String(error);
        return false;
      },
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway on port ${port} did not become ready (last answer: ${lastAnswer}): ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(name);
    await exited;
  };
  return {
    configFile: written.file,
    baseUrl,
    mcpUrl: `${baseUrl}/mcp`,
    tokens: written.tokens,
    child,
    output: () => output,
    kill: () => signal('SIGKILL'),
    stop: () => signal('SIGTERM'),
  };
}
