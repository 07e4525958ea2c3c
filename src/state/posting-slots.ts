/**
 * Posting slots shared by every replica: one per `intervalMs` per key (a Slack channel), handed out
 * in the order they are asked for, on Redis's clock. A replica reserves the next free slot and
 * waits until it comes, so N replicas together post to one channel no faster than one replica
 * would (Slack allows about one message per second per channel).
 */
import type { Redis } from './redis.js';

/** Reserves the next posting slot for a key; resolves to how long to wait for it (ms, ≥ 0). */
export interface PostingSlots {
  reserve(key: string, intervalMs: number): Promise<number>;
}

// KEYS[1] the key's last reserved slot; ARGV[1] the interval in ms. TIME is Redis's clock, so the
// replicas' own clocks never matter. The key expires soon after its slot: no state is left behind.
const reserveLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]))
local slot = now
if last and last + interval > now then slot = last + interval end
redis.call('SET', KEYS[1], slot, 'PX', slot - now + interval)
return slot - now
`;

/** Slots kept under `<prefix>post-slot:<key>`. */
export function createPostingSlots(redis: Redis, prefix: string): PostingSlots {
  return {
    async reserve(key, intervalMs) {
      const waitMs = await redis.eval(reserveLua, 1, `${prefix}post-slot:${key}`, String(Math.max(1, Math.round(intervalMs))));
      return typeof waitMs === 'number' ? waitMs : 0;
    },
  };
}
