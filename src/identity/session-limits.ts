/**
 * Caps on open MCP sessions, checked before a session is created: at most
 * `http.maxSessionsPerAgent` per agent and `http.maxSessions` in total on this replica. Each
 * session holds an SDK server, a transport and its buffers, so an agent token opening thousands
 * would otherwise grow the gateway's memory without bound (idle ones only close after
 * `http.sessionIdleTimeout`). Counts are per replica, like the sessions themselves.
 */
import { AirlockError } from '../errors.js';

export interface SessionLimitSettings {
  /** Most sessions one agent may hold open on this replica. */
  maxSessionsPerAgent: number;
  /** Most sessions this replica holds for all agents together. */
  maxSessions: number;
  /** Idle sessions close after this long; named in refusals so an agent knows when room frees up. */
  sessionIdleTimeoutMs?: number;
}

/** Either room for one more session (now counted), or the refusal naming the limit. */
export type SessionAdmission = { ok: true } | { ok: false; error: AirlockError };

/** Seconds an agent is told to wait before trying to open another session. */
const retryAfterSec = 30;

/** Counts open sessions per agent; `tryOpen` counts one in, `closed` counts it out. */
export class SessionLimits {
  private readonly perAgent = new Map<string, number>();
  private open = 0;

  constructor(private readonly settings: SessionLimitSettings) {}

  /** Counts a new session for `agent` when both limits have room; else the error to answer with. */
  tryOpen(agent: string): SessionAdmission {
    const { maxSessionsPerAgent, maxSessions } = this.settings;
    const mine = this.perAgent.get(agent) ?? 0;
    const idle =
      this.settings.sessionIdleTimeoutMs === undefined ? '' : ` Idle sessions close after ${Math.round(this.settings.sessionIdleTimeoutMs / 1_000)} s.`;
    if (mine >= maxSessionsPerAgent) {
      return {
        ok: false,
        error: new AirlockError(
          'too_many_sessions',
          `Agent "${agent}" already has ${mine} open MCP sessions, the most allowed (http.maxSessionsPerAgent = ${maxSessionsPerAgent}). Reuse an open session, or end the ones you no longer need (DELETE /mcp with their Mcp-Session-Id) and retry.${idle}`,
          { retryAfterSec, details: { limit: 'http.maxSessionsPerAgent', max: maxSessionsPerAgent, open: mine } },
        ),
      };
    }
    if (this.open >= maxSessions) {
      return {
        ok: false,
        error: new AirlockError(
          'session_capacity',
          `This gateway holds ${this.open} open MCP sessions, its limit (http.maxSessions = ${maxSessions}); no new session can start now. Retry in ${retryAfterSec} s (another replica may have room).${idle}`,
          { retryAfterSec, details: { limit: 'http.maxSessions', max: maxSessions, open: this.open } },
        ),
      };
    }
    this.perAgent.set(agent, mine + 1);
    this.open += 1;
    return { ok: true };
  }

  /** Counts out a session that `tryOpen` admitted (call once per session, when it ends). */
  closed(agent: string): void {
    const mine = this.perAgent.get(agent) ?? 0;
    if (mine <= 0) return;
    if (mine === 1) this.perAgent.delete(agent);
    else this.perAgent.set(agent, mine - 1);
    this.open -= 1;
  }

  /** Sessions open on this replica, in total or for one agent. */
  count(agent?: string): number {
    return agent === undefined ? this.open : (this.perAgent.get(agent) ?? 0);
  }
}
