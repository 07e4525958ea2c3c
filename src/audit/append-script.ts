/**
 * The one write to the audit stream: a Lua script that appends a batch of pre-hashed events only if
 * the chain head is still the one they were hashed against (compare-and-append). Lua runs
 * atomically, so replicas can never interleave inside a batch nor fork the chain: a replica that
 * lost the race gets the current head back, re-hashes, and tries again. The script also keeps
 * the per-approval index, so `story` needs no scan.
 *
 * After a write whose outcome is unknown (timeout, dropped connection), the retry names the last
 * hash it sent; the script looks for it among the newest entries so a batch that did land is not
 * written twice.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Redis } from '../state/redis.js';

const appendLua = `
local head = redis.call('GET', KEYS[2]) or ''
local n = tonumber(ARGV[5])
if head ~= ARGV[1] then
  if ARGV[3] ~= '' then
    local recent = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1000 + n)
    for i, entry in ipairs(recent) do
      local f = entry[2]
      for j = 1, #f - 1, 2 do
        if f[j] == 'hash' and f[j + 1] == ARGV[3] then
          local ids = {}
          for k = math.min(i + n - 1, #recent), i, -1 do ids[#ids + 1] = recent[k][1] end
          return {2, head, ids}
        end
      end
    end
  end
  return {0, head}
end
local ids = {}
local a = 6
for e = 1, n do
  local index = tonumber(ARGV[a])
  local k = tonumber(ARGV[a + 1])
  local args = {KEYS[1], '*'}
  for j = 1, k do args[j + 2] = ARGV[a + 1 + j] end
  a = a + 2 + k
  local id = redis.call('XADD', unpack(args))
  ids[e] = id
  if index > 0 then
    redis.call('RPUSH', KEYS[2 + index], id)
    if ARGV[4] ~= '0' then redis.call('PEXPIRE', KEYS[2 + index], ARGV[4]) end
  end
end
redis.call('SET', KEYS[2], ARGV[2])
return {1, ids}
`;

const appendSha = createHash('sha1').update(appendLua).digest('hex'); // Redis names scripts by SHA-1; not a security use

/** One event of a batch as the script takes it. */
export interface ScriptEvent {
  approvalId: string | undefined;
  fields: string[];
}

/** One script call: the batch, the head it was hashed against, and the head it leaves. */
export interface AppendRequest {
  streamKey: string;
  headKey: string;
  approvalKey: (id: string) => string;
  expectedHead: string;
  newHead: string;
  /** Last hash of an earlier attempt whose outcome is unknown, or ''. */
  lookFor: string;
  /** PEXPIRE for approval index keys; 0 keeps them. */
  indexTtlMs: number;
  events: readonly ScriptEvent[];
}

/** committed: written with these ids; conflict: the head moved; landed: an earlier attempt was written. */
export type AppendReply = { kind: 'committed'; ids: string[] } | { kind: 'conflict'; head: string } | { kind: 'landed'; head: string; ids: string[] };

const ReplySchema = z.union([
  z.tuple([z.literal(1), z.array(z.string())]),
  z.tuple([z.literal(0), z.string()]),
  z.tuple([z.literal(2), z.string(), z.array(z.string())]),
]);

/** Runs the script (EVALSHA, EVAL once if Redis does not know it yet): one round trip per batch. */
export async function appendBatch(redis: Redis, request: AppendRequest): Promise<AppendReply> {
  const indexKeys: string[] = [];
  const indexOf = new Map<string, number>();
  const args: Array<string | number> = [request.expectedHead, request.newHead, request.lookFor, request.indexTtlMs, request.events.length];
  for (const event of request.events) {
    let index = 0;
    if (event.approvalId !== undefined) {
      index = indexOf.get(event.approvalId) ?? indexKeys.push(request.approvalKey(event.approvalId));
      indexOf.set(event.approvalId, index);
    }
    args.push(index, event.fields.length);
    for (const field of event.fields) args.push(field);
  }
  const keys = [request.streamKey, request.headKey, ...indexKeys];
  let raw: unknown;
  try {
    raw = await redis.evalsha(appendSha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    raw = await redis.eval(appendLua, keys.length, ...keys, ...args);
  }
  const reply = ReplySchema.parse(raw);
  switch (reply[0]) {
    case 1:
      return { kind: 'committed', ids: reply[1] };
    case 0:
      return { kind: 'conflict', head: reply[1] };
    case 2:
      return { kind: 'landed', head: reply[1], ids: reply[2] };
  }
}
