/**
 * The hold itself: each held call is a BullMQ job added with `delay` = its approval timeout, so
 * the delay *is* the expiry timer and nothing is active (no lock to expire, no stalled job) while
 * a person decides. A decision promotes the job; whichever replica's worker then processes it
 * finalises it once (approved, denied or expired), and the replica holding the agent's request
 * learns the outcome through QueueEvents, not through memory.
 */
import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
import type { Logger } from '../log.js';
import { createRedis, redisClientErrorLogger, type Redis } from '../state/redis.js';
import { HeldRequestSchema, type ApprovalStatus, type HeldRequest } from './types.js';

export const holdQueueName = 'approvals';

export interface HoldQueueOptions {
  redisUrl: string;
  /** BullMQ key prefix, e.g. `airlock:bull`. */
  prefix: string;
  log: Logger;
  /** Called by the worker when a held job comes due (decided, or its timeout passed); returns the final status. */
  finalize(request: HeldRequest): Promise<ApprovalStatus>;
  /** Run the worker in this process (every gateway replica does; the CLI does not). */
  runWorker: boolean;
}

type Listener = (status: string) => void;

export class HoldQueue {
  private readonly options: HoldQueueOptions;
  private readonly connections: Redis[] = [];
  private queue: Queue | undefined;
  private worker: Worker | undefined;
  private events: QueueEvents | undefined;
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(options: HoldQueueOptions) {
    this.options = options;
  }

  private connection(name: string): Redis {
    const redis = createRedis(this.options.redisUrl, { name, mode: 'blocking', log: this.options.log });
    this.connections.push(redis);
    return redis;
  }

  async start(): Promise<void> {
    const { prefix } = this.options;
    this.queue = new Queue(holdQueueName, { connection: this.connection('airlock:hold-queue'), prefix });
    this.queue.on('error', redisClientErrorLogger(this.options.log, 'hold queue error'));
    if (!this.options.runWorker) return;
    this.events = new QueueEvents(holdQueueName, { connection: this.connection('airlock:hold-events'), prefix });
    this.events.setMaxListeners(0);
    this.events.on('error', redisClientErrorLogger(this.options.log, 'hold queue events error'));
    this.events.on('completed', ({ jobId, returnvalue }) => this.emitOutcome(jobId, String(returnvalue)));
    this.worker = new Worker(holdQueueName, (job: Job) => this.process(job), {
      connection: this.connection('airlock:hold-worker'),
      prefix,
      concurrency: 50,
    });
    this.worker.on('error', redisClientErrorLogger(this.options.log, 'hold worker error'));
    this.worker.on('failed', (job, error) => this.options.log.error({ approval: job?.id, err: error.message }, 'finalising a held call failed'));
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady(), this.worker.waitUntilReady()]);
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.events?.close();
    await this.queue?.close();
    for (const redis of this.connections) redis.disconnect();
  }

  /** Adds the held call; `delayMs` until it comes due as expired unless decided first. */
  async add(request: HeldRequest, delayMs: number): Promise<void> {
    const queue = this.requireQueue();
    await queue.add('held-call', request, {
      jobId: request.id,
      delay: Math.max(0, delayMs),
      attempts: 5,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: { age: 3_600 },
      removeOnFail: { age: 7 * 86_400 },
    });
  }

  /** Makes a decided job due now. Losing the race (already promoted or processed) is fine. */
  async promote(id: string): Promise<void> {
    const job = await this.requireQueue().getJob(id);
    if (!job) return;
    try {
      await job.promote();
    } catch {
      // Not delayed any more: another replica promoted it, or its timeout already fired.
    }
  }

  /**
   * Calls `listener` once when the held call's job completes (its final status). Returns an
   * unsubscribe function. The caller must re-check the record after subscribing: an outcome
   * that completed before this subscription is not replayed.
   */
  onOutcome(id: string, listener: Listener): () => void {
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

  /** Count of held calls this process is waiting on (for metrics and the benchmark). */
  get waitingCount(): number {
    return this.listeners.size;
  }

  async delayedCount(): Promise<number> {
    return this.requireQueue().getDelayedCount();
  }

  private emitOutcome(id: string, status: string): void {
    const set = this.listeners.get(id);
    if (!set) return;
    this.listeners.delete(id);
    for (const listener of set) listener(status);
  }

  private async process(job: Job): Promise<ApprovalStatus> {
    const request = HeldRequestSchema.parse(job.data);
    return this.options.finalize(request);
  }

  private requireQueue(): Queue {
    if (!this.queue) throw new Error('hold queue not started');
    return this.queue;
  }
}
