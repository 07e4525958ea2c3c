/**
 * Keys remembered across replicas for a while, each claimable once: what lets a channel refuse a
 * replayed request however many replicas receive it. One `SET key 1 NX PX ttl` per claim (atomic
 * in Redis), under the deadline of every state-store operation; when Redis cannot answer the
 * claim fails with `state_store_unavailable`, so a caller fails closed.
 */
import type { OnceStore } from '../channel-plugin.js';
import type { Redis } from './redis.js';
import { withStateStore } from './state-store.js';

/** A OnceStore on Redis under `keyPrefix`. */
export function redisOnceStore(redis: Redis, keyPrefix: string): OnceStore {
  return {
    async claim(key, ttlMs) {
      const answer = await withStateStore(() => redis.set(`${keyPrefix}${key}`, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'));
      return answer === 'OK';
    },
  };
}
