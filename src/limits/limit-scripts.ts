/**
 * The Lua that makes rate limits exact: one script checks every limit of a call and counts it in
 * all of them, or in none, atomically on the Redis every replica shares. Sent as EVALSHA (one
 * round trip per check) with a fallback to EVAL when Redis answers NOSCRIPT — after a Redis
 * restart or on a fresh server — which loads it again.
 *
 * Why a hand-written sliding-window log and not rate-limiter-flexible: its Redis limiter is a
 * fixed window that starts at a key's first hit, so it admits up to 2×max across a window
 * boundary; it counts rejected hits, so a caller hammering a full limit keeps itself locked out;
 * and it checks one limit per call, so several limits on one tool cannot be checked and consumed
 * all-or-nothing. A sorted set of admission times per counter, trimmed and counted inside one
 * script on Redis's own clock, admits at most `max` calls in every window of length `windowSec`,
 * counts only admitted calls, and yields an exact retry-after.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A script's text and its SHA-1, the name EVALSHA knows it by. */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * KEYS[2i-1]: limit i's log (sorted set; member per admitted call, score = admission time in ms).
 * KEYS[2i]:   limit i's meta hash (windowMs, max, keepMs).
 * ARGV[1]: now in ms, or '' to use Redis's own clock (TIME). ARGV[2]: a unique member suffix.
 * ARGV[1+2i], ARGV[2+2i]: limit i's windowMs and max.
 * Returns {0} when admitted (then counted in every log), else {i, count, retryAfterMs} for the
 * first limit i that refused; a refused call is counted nowhere.
 *
 * keepMs is the longest window any limit naming this counter has used: entries are trimmed only
 * past it, so a shorter window sharing the counter never deletes entries a longer one still counts.
 */
export const checkScript = script(`
local n = #KEYS / 2
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local keep = {}
for i = 1, n do
  local meta = KEYS[2 * i]
  local windowMs = tonumber(ARGV[1 + 2 * i])
  if keep[meta] == nil then keep[meta] = tonumber(redis.call('HGET', meta, 'keepMs')) or 0 end
  if windowMs > keep[meta] then keep[meta] = windowMs end
end
for i = 1, n do
  local log = KEYS[2 * i - 1]
  local windowMs = tonumber(ARGV[1 + 2 * i])
  local max = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', log, '-inf', string.format('%d', now - keep[KEYS[2 * i]]))
  local since = '(' .. string.format('%d', now - windowMs)
  local count = redis.call('ZCOUNT', log, since, '+inf')
  if count >= max then
    -- The call is admitted again once count - max + 1 entries have left the window.
    local nth = redis.call('ZRANGEBYSCORE', log, since, '+inf', 'WITHSCORES', 'LIMIT', count - max, 1)
    local retryAfterMs = windowMs
    if nth[2] then retryAfterMs = tonumber(nth[2]) + windowMs - now end
    return {i, count, retryAfterMs}
  end
end
local member = string.format('%d', now) .. '-' .. ARGV[2]
for i = 1, n do
  local log = KEYS[2 * i - 1]
  local meta = KEYS[2 * i]
  redis.call('ZADD', log, now, member)
  redis.call('PEXPIRE', log, keep[meta])
  redis.call('HSET', meta, 'windowMs', ARGV[1 + 2 * i], 'max', ARGV[2 + 2 * i], 'keepMs', keep[meta])
  redis.call('PEXPIRE', meta, keep[meta])
end
return {0}
`);

/**
 * Read-only view for `airlock limits show`. KEYS as in checkScript (log, meta pairs); ARGV[1] now
 * or ''. Returns {now, then per pair: windowMs, max, count in window, oldest in window}, with -1
 * for what is unknown (no meta, empty window).
 */
export const inspectScript = script(`
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local out = {now}
for i = 1, #KEYS / 2 do
  local meta = redis.call('HMGET', KEYS[2 * i], 'windowMs', 'max')
  local windowMs = tonumber(meta[1])
  local max = tonumber(meta[2])
  if windowMs and max then
    local since = '(' .. string.format('%d', now - windowMs)
    local count = redis.call('ZCOUNT', KEYS[2 * i - 1], since, '+inf')
    local first = redis.call('ZRANGEBYSCORE', KEYS[2 * i - 1], since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    table.insert(out, windowMs)
    table.insert(out, max)
    table.insert(out, count)
    table.insert(out, tonumber(first[2]) or -1)
  else
    table.insert(out, -1)
    table.insert(out, -1)
    table.insert(out, 0)
    table.insert(out, -1)
  end
end
return out
`);

/** Runs a script in one round trip (EVALSHA); on NOSCRIPT sends its text (EVAL), which loads it. */
export async function evalScript(redis: Redis, { lua, sha }: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  try {
    return await redis.evalsha(sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return redis.eval(lua, keys.length, ...keys, ...args);
  }
}
