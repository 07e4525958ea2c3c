/**
 * How a replica learns that a held call changed state on any replica: every state-changing script
 * appends `(id, status)` to one Redis stream, and each replica follows it with one blocking XREAD
 * on a connection of its own, waking the requests waiting on those ids. A stream (unlike pub/sub)
 * is read from the last id seen, so a reader that was slow misses nothing; after a reconnect every
 * waiter is told to re-read its record, so nothing is missed across an outage either.
 */
import type { Logger } from '../log.js';
import { createRedis, type Redis } from '../state/redis.js';

/** A status from the stream, or `resync`: the reader reconnected, re-read the record. */
export type ApprovalSignal = string;
type Listener = (signal: ApprovalSignal) => void;

/** Waits for changes of one held call; see `ApprovalEvents.waiter`. */
export interface Waiter {
  next(timeoutMs: number, signal: AbortSignal): Promise<void>;
  close(): void;
}

export interface ApprovalEventsOptions {
  redisUrl: string;
  /** The stream key (the store's `eventsKey`). */
  key: string;
  log: Logger;
  /** How long one XREAD blocks before it is sent again (a bound on shutdown time). */
  blockMs?: number;
}

export class ApprovalEvents {
  private readonly options: ApprovalEventsOptions;
  private readonly listeners = new Map<string, Set<Listener>>();
  private redis: Redis | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private lastId = '$';

  constructor(options: ApprovalEventsOptions) {
    this.options = options;
  }

  /** Connects and finds the end of the stream; from then on no change is missed. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const redis = createRedis(this.options.redisUrl, { name: 'airlock:approval-events', mode: 'blocking', log: this.options.log });
    this.redis = redis;
    let connectedBefore = false;
    redis.on('ready', () => {
      // After an outage the stream may have lost entries (Redis restarted without them): read on
      // from its end again, then let every waiter look at its record once.
      if (connectedBefore) this.lastId = '$';
      connectedBefore = true;
    });
    this.lastId = await this.endOfStream(redis);
    this.loop = this.read(redis);
  }

  async close(): Promise<void> {
    this.running = false;
    this.redis?.disconnect();
    await this.loop;
    this.resyncAll();
  }

  /**
   * Calls `listener` with each status the held call `id` moves to (and `resync` after a
   * reconnect) until unsubscribed. A change made before subscribing is not replayed: subscribe,
   * then read the record.
   */
  subscribe(id: string, listener: Listener): () => void {
    let set = this.listeners.get(id);
    if (!set) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(id);
      current?.delete(listener);
      if (current?.size === 0) this.listeners.delete(id);
    };
  }

  /**
   * Subscribes to `id` at once and returns a waiter whose `next()` resolves at the next change
   * (one that arrived since the last `next()` counts), after `timeoutMs`, or when `signal` aborts.
   * Subscribe first, then read the record, then wait: no change can fall in between.
   */
  waiter(id: string): Waiter {
    let signalled = false;
    let wake: (() => void) | undefined;
    const unsubscribe = this.subscribe(id, () => {
      signalled = true;
      wake?.();
    });
    return {
      next: (timeoutMs, signal) =>
        new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            wake = undefined;
            signalled = false;
            resolve();
          };
          const timer = setTimeout(done, Math.max(0, timeoutMs));
          signal.addEventListener('abort', done, { once: true });
          wake = done;
          if (signalled || signal.aborted) done();
        }),
      close: unsubscribe,
    };
  }

  /** Held calls this replica is waiting on. */
  get waitingCount(): number {
    return this.listeners.size;
  }

  private resyncAll(): void {
    for (const set of [...this.listeners.values()]) for (const listener of [...set]) listener('resync');
  }

  private async read(redis: Redis): Promise<void> {
    while (this.running) {
      try {
        if (this.lastId === '$') {
          this.lastId = await this.endOfStream(redis);
          this.resyncAll();
        }
        // null on timeout, else [[key, [[id, [field, value, …]], …]]]
        const reply = await redis.xread('COUNT', 1_000, 'BLOCK', this.options.blockMs ?? 5_000, 'STREAMS', this.options.key, this.lastId);
        for (const [, entries] of reply ?? []) {
          for (const [entryId, fields] of entries) {
            this.lastId = entryId;
            this.dispatch(fields);
          }
        }
      } catch (error) {
        if (!this.running) return;
        this.options.log.debug({ err: (error as Error).message }, 'approval events read failed; retrying');
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** The id of the newest entry, so reading goes on from there (`$` would miss entries between two reads). */
  private async endOfStream(redis: Redis): Promise<string> {
    const last = await redis.xrevrange(this.options.key, '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? '0-0';
  }

  private dispatch(fields: string[]): void {
    let id: string | undefined;
    let status: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 'id') id = fields[i + 1];
      else if (fields[i] === 'status') status = fields[i + 1];
    }
    if (id === undefined || status === undefined) return;
    const set = this.listeners.get(id);
    if (!set) return;
    for (const listener of [...set]) listener(status);
  }
}
