/**
 * The one rule for talking to the state store (Redis) on the call path: every operation has a
 * deadline, and any Redis fault becomes `state_store_unavailable` — a server fault with a message
 * an agent can act on. Callers apply fail-closed (the default) or the policy's `on_state_error`.
 */
import { AirlockError } from '../errors.js';
import { isRedisConnectionError } from './redis.js';

/** How long one state-store operation may take before the call is refused. */
export const stateStoreDeadlineMs = 3_000;

/** Runs a state-store operation with a deadline; a Redis fault becomes `state_store_unavailable`. */
export async function withStateStore<T>(run: () => Promise<T>, deadlineMs = stateStoreDeadlineMs): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StateStoreTimeout(deadlineMs)), deadlineMs);
      }),
    ]);
  } catch (error) {
    if (error instanceof AirlockError) throw error;
    throw stateStoreUnavailable(error);
  } finally {
    clearTimeout(timer);
  }
}

/** The deadline of one state-store operation passed. */
class StateStoreTimeout extends Error {
  constructor(deadlineMs: number) {
    super(`no answer within ${deadlineMs} ms`);
    this.name = 'StateStoreTimeout';
  }
}

/**
 * Why the state store failed, in our own words: agents never see a client library's internals
 * ("Stream isn't writeable…"); the original error stays in `cause` for the gateway's log.
 */
export function describeStateStoreFault(cause: unknown): string {
  if (cause instanceof StateStoreTimeout) return "Airlock's state store (Redis) did not answer in time";
  if (isRedisConnectionError(cause)) return 'Airlock cannot reach its state store (Redis) right now';
  return "Airlock's state store (Redis) failed the operation";
}

export function stateStoreUnavailable(cause: unknown): AirlockError {
  return new AirlockError(
    'state_store_unavailable',
    `${describeStateStoreFault(cause)}, so this call cannot be checked or held; nothing was forwarded. Retry in a few seconds; if it keeps failing, tell the Airlock operator.`,
    { retryAfterSec: 5, cause },
  );
}
