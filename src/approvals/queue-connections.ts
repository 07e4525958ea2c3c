/**
 * The Redis connections of BullMQ queues and workers: each opened by name in blocking mode (BullMQ
 * needs `maxRetriesPerRequest: null` and waits out outages), all disconnected together on close.
 * The hold, reminder and notification queues each keep one.
 */
import type { Logger } from '../log.js';
import { createRedis, type Redis } from '../state/redis.js';

export class QueueConnections {
  private readonly opened: Redis[] = [];

  constructor(
    private readonly redisUrl: string,
    private readonly log: Logger,
  ) {}

  /** A new connection named `name` (as CLIENT LIST shows it). */
  open(name: string): Redis {
    const redis = createRedis(this.redisUrl, { name, mode: 'blocking', log: this.log });
    this.opened.push(redis);
    return redis;
  }

  /** Disconnects every connection opened so far; call after the queues and workers are closed. */
  disconnectAll(): void {
    for (const redis of this.opened.splice(0)) redis.disconnect();
  }
}
