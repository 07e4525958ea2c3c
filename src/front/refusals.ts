/**
 * The rate-limit refusal an agent reads: which limit (counter, max, window, scope) refused the
 * call and when a retry can be admitted, plus `retryAfterSec` for programs.
 */
import { AirlockError } from '../errors.js';
import type { LimitResult } from '../limits/types.js';
import { formatDurationMs } from '../util/duration.js';

export function rateLimitedError(result: Extract<LimitResult, { admitted: false }>): AirlockError {
  const { limit, count, retryAfterMs } = result;
  const retryAfterSec = Math.max(1, Math.ceil(retryAfterMs / 1_000));
  const scope = limit.scope === 'grant' ? 'per agent' : limit.scope === 'session' ? 'per session' : 'for all agents together';
  return new AirlockError(
    'rate_limited',
    `Rate limit "${limit.counter}" reached: at most ${limit.max} calls per ${formatDurationMs(limit.windowSec * 1_000)} ${scope} (${count} already counted). Nothing was run or queued. Retry in ${retryAfterSec} s.`,
    { retryAfterSec, details: { counter: limit.counter, max: limit.max, windowSec: limit.windowSec, scope: limit.scope, count } },
  );
}
