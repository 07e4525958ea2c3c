/**
 * A throwaway `redis-server` (the binary from PATH) on a free port, with nothing written to disk
 * — or, with `appendOnly`, an append-only file (fsync on every write) in a temp folder, so a
 * SIGKILLed server restarts with everything it acknowledged. Tests that stop and restart Redis
 * start their own; the rest share the one from global setup.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';

export interface RedisServerHandle {
  url: string;
  port: number;
  /** SIGKILL: a crash, nothing flushed beyond what the append-only file already has. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop), from its append-only file when it has one. */
  restart(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** `args`: more redis-server options, e.g. `['--replicaof', '127.0.0.1', '6380']`. */
export async function startRedisServer(options: { appendOnly?: boolean; args?: string[] } = {}): Promise<RedisServerHandle> {
  const port = await freePort();
  const persistence = options.appendOnly
    ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', mkdtempSync(path.join(tmpdir(), 'airlock-redis-'))]
    : ['--appendonly', 'no'];
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--logfile', '', ...(options.args ?? [])], {
      stdio: 'ignore',
    });
    await waitUntilUp(port);
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    restart: launch,
    stop: async () => {
      const current = child;
      // A killed process sets signalCode, not exitCode: check both, so a second stop() returns.
      if (!current || current.exitCode !== null || current.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        current.once('exit', () => resolve());
        current.kill('SIGKILL');
      });
    },
  };
}

async function waitUntilUp(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined); // failures are handled by the retry loop below
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch (error) {
      probe.disconnect();
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * A Redis Sentinel (redis-server in sentinel mode) watching the master on `masterPort` as
 * `masterName`, quick to act: down after 1 s, quorum 1 (one sentinel: a test, not a deployment).
 */
export async function startRedisSentinel(masterPort: number, masterName: string): Promise<RedisServerHandle> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-sentinel-'));
  const file = path.join(dir, 'sentinel.conf');
  writeFileSync(
    file,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      `sentinel failover-timeout ${masterName} 5000`,
      '',
    ].join('\n'),
  );
  const child = spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' });
  await waitUntilUp(port);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    restart: () => Promise.reject(new Error('a test sentinel is not restarted')),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    },
  };
}

/** A Redis Cluster of `masters` nodes on loopback (no replicas), every slot assigned, state ok. */
export async function startRedisCluster(masters = 3): Promise<{ url: string; nodes: RedisServerHandle[] }> {
  const nodes: RedisServerHandle[] = [];
  for (let i = 0; i < masters; i++) {
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-cluster-'));
    nodes.push(await startRedisServer({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'), '--dir', dir] }));
  }
  const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
  const created = spawnSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const probe = new Redis({ port: nodes[0]?.port ?? 0, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined); // retried below
    const state = await probe
      .connect()
      .then(() => probe.call('CLUSTER', 'INFO'))
      .then((info) => /cluster_state:(\w+)/.exec(String(info))?.[1])
      .catch(() => undefined)
      .finally(() => probe.disconnect());
    if (state === 'ok') break;
    if (Date.now() > deadline) throw new Error(`the cluster did not reach state ok (last: ${state ?? 'no answer'})`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url: `redis+cluster://${addresses.join(',')}`, nodes };
}
