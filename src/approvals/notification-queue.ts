/**
 * Delivery of approval events to channels (Slack, …) through one BullMQ queue per channel, so a
 * channel outage delays its messages but never loses them and never blocks an agent's call. One
 * job at a time per channel keeps a burst of held calls in order; failures retry with exponential
 * backoff; a delivery that still fails is counted so /readyz and metrics can show it.
 */
import { Queue, Worker, type Job } from 'bullmq';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { redisClientErrorLogger, type Redis } from '../state/redis.js';
import { QueueConnections } from './queue-connections.js';
import { approvalEventKinds, type ApprovalEventKind, type ApprovalNotifier, type ApprovalRecord } from './types.js';

const NotificationSchema = z.object({
  kind: z.enum(approvalEventKinds),
  approvalId: z.string(),
});

export interface NotificationQueueOptions {
  redisUrl: string;
  prefix: string;
  log: Logger;
  load(id: string): Promise<ApprovalRecord | undefined>;
  /** Run workers in this process (gateway replicas do; the CLI only enqueues). */
  runWorkers: boolean;
  /** Told of each notification given up on (for metrics). */
  onGiveUp?(channel: string): void;
  attempts?: number;
}

/**
 * Thrown by a notifier to ask for a retry after a given time (e.g. Slack's 429 `Retry-After`),
 * instead of the exponential backoff.
 */
export class RetryLaterError extends Error {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

interface Channel {
  queue: Queue;
  worker: Worker | undefined;
}

export class NotificationQueue {
  private readonly options: NotificationQueueOptions;
  private readonly channels = new Map<string, Channel>();
  private readonly queues = new Map<string, Queue>();
  private readonly connections: QueueConnections;
  private shared: Redis | undefined;
  private failedDeliveries = 0;
  private lastFailure: string | undefined;

  constructor(options: NotificationQueueOptions) {
    this.options = options;
    this.connections = new QueueConnections(options.redisUrl, options.log);
  }

  /** Adds a channel; call before `start()` or after — its queue and worker start at once. */
  async register(notifier: ApprovalNotifier): Promise<void> {
    const queue = this.queueFor(notifier.name);
    // Announce the channel, so processes that run no workers (the CLI) still notify it.
    await this.sharedConnection().sadd(this.registryKey(), notifier.name);
    let worker: Worker | undefined;
    if (this.options.runWorkers) {
      const workerConnection = this.connections.open(`airlock:notify-${notifier.name}-worker`);
      worker = new Worker(`notify-${notifier.name}`, (job: Job) => this.deliver(notifier, job), {
        connection: workerConnection,
        prefix: this.options.prefix,
        concurrency: 1,
      });
      worker.on('error', redisClientErrorLogger(this.options.log, 'notification worker error', { channel: notifier.name }));
      worker.on('failed', (job, error) => {
        // A channel throws UnrecoverableError for what no retry can fix (unknown channel, bad token).
        if (job && (job.attemptsMade >= (job.opts.attempts ?? 1) || error.name === 'UnrecoverableError')) {
          this.failedDeliveries += 1;
          this.lastFailure = `${notifier.name}: ${error.message}`;
          this.options.onGiveUp?.(notifier.name);
          this.options.log.error(
            { channel: notifier.name, approval: (job.data as { approvalId?: string } | undefined)?.approvalId, err: error.message },
            'approval notification not delivered after retries; decide through the API, CLI or dashboard',
          );
        }
      });
      await worker.waitUntilReady();
    }
    this.channels.set(notifier.name, { queue, worker });
  }

  private registryKey(): string {
    return `${this.options.prefix}:airlock-channels`;
  }

  private sharedConnection(): Redis {
    this.shared ??= this.connections.open('airlock:notify');
    return this.shared;
  }

  private queueFor(channel: string): Queue {
    let queue = this.queues.get(channel);
    if (!queue) {
      queue = new Queue(`notify-${channel}`, { connection: this.sharedConnection(), prefix: this.options.prefix });
      queue.on('error', redisClientErrorLogger(this.options.log, 'notification queue error', { channel }));
      this.queues.set(channel, queue);
    }
    return queue;
  }

  /**
   * Queues one event for every channel any gateway registered; with `jobId`, an event queued
   * again under the same id is not queued twice. Never throws: a channel outage
   * (or Redis) must not fail the agent's call; the decision itself is already recorded.
   */
  async publish(kind: ApprovalEventKind, approvalId: string, options: { jobId?: string } = {}): Promise<void> {
    let names: string[];
    try {
      names = await this.sharedConnection().smembers(this.registryKey());
    } catch (error) {
      this.options.log.error({ approval: approvalId, kind, err: (error as Error).message }, 'could not list approval channels');
      return;
    }
    await Promise.all(
      names.map(async (name) => {
        const queue = this.queueFor(name);
        try {
          await queue.add(
            kind,
            { kind, approvalId },
            {
              ...(options.jobId ? { jobId: options.jobId } : {}),
              attempts: this.options.attempts ?? 8,
              backoff: { type: 'exponential', delay: 1_000 },
              removeOnComplete: { count: 1_000 },
              removeOnFail: { age: 7 * 86_400 },
            },
          );
        } catch (error) {
          this.options.log.error({ channel: name, approval: approvalId, kind, err: (error as Error).message }, 'could not queue an approval notification');
        }
      }),
    );
  }

  /** Deliveries given up after all retries since start (shown by /readyz and metrics). */
  health(): { failedDeliveries: number; lastFailure: string | undefined } {
    return { failedDeliveries: this.failedDeliveries, lastFailure: this.lastFailure };
  }

  async close(): Promise<void> {
    for (const channel of this.channels.values()) await channel.worker?.close();
    for (const queue of this.queues.values()) await queue.close();
    this.connections.disconnectAll();
  }

  private async deliver(notifier: ApprovalNotifier, job: Job): Promise<void> {
    const { kind, approvalId } = NotificationSchema.parse(job.data);
    const record = await this.options.load(approvalId);
    if (!record) return; // expired out of Redis: nothing left to show
    try {
      await notifier.notify(kind, record);
    } catch (error) {
      if (error instanceof RetryLaterError && job.token) {
        // Pause this channel's queue for the time the channel asked for, then retry the same job.
        await this.channels.get(notifier.name)?.worker?.rateLimit(error.retryAfterMs);
        throw Worker.RateLimitError();
      }
      throw error;
    }
  }
}
