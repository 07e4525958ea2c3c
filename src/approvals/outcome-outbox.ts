/**
 * Writes that must follow an upstream execution even when Redis is away at that moment: the
 * outcome record (status, kept result) and its `executed` audit event, then the channels'
 * notification. The agent already has its result; these wait here, in memory and in order, and
 * are retried with backoff until Redis answers again (at once when the connection comes back).
 * The queue is bounded: past `capacity` the oldest entry is given up; so is whatever is left when
 * shutdown's deadline passes. Each one given up is logged in full at error level and counted.
 */
import type { Logger } from '../log.js';

/** One execution's pending writes, done in order; each step is idempotent (safe to repeat). */
export interface OutboxEntry {
  /** For logs: the approval and attempt. */
  label: string;
  steps: Array<{ name: string; run(): Promise<void> }>;
  /** Everything needed to reconstruct the outcome by hand, logged if the entry is given up. */
  content: Record<string, unknown>;
}

export interface OutcomeOutboxOptions {
  log: Logger;
  /** Most entries held while Redis is away. */
  capacity: number;
  /** Told of each entry given up (for metrics). */
  onAbandoned?(): void;
  /** First retry delay, doubling up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

interface Pending {
  entry: OutboxEntry;
  /** Steps already done. */
  done: number;
}

export class OutcomeOutbox {
  private readonly options: OutcomeOutboxOptions;
  private readonly queue: Pending[] = [];
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private closing = false;

  constructor(options: OutcomeOutboxOptions) {
    this.options = options;
  }

  /** Entries waiting for Redis. */
  get size(): number {
    return this.queue.length;
  }

  /**
   * Runs the entry's steps now, in order. Returns once the first step is done or has failed (the
   * caller waits for the outcome record, not for the rest); whatever is left goes on in the
   * background, retried until it succeeds. Never throws.
   */
  async submit(entry: OutboxEntry): Promise<void> {
    const pending: Pending = { entry, done: 0 };
    if (this.queue.length === 0) {
      const first = entry.steps[0];
      if (first) {
        try {
          await first.run();
          pending.done = 1;
        } catch (error) {
          this.options.log.warn({ entry: entry.label, step: first.name, err: (error as Error).message }, 'outcome write failed; kept in memory and retried');
        }
      }
      if (pending.done === entry.steps.length) return;
    }
    this.enqueue(pending);
  }

  /** Retry now (the connection came back). */
  kick(): void {
    this.wake?.();
  }

  /** Finishes what it can before `deadlineMs`; gives up (and reports) the rest. */
  async drain(deadlineMs: number): Promise<void> {
    this.closing = true;
    if (this.running) {
      this.kick();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.running, new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)))]);
      clearTimeout(timer);
    }
    for (const pending of this.queue.splice(0)) this.abandon(pending, 'the gateway shut down before Redis came back');
    this.kick();
  }

  private enqueue(pending: Pending): void {
    if (this.closing) {
      this.abandon(pending, 'the gateway is shutting down');
      return;
    }
    this.queue.push(pending);
    while (this.queue.length > this.options.capacity) {
      const oldest = this.queue.shift();
      if (oldest) this.abandon(oldest, `more than ${this.options.capacity} outcomes waiting for Redis`);
    }
    this.running ??= this.work().finally(() => {
      this.running = undefined;
    });
  }

  private async work(): Promise<void> {
    let delayMs = this.options.backoffMs ?? 250;
    for (;;) {
      const head = this.queue[0];
      if (!head) return;
      const step = head.entry.steps[head.done];
      if (!step) {
        this.queue.shift();
        continue;
      }
      try {
        await step.run();
        head.done += 1;
        delayMs = this.options.backoffMs ?? 250;
        if (head.done === head.entry.steps.length) {
          this.queue.shift();
          this.options.log.info({ entry: head.entry.label }, 'outcome written after a state store outage');
        }
      } catch {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, delayMs);
          function done() {
            clearTimeout(timer);
            resolve();
          }
          this.wake = done;
        });
        this.wake = undefined;
        if (this.queue.length === 0) return;
        delayMs = Math.min(delayMs * 2, this.options.maxBackoffMs ?? 5_000);
      }
    }
  }

  private abandon(pending: Pending, why: string): void {
    this.options.onAbandoned?.();
    const left = pending.entry.steps.slice(pending.done).map((s) => s.name);
    this.options.log.error(
      { entry: pending.entry.label, why, notWritten: left, outcome: pending.entry.content },
      'outcome given up: not recorded; it is in this log line',
    );
  }
}
