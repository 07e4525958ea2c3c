/**
 * Counts what clients send to Redis while a benchmark runs, from Redis's own MONITOR feed: every
 * command a client sent (commands a Lua script runs inside Redis are not round trips and are left
 * out; a MULTI … EXEC block counts once), attributed to the connection name it came from
 * (`CLIENT SETNAME`, which ioredis sets from `connectionName`).
 */
import { Redis } from 'ioredis';

export interface RedisTraffic {
  /** Starts counting from zero. */
  reset(): void;
  /** Round trips since the last reset, in total and by connection name. */
  snapshot(): Promise<{ total: number; byConnection: Map<string, number>; byCommand: Map<string, number> }>;
  close(): Promise<void>;
}

export async function watchRedisTraffic(url: string): Promise<RedisTraffic> {
  const admin = new Redis(url, { connectionName: 'bench:traffic-admin' });
  const monitor = await new Redis(url).monitor();
  let bySource = new Map<string, number>();
  let byCommand = new Map<string, number>();
  const inMulti = new Set<string>();
  const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua') return;
    const command = (args[0] ?? '').toLowerCase();
    if (command === 'multi') inMulti.add(source);
    if (inMulti.has(source)) {
      if (command === 'exec' || command === 'discard') inMulti.delete(source);
      else if (command !== 'multi') return;
    }
    if (command === 'exec' || command === 'discard') return;
    add(bySource, source);
    add(byCommand, command === 'multi' ? 'multi…exec' : command);
  });
  const names = async (): Promise<Map<string, string>> => {
    const list = String(await admin.client('LIST'));
    const out = new Map<string, string>();
    for (const line of list.split('\n')) {
      const addr = /\baddr=(\S+)/.exec(line)?.[1];
      const name = /\bname=(\S*)/.exec(line)?.[1];
      if (addr) out.set(addr, name || '(unnamed)');
    }
    return out;
  };
  return {
    reset() {
      bySource = new Map();
      byCommand = new Map();
    },
    async snapshot() {
      await new Promise((r) => setTimeout(r, 50)); // let the feed catch up
      const addrNames = await names();
      const byConnection = new Map<string, number>();
      let total = 0;
      for (const [source, count] of bySource) {
        const name = addrNames.get(source) ?? `(gone) ${source}`;
        if (name === 'bench:traffic-admin') continue;
        byConnection.set(name, (byConnection.get(name) ?? 0) + count);
        total += count;
      }
      return { total, byConnection, byCommand: new Map(byCommand) };
    },
    async close() {
      monitor.disconnect();
      admin.disconnect();
    },
  };
}
