/**
 * Keeps Airlock under Slack's posting rate (about one message per second per channel): calls for
 * the same key run one after another, each starting at least `intervalMs` after the previous one
 * started, in the order they were asked for. A burst of held calls is therefore delivered in
 * order and none is refused by Slack; other keys (channels) are not held up. With `shared`
 * posting slots (Redis), every replica takes its turn from one sequence per key, so several
 * replicas together keep the same pace. A slot is reserved when the post is asked for, not when
 * its turn comes, so posts leave in the order they were asked for across replicas too (unless
 * Slack answers slower than the interval). If the slots cannot be reached, the local pace still
 * holds (posting is not a rule to fail closed on: Slack's 429 and our retry cover the rest).
 */
import type { PostingSlots } from '../state/posting-slots.js';

export interface Pacer {
  /** Runs `task` when the key's interval has passed since its previous task; FIFO per key. */
  run<T>(key: string, task: () => Promise<T>): Promise<T>;
}

export interface PacerOptions {
  intervalMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Slots shared by all replicas; without them the pace is this process's only. */
  shared?: PostingSlots;
  /** Called when the shared slots could not be reserved (the post goes ahead on the local pace). */
  onSharedError?: (error: unknown) => void;
}

interface Lane {
  lastStartedAt: number;
  tail: Promise<unknown>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Creates a per-key pacer; lanes are small (one timestamp per Slack channel ever used). */
export function createPacer(options: PacerOptions): Pacer {
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? realSleep;
  const lanes = new Map<string, Lane>();
  /** When this process may start the post: its shared slot's time on the local clock (now, without slots). */
  const reserveShared = async (key: string): Promise<number> => {
    if (!options.shared) return now();
    try {
      const waitMs = await options.shared.reserve(key, options.intervalMs);
      return now() + waitMs;
    } catch (error) {
      options.onSharedError?.(error);
      return now();
    }
  };
  return {
    run<T>(key: string, task: () => Promise<T>): Promise<T> {
      let lane = lanes.get(key);
      if (!lane) {
        lane = { lastStartedAt: Number.NEGATIVE_INFINITY, tail: Promise.resolve() };
        lanes.set(key, lane);
      }
      const current = lane;
      const slot = reserveShared(key); // taken now: the shared sequence follows the order of asking
      const result = current.tail.then(async () => {
        const waitMs = current.lastStartedAt + options.intervalMs - now();
        if (waitMs > 0) await sleep(waitMs);
        const sharedWaitMs = (await slot) - now();
        if (sharedWaitMs > 0) await sleep(sharedWaitMs);
        current.lastStartedAt = now();
        return task();
      });
      current.tail = result.catch(() => undefined);
      return result;
    },
  };
}
