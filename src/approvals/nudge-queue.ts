/**
 * Reminders and escalation steps of a held call, as BullMQ delayed jobs: when the call is held,
 * one job per `settings.remind` fraction (due at that fraction of the timeout) and one per
 * `settings.escalate` step (due `afterMs` after the request). Job ids are derived from the
 * approval id and the step (`<id>-remind-0`), so scheduling twice — a retry, a second replica —
 * adds nothing, and exactly one worker on one replica processes each job. A decision removes
 * them all; the worker's step (`approval-service` `nudge`) records each one in Redis only while
 * the call is still pending and only once, so none is told twice or after a decision.
 */
import { z } from 'zod';
import type { Logger } from '../log.js';
import { QueueAndWorker } from './queue-connections.js';
import type { HeldRequest } from './types.js';

export const nudgeQueueName = 'approval-nudges';

const NudgeSchema = z.object({ approvalId: z.string(), kind: z.enum(['remind', 'escalate']), index: z.number().int().min(0) });
export type Nudge = z.infer<typeof NudgeSchema>;

export interface NudgeQueueOptions {
  redisUrl: string;
  /** BullMQ key prefix, e.g. `airlock:bull`. */
  prefix: string;
  log: Logger;
  /** The worker's step when a reminder or escalation comes due. */
  run(nudge: Nudge): Promise<void>;
  runWorker: boolean;
}

/** The stable job id of one step (BullMQ ids may not contain ":"). */
export function nudgeJobId(nudge: Nudge): string {
  return `${nudge.approvalId}-${nudge.kind}-${nudge.index}`;
}

/** Every step a held call schedules, with its delay from the request; steps at or after the timeout are left out. */
export function nudgesOf(request: HeldRequest): Array<{ nudge: Nudge; delayMs: number }> {
  const { timeoutMs, remind = [], escalate = [] } = request.settings;
  const out: Array<{ nudge: Nudge; delayMs: number }> = [];
  remind.forEach((fraction, index) => out.push({ nudge: { approvalId: request.id, kind: 'remind', index }, delayMs: Math.round(fraction * timeoutMs) }));
  escalate.forEach((step, index) => out.push({ nudge: { approvalId: request.id, kind: 'escalate', index }, delayMs: step.afterMs }));
  return out.filter((entry) => entry.delayMs < timeoutMs);
}

export class NudgeQueue {
  private readonly options: NudgeQueueOptions;
  private readonly jobs: QueueAndWorker;

  constructor(options: NudgeQueueOptions) {
    this.options = options;
    this.jobs = new QueueAndWorker({
      ...options,
      name: nudgeQueueName,
      label: 'nudge',
      concurrency: 10,
      process: (job) => options.run(NudgeSchema.parse(job.data)),
      onFailed: (job, error) => options.log.error({ job: job?.id, err: error.message }, 'a reminder or escalation step failed'),
    });
  }

  start(): Promise<void> {
    return this.jobs.start();
  }

  close(): Promise<void> {
    return this.jobs.close();
  }

  /** Schedules the held call's reminders and escalation steps; a step already scheduled is left as it is. */
  async schedule(request: HeldRequest): Promise<void> {
    const queue = this.jobs.queue;
    for (const { nudge, delayMs } of nudgesOf(request)) {
      await queue.add(nudge.kind, nudge, {
        jobId: nudgeJobId(nudge),
        delay: Math.max(0, delayMs),
        attempts: 5,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: { age: 86_400 },
        removeOnFail: { age: 7 * 86_400 },
      });
    }
  }

  /** Removes the steps still waiting (a decision ends them all); one already running finds the call decided and does nothing. */
  async cancel(request: HeldRequest): Promise<void> {
    const queue = this.jobs.queue;
    for (const { nudge } of nudgesOf(request)) {
      try {
        const job = await queue.getJob(nudgeJobId(nudge));
        if (job && (await job.isDelayed())) await job.remove();
      } catch (error) {
        this.options.log.debug(
          { job: nudgeJobId(nudge), err: (error as Error).message },
          'could not remove a reminder job; its worker will find the call decided',
        );
      }
    }
  }
}
