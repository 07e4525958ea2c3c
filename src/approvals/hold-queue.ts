/**
 * The hold itself: each held call is a BullMQ job added with `delay` = its approval timeout, so
 * the delay *is* the expiry timer and nothing is active (no lock to expire, no stalled job) while
 * a person decides. A decision promotes the job; whichever replica's worker then processes it
 * finalises it once (approved, denied or expired). The replica holding the agent's request learns
 * each state change from the approvals' events stream (approval-events.ts), not from memory.
 */
import type { Job } from 'bullmq';
import type { Logger } from '../log.js';
import { QueueAndWorker } from './queue-connections.js';
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

export class HoldQueue {
  private readonly options: HoldQueueOptions;
  private readonly jobs: QueueAndWorker;

  constructor(options: HoldQueueOptions) {
    this.options = options;
    this.jobs = new QueueAndWorker({
      ...options,
      name: holdQueueName,
      label: 'hold',
      concurrency: 50,
      process: (job) => this.process(job),
      onFailed: (job, error) => options.log.error({ approval: job?.id, err: error.message }, 'finalising a held call failed'),
    });
  }

  start(): Promise<void> {
    return this.jobs.start();
  }

  close(): Promise<void> {
    return this.jobs.close();
  }

  /** Adds the held call; `delayMs` until it comes due as expired unless decided first. */
  async add(request: HeldRequest, delayMs: number): Promise<void> {
    const queue = this.jobs.queue;
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
    const job = await this.jobs.queue.getJob(id);
    if (!job) return;
    try {
      await job.promote();
    } catch {
      // Not delayed any more: another replica promoted it, or its timeout already fired.
    }
  }

  async delayedCount(): Promise<number> {
    return this.jobs.queue.getDelayedCount();
  }

  private async process(job: Job): Promise<ApprovalStatus> {
    const request = HeldRequestSchema.parse(job.data);
    return this.options.finalize(request);
  }
}
