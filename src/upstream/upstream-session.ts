/**
 * One MCP session with one upstream server, at the JSON-RPC message level: the last step of every
 * relayed request. The relay opens one per agent session (so an upstream's sampling, elicitation,
 * roots, logging and subscriptions belong to exactly one agent) and the catalog opens one of its
 * own. Implementations: Streamable HTTP (http-upstream.ts) and stdio (stdio-upstream.ts).
 *
 * Guarantees to the caller: every request ends (response, or an `upstream_*` / `cancelled`
 * AirlockError) by its deadline; messages the upstream sends about a request reach `onRelated`
 * in the order sent and before the request resolves; nothing is retried on the caller's behalf.
 */
import type { JsonRpcErrorObject, JsonRpcId, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../mcp/jsonrpc.js';

/** What the upstream answered to `initialize`, as the relay needs it. */
export interface UpstreamInit {
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  serverInfo: Record<string, unknown>;
  instructions: string | undefined;
}

/** A message the upstream sent about one of our requests: progress, logging, or a request back to the client. */
export type RelatedMessage = JsonRpcNotification | JsonRpcRequest;

export interface SendOptions {
  /** The agent gave up (cancelled, disconnected): the upstream is told with notifications/cancelled. */
  signal?: AbortSignal | undefined;
  /** Deadline; restarted by each progress notification, never beyond ten times this in all. */
  timeoutMs: number;
  onRelated?: ((message: RelatedMessage) => void) | undefined;
  /** Canonical JSON text sent verbatim as `params.arguments` (see encodeRequest). */
  rawArguments?: string | undefined;
}

export interface UpstreamSession {
  readonly upstream: string;
  readonly init: UpstreamInit;
  /** True once closed by either side; requests then fail with `upstream_failed`. */
  readonly closed: boolean;
  /** Sends a request; resolves with the upstream's response (its id is this session's own). */
  request(method: string, params: Record<string, unknown> | undefined, options: SendOptions): Promise<JsonRpcResponse>;
  notify(method: string, params?: Record<string, unknown>): Promise<void>;
  /** Answers a request the upstream sent us (sampling, elicitation, roots/list …). */
  respond(id: JsonRpcId, answer: { result: Record<string, unknown> } | { error: JsonRpcErrorObject }): Promise<void>;
  /** Server-initiated messages tied to no request of ours (list_changed, resources/updated, logging). */
  onUnrelated: ((message: RelatedMessage) => void) | undefined;
  /** Opens the stream for server-initiated messages, where the transport has one (HTTP GET); idempotent. */
  listen(): void;
  /** Called once when the session ends without close() (child exited, upstream dropped it). */
  onClosed: ((reason: string) => void) | undefined;
  close(): Promise<void>;
}

/** The params the relay sends as `initialize` upstream: the agent's own, so capabilities are exact. */
export interface InitializeParams {
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  clientInfo: Record<string, unknown>;
  [key: string]: unknown;
}
