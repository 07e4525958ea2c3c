/**
 * The `airlock` command as operators run it: the compiled CLI (`dist/src/cli.js`) in a process of
 * its own. Global setup builds dist first when it is missing or older than the sources, so these
 * tests always run the code of this checkout.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './upstreams.js';

export const builtCli = path.join(repoRoot, 'dist/src/cli.js');
const buildMarker = path.join(repoRoot, 'dist/.tsbuildinfo');

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/** Builds dist (incrementally) when it is missing or older than src/ or examples/. */
export function ensureBuilt(): void {
  const builtAt = existsSync(buildMarker) && existsSync(builtCli) ? statSync(buildMarker).mtimeMs : 0;
  const sourcesAt = Math.max(newestMtimeMs(path.join(repoRoot, 'src')), newestMtimeMs(path.join(repoRoot, 'examples')));
  if (builtAt >= sourcesAt) return;
  const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: repoRoot, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`npm run build failed:\n${run.stdout}${run.stderr}`);
  chmodSync(builtCli, 0o755); // as `npm run build` does: the package's bin runs as a command (npx, npm install -g)
}

/** Environment for a CLI process: this one's, minus what would point it elsewhere, plus `extra`. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info', ...extra };
  for (const name of ['REDIS_URL', 'AIRLOCK_CONFIG', 'PORT', 'SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'SLACK_APP_TOKEN', 'SLACK_API_URL']) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

/** Runs one command to its end. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}) {
  return spawnSync(process.execPath, [builtCli, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: cliEnv(options.env),
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 30_000,
  });
}

/**
 * Runs one command to its end without blocking this process — for commands that talk to a server
 * living in the test process (the fake Slack, a gateway), which spawnSync would starve.
 */
export function runCliAsync(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [builtCli, ...args], { cwd: options.cwd ?? repoRoot, env: cliEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`airlock ${args.join(' ')} did not finish within ${options.timeoutMs ?? 30_000} ms:\n${stdout}${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ status: code, stdout, stderr });
    });
  });
}

/** A log line of the gateway (pino JSON). */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number; time?: number };

export interface RunningCli {
  child: ChildProcess;
  /** When the process was spawned (ms since epoch). */
  spawnedAt: number;
  /** Every JSON log line so far (stdout for serve, stderr for stdio), and every other line as `{ text }`. */
  lines: LogLine[];
  /** Resolves with the first line matching, waiting up to `timeoutMs`. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code (or the signal) once it exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** SIGKILL if still running. */
  kill(): void;
}

/** Starts a long-running command (`serve`), collecting its log lines. */
export function startCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): RunningCli {
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, [builtCli, ...args], { cwd: options.cwd ?? repoRoot, env: cliEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let buffer = '';
    stream?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const part of parts) {
        if (part.trim() === '') continue;
        try {
          lines.push(JSON.parse(part) as LogLine);
        } catch {
          lines.push({ text: part });
        }
      }
      for (const wake of waiters) wake();
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => {
      for (const wake of waiters) wake();
      resolve({ code, signal, at: Date.now() });
    });
  });
  return {
    child,
    spawnedAt,
    lines,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    waitForLine(match, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(match);
          if (found) {
            finish();
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            finish();
            reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before the line appeared:\n${lines.map((l) => l.msg ?? l['text']).join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no such line within ${timeoutMs} ms:\n${lines.map((l) => l.msg ?? l['text']).join('\n')}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}
