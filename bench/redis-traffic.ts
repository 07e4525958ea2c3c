/**
 * Counts what clients send to Redis while a benchmark runs, from Redis's own MONITOR feed: every
 * command a client sent (commands a Lua script runs inside Redis are not round trips and are left
 * out; a MULTI … EXEC block counts once), attributed to the connection name it came from
 * (`CLIENT SETNAME`, which ioredis sets from `connectionName`). With `tag`, the round trips that
 * touch a key the predicate picks (a MULTI block counts when any of its commands does) are also
 * counted apart, with the bytes of their arguments.
 */
import { Redis } from 'ioredis';

export interface RedisTraffic {
  /** Starts counting from zero. */
  reset(): void;
  /** Round trips since the last reset, in total and by connection name. */
  snapshot(): Promise<{ total: number; byConnection: Map<string, number>; byCommand: Map<string, number>; tagged: number; taggedBytes: number }>;
  close(): Promise<void>;
}

export async function watchRedisTraffic(url: string, options: { tag?: (args: string[]) => boolean } = {}): Promise<RedisTraffic> {
  const admin = new Redis(url, { connectionName: 'bench:traffic-admin' });
  const base = new Redis(url);
  const monitor = await base.monitor();
  let bySource = new Map<string, number>();
  let byCommand = new Map<string, number>();
  /** Tagged round trips and their bytes, by source. */
  let tagged = new Map<string, { count: number; bytes: number }>();
  const addTagged = (source: string, bytes: number) => {
    const entry = tagged.get(source) ?? { count: 0, bytes: 0 };
    tagged.set(source, { count: entry.count + 1, bytes: entry.bytes + bytes });
  };
  /** Open MULTI blocks by source: the bytes of their tagged commands, or undefined while none matched. */
  const inMulti = new Map<string, number | undefined>();
  const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  const bytesOf = (args: string[]) => args.reduce((sum, a) => sum + Buffer.byteLength(a), 0);
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua') return;
    const command = (args[0] ?? '').toLowerCase();
    const matched = options.tag?.(args) ?? false;
    if (command === 'multi') inMulti.set(source, undefined);
    if (inMulti.has(source)) {
      if (command === 'exec' || command === 'discard') {
        const blockBytes = inMulti.get(source);
        inMulti.delete(source);
        if (blockBytes !== undefined) addTagged(source, blockBytes);
      } else if (command !== 'multi') {
        if (matched) inMulti.set(source, (inMulti.get(source) ?? 0) + bytesOf(args));
        return;
      }
    } else if (matched) addTagged(source, bytesOf(args));
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
      tagged = new Map();
    },
    async snapshot() {
      await new Promise((r) => setTimeout(r, 50)); // let the feed catch up
      const addrNames = await names();
      const byConnection = new Map<string, number>();
      // The benchmark's own connections (named bench:…) are not what is measured.
      const isOwn = (source: string) => (addrNames.get(source) ?? '').startsWith('bench:');
      let total = 0;
      for (const [source, count] of bySource) {
        if (isOwn(source)) continue;
        const name = addrNames.get(source) ?? `(gone) ${source}`;
        byConnection.set(name, (byConnection.get(name) ?? 0) + count);
        total += count;
      }
      let taggedCount = 0;
      let taggedBytes = 0;
      for (const [source, entry] of tagged) {
        if (isOwn(source)) continue;
        taggedCount += entry.count;
        taggedBytes += entry.bytes;
      }
      return { total, byConnection, byCommand: new Map(byCommand), tagged: taggedCount, taggedBytes };
    },
    async close() {
      monitor.disconnect();
      base.disconnect();
      admin.disconnect();
    },
  };
}
