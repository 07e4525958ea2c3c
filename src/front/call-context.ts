/**
 * What travels with every governed request through the pipeline: who asked (agent, session), the
 * request's identity, the client's abort signal, a way to send progress back to it, and the way
 * out to the upstream on this agent's own session.
 */
import type { Agent } from '../identity/tokens.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';

export interface ProgressUpdate {
  progress: number;
  total?: number;
  message?: string;
}

export interface CallContext {
  agent: Agent;
  /** MCP session id (Streamable HTTP `Mcp-Session-Id`, or one per `airlock stdio` process). */
  sessionId: string;
  requestId: string | number;
  /** The client's progress token; progress is only sent when the client asked for it. */
  progressToken: string | number | undefined;
  /** Aborts when the client cancels (`notifications/cancelled`) or its HTTP connection closes. */
  signal: AbortSignal;
  sendProgress(update: ProgressUpdate): Promise<void>;
  /** W3C trace context from the agent, kept on the upstream call. */
  traceparent: string | undefined;
  /**
   * The client can wait for a held call until its approval timeout: it sent a progress token
   * (kept alive with progress) or asked for an MCP task. Otherwise a held call answers
   * "approval pending, retry" before typical client timeouts.
   */
  canWaitLong: boolean;
  /** The call is held for a person: its answer is made resumable from another replica (Streamable HTTP). */
  onHold?(): void;
  /**
   * Sends one request upstream on this agent's own session, with the agent's abort signal and the
   * upstream's deadline; what the upstream sends about it (progress, logging, sampling …) reaches
   * the agent on this request's stream. Resolves with the result; an upstream JSON-RPC error is
   * thrown as UpstreamRpcError (relayed verbatim), a transport fault as an `upstream_*` AirlockError.
   * `rawArguments` (canonical JSON) is sent verbatim as `params.arguments`.
   */
  forward(upstream: UpstreamConnection, method: string, params: Record<string, unknown>, rawArguments?: string): Promise<Record<string, unknown>>;
  /**
   * Asks the agent's own client (MCP `elicitation/create`, on this request's stream); present only
   * when the client declared the elicitation capability. Rejects when `signal` aborts or the
   * client answers an error.
   */
  elicit?(params: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>>;
}
