/**
 * The Redis connections of BullMQ queues and workers: each opened by name in blocking mode (BullMQ
 * needs `maxRetriesPerRequest: null` and waits out outages), all disconnected together on close.
 * The hold, reminder and notification queues each keep one.
 */
import { Queue, Worker, type Job } from 'bullmq';
import type { Logger } from '../log.js';
import { createRedis, redisClientErrorLogger, type Redis } from '../state/redis.js';

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

export interface QueueAndWorkerOptions {
  name: string;
  redisUrl: string;
  /** BullMQ key prefix, e.g. `airlock:bull`. */
  prefix: string;
  log: Logger;
  /** Names the connections (`airlock:<label>-queue`, `airlock:<label>-worker`) and the log lines. */
  label: string;
  /** Run a worker in this process (every gateway replica does; the CLI does not). */
  runWorker: boolean;
  concurrency: number;
  process(job: Job): Promise<unknown>;
  /** The log line for a job whose processing failed. */
  onFailed(job: Job | undefined, error: Error): void;
}

/**
 * A BullMQ queue and, where wanted, its worker, on connections of their own: started together,
 * closed together (worker first), their connection errors logged. What the hold and reminder
 * queues share; each adds its own jobs and processing.
 */
export class QueueAndWorker {
  private readonly options: QueueAndWorkerOptions;
  private readonly connections: QueueConnections;
  private queueValue: Queue | undefined;
  private worker: Worker | undefined;

  constructor(options: QueueAndWorkerOptions) {
    this.options = options;
    this.connections = new QueueConnections(options.redisUrl, options.log);
  }

  /** The queue; throws before start(). */
  get queue(): Queue {
    if (!this.queueValue) throw new Error(`${this.options.label} queue not started`);
    return this.queueValue;
  }

  async start(): Promise<void> {
    const { name, prefix, log, label } = this.options;
    const queue = new Queue(name, { connection: this.connections.open(`airlock:${label}-queue`), prefix });
    this.queueValue = queue;
    queue.on('error', redisClientErrorLogger(log, `${label} queue error`));
    if (!this.options.runWorker) return;
    const worker = new Worker(name, (job: Job) => this.options.process(job), {
      connection: this.connections.open(`airlock:${label}-worker`),
      prefix,
      concurrency: this.options.concurrency,
    });
    this.worker = worker;
    worker.on('error', redisClientErrorLogger(log, `${label} worker error`));
    worker.on('failed', (job, error) => this.options.onFailed(job, error));
    await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queueValue?.close();
    this.connections.disconnectAll();
  }
}
