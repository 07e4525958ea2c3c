/**
 * The rate-limit contract: checked after policy and argument checks, before a call is forwarded
 * or held. One check covers every limit on a tool and is all-or-nothing: a call refused by one
 * limit uses up none of the others.
 */
import type { LimitSpec } from '../policy/types.js';

export interface LimitSubject {
  /** Agent (grant) name, for `scope: grant`. */
  agent: string;
  /** MCP session id, for `scope: session`. */
  sessionId: string;
}

export type LimitResult =
  | { admitted: true }
  | {
      admitted: false;
      /** The first limit that refused. */
      limit: LimitSpec;
      /** Calls counted in its window when refused. */
      count: number;
      /** When a retry can be admitted by this limit. */
      retryAfterMs: number;
    };

export interface RateLimiter {
  /**
   * Checks every limit and, only if all admit, counts the call in each. Throws when the state
   * store cannot be reached (the caller applies the policy's `on_state_error`).
   */
  check(limits: readonly LimitSpec[], subject: LimitSubject): Promise<LimitResult>;
}
