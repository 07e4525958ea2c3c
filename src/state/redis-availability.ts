/**
 * The gateway's view of whether Redis is there: one log line per change (not one per ioredis
 * retry), the reason for /readyz, a callback when it comes back, and a way to wait for it that
 * gives up when the gateway closes.
 */
import type { Logger } from '../log.js';
import { redactRedisUrl, watchRedisAvailability, type Redis } from './redis.js';

export class RedisAvailability {
  private readonly redis: Redis;
  private readonly url: string;
  private readonly log: Logger;
  private availableValue: boolean | undefined;
  private problemValue = 'not connected yet';
  private stopped = false;
  private readonly stop: () => void;

  /** `onBack` runs each time Redis answers again (and the first time it answers). */
  constructor(redis: Redis, url: string, log: Logger, onBack: () => void) {
    this.redis = redis;
    this.url = redactRedisUrl(url);
    this.log = log;
    this.stop = watchRedisAvailability(redis, (available, reason) => {
      if (this.stopped) return;
      this.change(available, reason);
      if (available) onBack();
    });
  }

  /** True when it answered last, false when it is known to be away, undefined before the first attempt ends. */
  get available(): boolean | undefined {
    return this.availableValue;
  }

  /** Where and why not, for /readyz. */
  describeOutage(): string {
    return `not reachable at ${this.url} (${this.problemValue}); rate-limited and held tools are refused until it is`;
  }

  /** Resolves when the connection is ready; rejects when `signal` aborts first. */
  untilReady(signal: AbortSignal): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onReady = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.redis.off('ready', onReady);
        reject(new Error('closed before Redis answered'));
      };
      this.redis.once('ready', onReady);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops reporting (at shutdown, a dropped connection is expected). */
  close(): void {
    this.stopped = true;
    this.stop();
  }

  private change(available: boolean, reason: string | undefined): void {
    const first = this.availableValue === undefined;
    this.availableValue = available;
    if (!available) {
      this.problemValue = reason ?? 'unreachable';
      this.log.warn(
        { url: this.url, reason: this.problemValue },
        `redis ${first ? 'not reachable' : 'connection lost'}: rate-limited and held tools are refused (state_store_unavailable) and audit events wait, until it answers; retrying in the background`,
      );
      return;
    }
    this.problemValue = 'not connected';
    this.log.info({ url: this.url }, first ? 'redis connected' : 'redis reachable again: rate limits, holds and audit work again');
  }
}
