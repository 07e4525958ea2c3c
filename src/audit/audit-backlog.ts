/**
 * Audit events the gateway writes about itself (a policy loaded at start, a reload) when Redis may
 * not be there yet: written at once when it is, else kept in order in memory and written when it
 * answers again — so the startup `policy_loaded` of a gateway that started without Redis is not
 * lost. Bounded: beyond `max`, the oldest event goes to the log instead.
 */
import type { Logger } from '../log.js';
import type { AuditEventInput, AuditSink } from './types.js';

export interface AuditBacklogOptions {
  sink: AuditSink;
  log: Logger;
  /** Whether Redis looks ready now (write at once) — a failed write is queued anyway. */
  ready(): boolean;
  /** Whether Redis is known to be away (then queueing is worth an info line). */
  knownDown(): boolean;
  max?: number;
}

export class AuditBacklog {
  private readonly options: AuditBacklogOptions;
  private readonly queued: AuditEventInput[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(options: AuditBacklogOptions) {
    this.options = options;
  }

  /** Writes the event, or queues it when Redis cannot take it now; never throws. */
  async record(event: AuditEventInput): Promise<void> {
    if (this.queued.length === 0 && this.options.ready()) {
      try {
        await this.options.sink.append(event);
        return;
      } catch {
        // queued below, written when Redis answers again
      }
    }
    this.enqueue(event);
  }

  /** Writes the queued events in order; stops at the first failure (call again when Redis is back). */
  flush(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        for (let next = this.queued[0]; next !== undefined && !this.closed; next = this.queued[0]) {
          await this.options.sink.append(next);
          this.queued.shift();
        }
      } catch (error) {
        this.options.log.warn(
          { err: (error as Error).message, queued: this.queued.length },
          'queued audit events not written yet; retrying when Redis answers again',
        );
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  /** Stops writing; what was never written goes to the log, in full. */
  close(): void {
    this.closed = true;
    if (this.queued.length > 0) {
      this.options.log.error({ events: this.queued }, 'audit events never written (Redis was unreachable until shutdown); they are in this log line');
    }
  }

  private enqueue(event: AuditEventInput): void {
    if (this.queued.length >= (this.options.max ?? 1_000)) {
      this.options.log.error({ event: this.queued.shift() }, 'audit event dropped from the queue while Redis is unreachable; it is in this log line');
    }
    this.queued.push(event);
    // At start Redis is usually just connecting: worth a line only when it is known to be away.
    this.options.log[this.options.knownDown() ? 'info' : 'debug']({ event: event.type, queued: this.queued.length }, 'audit event queued until Redis answers');
    if (this.options.ready()) void this.flush();
  }
}
