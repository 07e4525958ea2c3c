/**
 * The one place that speaks MCP's wire for errors. Outcomes an agent should reason about (policy
 * denial, rate limit, approval denied, upstream down) become tool results with `isError: true`,
 * readable text and a machine-readable `_meta["airlock/error"]`; protocol faults and refusals of
 * other methods (resources, prompts, completions) become JSON-RPC errors. An upstream's own
 * JSON-RPC error passes through unchanged: the gateway is transparent.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AirlockError, isAirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { JsonRpcErrorObject, JsonRpcId, JsonRpcResponse } from '../mcp/jsonrpc.js';
import { isRedisConnectionError } from '../state/redis.js';
import { stateStoreUnavailable } from '../state/state-store.js';

/** Key under a tool result's `_meta` carrying `{code, retryAfterSec, …details}`. */
export const errorMetaKey = 'airlock/error';

export interface ErrorMeta {
  code: string;
  retryAfterSec?: number;
  [detail: string]: unknown;
}

/** An upstream answered a relayed request with a JSON-RPC error: relayed to the agent verbatim. */
export class UpstreamRpcError extends Error {
  readonly error: JsonRpcErrorObject;

  constructor(error: JsonRpcErrorObject) {
    super(error.message);
    this.name = 'UpstreamRpcError';
    this.error = error;
  }
}

/** A tool result the agent (an LLM) reads: what happened, why, what to do. */
export function toolErrorResult(error: AirlockError): CallToolResult {
  const meta: ErrorMeta = { ...error.details, code: error.code };
  if (error.retryAfterSec !== undefined) meta.retryAfterSec = error.retryAfterSec;
  return {
    isError: true,
    content: [{ type: 'text', text: error.message }],
    _meta: { [errorMetaKey]: meta },
  };
}

/**
 * Maps anything a tools/call step threw to the agent's answer. An upstream's own JSON-RPC error is
 * rethrown as is (the gateway is transparent); everything else is a tool error result.
 */
export function callErrorToResult(error: unknown, log?: Logger): CallToolResult {
  if (error instanceof UpstreamRpcError) throw error;
  const airlock = agentFacingError(error);
  if (!isAirlockError(error))
    log?.error({ err: error instanceof Error ? error.message : String(error), code: airlock.code }, 'tools/call failed inside the gateway');
  return toolErrorResult(airlock);
}

/** The JSON-RPC error object for anything a relayed request threw (an upstream's own error verbatim). */
export function toErrorObject(error: unknown): JsonRpcErrorObject {
  if (error instanceof UpstreamRpcError) return error.error;
  const airlock = agentFacingError(error);
  const data: Record<string, unknown> = { ...airlock.details, code: airlock.code };
  if (airlock.retryAfterSec !== undefined) data['retryAfterSec'] = airlock.retryAfterSec;
  return { code: airlock.jsonRpcCode, message: airlock.message, data };
}

/** A JSON-RPC error response for anything a relayed request threw. */
export function errorAnswer(id: JsonRpcId | null, error: unknown): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: toErrorObject(error) };
}

/**
 * Maps anything thrown to our catalogue in our own words: a library's internals (a Redis client's
 * "Stream isn't writeable…", a stack) never reach an agent; the gateway's log keeps the original.
 */
export function agentFacingError(error: unknown): AirlockError {
  if (isAirlockError(error)) return error;
  if (isRedisConnectionError(error)) return stateStoreUnavailable(error);
  return new AirlockError(
    'internal',
    'Airlock hit an internal error while handling this request (the gateway log has the details). If the tool could have had an effect, check before retrying; tell the Airlock operator if it happens again.',
    { cause: error },
  );
}

/** The JSON-RPC body sent with an HTTP error status, so clients never hang on an empty 401. */
export function jsonRpcErrorBody(error: AirlockError, id: JsonRpcId | null = null): object {
  return { jsonrpc: '2.0', id, error: { code: error.jsonRpcCode, message: error.message, data: { code: error.code } } };
}
