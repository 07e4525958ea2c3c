/**
 * The one place that speaks MCP's wire for errors. Outcomes an agent should reason about (policy
 * denial, rate limit, approval denied, upstream down) become tool results with `isError: true`,
 * readable text and a machine-readable `_meta["airlock/error"]`; protocol faults and refusals of
 * other methods (resources, prompts, completions) become JSON-RPC errors. An upstream's own
 * JSON-RPC error passes through unchanged: the gateway is transparent.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type AirlockError, asAirlockError } from '../errors.js';
import type { JsonRpcErrorObject, JsonRpcId, JsonRpcResponse } from '../mcp/jsonrpc.js';

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
export function callErrorToResult(error: unknown): CallToolResult {
  if (error instanceof UpstreamRpcError) throw error;
  return toolErrorResult(asAirlockError(error));
}

/** The JSON-RPC error object for anything a relayed request threw. */
export function toErrorObject(error: unknown): JsonRpcErrorObject {
  if (error instanceof UpstreamRpcError) return error.error;
  const airlock = asAirlockError(error);
  const data: Record<string, unknown> = { ...airlock.details, code: airlock.code };
  if (airlock.retryAfterSec !== undefined) data['retryAfterSec'] = airlock.retryAfterSec;
  return { code: airlock.jsonRpcCode, message: airlock.message, data };
}

/** A JSON-RPC error response for anything a relayed request threw. */
export function errorAnswer(id: JsonRpcId | null, error: unknown): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: toErrorObject(error) };
}

/** The JSON-RPC body sent with an HTTP error status, so clients never hang on an empty 401. */
export function jsonRpcErrorBody(error: AirlockError, id: JsonRpcId | null = null): object {
  return { jsonrpc: '2.0', id, error: { code: error.jsonRpcCode, message: error.message, data: { code: error.code } } };
}
