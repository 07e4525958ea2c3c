/**
 * The zero-setup Redis: a `redis-server` child (the binary found on PATH) that Airlock starts for
 * itself when no Redis is configured and none answers on 127.0.0.1:6379, or when the config says
 * `"redis": {"url": "embedded"}`. It listens on loopback only, on a free port, behind a random
 * password kept in a file only this user can read, and keeps its data under `.airlock/redis/`
 * next to the config file with the append-only file on, so holds and the audit history survive a
 * restart. The process that starts it stops it; other processes of the same config (the CLI, a
 * second `airlock stdio`) find it through `connection.json` in that folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { redactRedisUrl } from './redis.js';

/** Where an embedded Redis keeps its data, relative to the config file's folder. */
export const embeddedDataDir = path.join('.airlock', 'redis');

/** What a running embedded Redis leaves for other processes of the same config. */
export interface EmbeddedRedisInfo {
  url: string;
  pid: number;
  startedAt: string;
}

/** How to get redis-server, for the message when it is missing. */
export const installRedisHelp =
  'Install it — Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis — and run `airlock serve` again; ' +
  'or run the whole demo with `docker compose up`; or point REDIS_URL (or "redis": {"url": …} in the config) at a Redis you run.';

/** The absolute path of `name` on PATH, or undefined when no executable of that name is there. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The connection file a running embedded Redis wrote, if any (it may be stale: check it answers). */
export function readEmbeddedRedisInfo(dataDir: string): EmbeddedRedisInfo | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path.join(dataDir, 'connection.json'), 'utf8'));
    if (parsed === null || typeof parsed !== 'object') return undefined;
    const { url, pid, startedAt } = parsed as Record<string, unknown>; // checked field by field below
    if (typeof url !== 'string' || typeof pid !== 'number' || typeof startedAt !== 'string') return undefined;
    return { url, pid, startedAt };
  } catch {
    return undefined;
  }
}

export interface EmbeddedRedisOptions {
  /** Absolute folder for the data, the config file and the connection file (created 0700). */
  dataDir: string;
  log: Logger;
  /** PATH to search for redis-server (tests pass one that lacks it). */
  env?: NodeJS.ProcessEnv;
  /** How long redis-server may take to say it is ready. */
  startTimeoutMs?: number;
}

/** A running redis-server child this process started; `stop()` ends it and removes the connection file. */
export class EmbeddedRedis {
  readonly url: string;
  readonly pid: number;
  readonly port: number;
  readonly dataDir: string;
  private readonly child: ChildProcess;
  private readonly log: Logger;
  private stopping: Promise<void> | undefined;
  private readonly killOnExit = () => this.child.kill('SIGTERM');

  private constructor(child: ChildProcess, url: string, port: number, dataDir: string, log: Logger) {
    this.child = child;
    this.url = url;
    this.port = port;
    this.pid = child.pid ?? 0;
    this.dataDir = dataDir;
    this.log = log;
    // Whatever ends this process, the child does not outlive it.
    process.once('exit', this.killOnExit);
    child.once('exit', (code, signal) => {
      process.off('exit', this.killOnExit);
      if (this.stopping === undefined) {
        log.error({ code, signal, pid: this.pid }, 'the embedded redis-server exited on its own: limited and held calls are refused until Airlock restarts');
      }
    });
  }

  /**
   * Starts redis-server; throws `state_store_unavailable` saying how to install it when it is not
   * on PATH (`why` says why an embedded one was wanted, for that message).
   */
  static async start(options: EmbeddedRedisOptions & { why: string }): Promise<EmbeddedRedis> {
    const binary = findOnPath('redis-server', options.env);
    if (binary === undefined) {
      throw new AirlockError(
        'state_store_unavailable',
        `Airlock needs a Redis and has none: ${options.why}, and redis-server is not installed (not found on PATH), so Airlock cannot start its own.\n${installRedisHelp}`,
      );
    }
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    chmodSync(options.dataDir, 0o700);
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const port = await freeLoopbackPort();
      try {
        return await EmbeddedRedis.launch(binary, port, options);
      } catch (error) {
        lastError = error; // most likely the free port was taken in between: try another
      }
    }
    throw lastError;
  }

  private static async launch(binary: string, port: number, options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
    const password = randomBytes(24).toString('hex');
    const confFile = path.join(options.dataDir, 'redis.conf');
    // The password goes in a file only this user can read, never on the command line (ps shows that).
    writeFileSync(confFile, redisConf(options.dataDir, port, password), { mode: 0o600 });
    chmodSync(confFile, 0o600);
    const child = spawn(binary, [confFile], { cwd: options.dataDir, stdio: ['ignore', 'pipe', 'pipe'] });
    const lastLines: string[] = [];
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        lastLines.push(line.trim());
        if (lastLines.length > 8) lastLines.shift();
        options.log.debug({ redis: line.trim() }, 'embedded redis-server');
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`redis-server did not become ready within ${options.startTimeoutMs ?? 10_000} ms: ${lastLines.join(' | ')}`));
      }, options.startTimeoutMs ?? 10_000);
      const onData = (chunk: Buffer) => {
        if (!chunk.toString('utf8').includes('Ready to accept connections')) return;
        cleanup();
        resolve();
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`redis-server exited at start (code ${code}): ${lastLines.join(' | ')}`));
      };
      const onError = (error: Error) => {
        cleanup();
        reject(error);
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        child.off('error', onError);
      };
      child.stdout?.on('data', onData);
      child.once('exit', onExit);
      child.once('error', onError);
    });
    const url = `redis://:${password}@127.0.0.1:${port}`;
    const info: EmbeddedRedisInfo = { url, pid: child.pid ?? 0, startedAt: new Date().toISOString() };
    writeFileSync(path.join(options.dataDir, 'connection.json'), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
    return new EmbeddedRedis(child, url, port, options.dataDir, options.log);
  }

  /** The URL with its password masked, for logs. */
  get displayUrl(): string {
    return redactRedisUrl(this.url);
  }

  /**
   * Stops redis-server (SIGTERM: it writes the append-only file and exits), waiting up to
   * `timeoutMs` before killing it. Removes the connection file.
   */
  stop(timeoutMs = 5_000): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      rmSync(path.join(this.dataDir, 'connection.json'), { force: true });
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      const timer = setTimeout(() => {
        this.log.warn({ pid: this.pid }, 'the embedded redis-server did not stop in time; killed');
        this.child.kill('SIGKILL');
      }, timeoutMs);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.kill('SIGTERM');
    });
    return this.stopping;
  }
}

/** Whether a process with this pid exists (a connection file may outlive the Redis it names). */
export function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the folder holds an embedded Redis's data from an earlier run. */
export function hasEmbeddedData(dataDir: string): boolean {
  return existsSync(path.join(dataDir, 'appendonlydir'));
}

function redisConf(dataDir: string, port: number, password: string): string {
  return [
    '# Written by Airlock for its embedded redis-server; rewritten at every start.',
    'bind 127.0.0.1',
    `port ${port}`,
    'protected-mode yes',
    `requirepass ${password}`,
    `dir ${quote(dataDir)}`,
    // Holds and the audit history survive a restart: every write goes to the append-only file,
    // flushed to disk every second (at most about a second of writes lost on a crash).
    'appendonly yes',
    'appendfsync everysec',
    'save ""',
    'daemonize no',
    'logfile ""',
    'loglevel notice',
    '',
  ].join('\n');
}

/** A redis.conf string argument: double-quoted with backslash escapes. */
function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
