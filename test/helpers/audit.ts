/**
 * Audit stores on real Redis, each on its own connection (as a replica would be), under a fresh
 * key prefix; plus the tampering an attacker with Redis access could do, and a dump of every
 * value under a prefix (to prove a secret was never written).
 */
import { inject } from 'vitest';
import { AuditStore, type AuditStoreOptions } from '../../src/audit/audit-store.js';
import { RawEntriesSchema, type RawEntry } from '../../src/audit/stream-entry.js';
import type { AuditEvent, AuditEventInput } from '../../src/audit/types.js';
import { createLogger } from '../../src/log.js';
import { createRedis, waitForRedis, type Redis } from '../../src/state/redis.js';

export interface TestStore {
  store: AuditStore;
  redis: Redis;
  close(): Promise<void>;
}

/** A started store on a new fail-fast connection. */
export async function openTestStore(prefix: string, options: Partial<AuditStoreOptions> = {}, url = inject('redisUrl')): Promise<TestStore> {
  const redis = await connect(url);
  const store = new AuditStore({ redis, prefix, log: createLogger({ level: 'silent' }), ...options });
  await store.start();
  return {
    store,
    redis,
    close: async () => {
      await store.close();
      redis.disconnect();
    },
  };
}

export async function connect(url = inject('redisUrl')): Promise<Redis> {
  const redis = createRedis(url, { name: 'test-audit', mode: 'fail-fast' });
  if (!(await waitForRedis(redis, 5_000))) throw new Error(`redis at ${url} not ready`);
  return redis;
}

/** A plausible event of each kind a held call produces, and the rest. */
export function sampleEvent(type: AuditEventInput['type'], overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    type,
    agent: 'agent-a',
    session: 'session-1',
    upstream: 'databricks',
    tool: 'run_job',
    arguments: { params: { job_id: 123, notebook_params: { env: 'prod' } } },
    argumentsHash: 'sha256:abc',
    policyVersion: 'v1',
    rule: 'tools.run_job',
    ...overrides,
  };
}

export async function readAll(redis: Redis, stream: string): Promise<RawEntry[]> {
  return RawEntriesSchema.parse(await redis.xrange(stream, '-', '+'));
}

/**
 * Rewrites the stream with the same ids and `change` applied to the list of entries' fields —
 * what an attacker must do to edit or reorder, since stream entries cannot be edited in place.
 */
export async function rewriteStream(redis: Redis, stream: string, change: (entries: RawEntry[]) => RawEntry[]): Promise<void> {
  const entries = await readAll(redis, stream);
  const ids = entries.map(([id]) => id);
  const changed = change(entries.map(([id, fields]) => [id, [...fields]]));
  await redis.del(stream);
  for (const [i, [, fields]] of changed.entries()) await redis.xadd(stream, nth(ids, i), ...fields);
}

/** Sets one field of one entry's field list. */
export function setField(fields: string[], name: string, value: string): void {
  const at = fields.indexOf(name);
  if (at < 0 || at % 2 !== 0) throw new Error(`no field ${name}`);
  fields[at + 1] = value;
}

/** Every value stored under a prefix, as text (strings, lists, hashes, sets, sorted sets, streams). */
export async function dumpPrefix(redis: Redis, prefix: string): Promise<string> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const parts: string[] = [];
  for (const key of keys) {
    const type = await redis.type(key);
    if (type === 'string') parts.push(String(await redis.get(key)));
    else if (type === 'list') parts.push(...(await redis.lrange(key, 0, -1)));
    else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
    else if (type === 'set') parts.push(...(await redis.smembers(key)));
    else if (type === 'zset') parts.push(...(await redis.zrange(key, 0, -1)));
    else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    else parts.push(`<${type} ${key}>`);
  }
  return parts.join('\n');
}

/** The i-th item, or a test failure naming what was missing. */
export function nth<T>(list: readonly T[], i: number): T {
  const item = list[i];
  if (item === undefined) throw new Error(`expected an item at index ${i} of ${list.length}`);
  return item;
}

/** A JSONL export or mirror as events; only tests read it back this way. */
export function parseJsonLines(text: string): AuditEvent[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as AuditEvent); // written by eventJsonLine from decoded events
}

/** Collects an async iterable of text into one string. */
export async function collect(chunks: AsyncIterable<string | Buffer>): Promise<string> {
  let text = '';
  for await (const chunk of chunks) text += chunk.toString();
  return text;
}
