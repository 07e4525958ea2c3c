/**
 * The one rule for talking to the state store (Redis) on the call path: every operation has a
 * deadline, and any Redis fault becomes `state_store_unavailable` — a server fault with a message
 * an agent can act on. Callers apply fail-closed (the default) or the policy's `on_state_error`.
 */
import { AirlockError } from '../errors.js';

/** How long one state-store operation may take before the call is refused. */
export const stateStoreDeadlineMs = 3_000;

/** Runs a state-store operation with a deadline; a Redis fault becomes `state_store_unavailable`. */
export async function withStateStore<T>(run: () => Promise<T>, deadlineMs = stateStoreDeadlineMs): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs);
      }),
    ]);
  } catch (error) {
    if (error instanceof AirlockError) throw error;
    throw stateStoreUnavailable(error);
  } finally {
    clearTimeout(timer);
  }
}

export function stateStoreUnavailable(cause: unknown): AirlockError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new AirlockError(
    'state_store_unavailable',
    `The gateway state store (Redis) is unavailable (${why}), so this call cannot be checked or held; nothing was forwarded. Retry in a few seconds.`,
    { retryAfterSec: 5, cause },
  );
}
