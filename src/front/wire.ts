/**
 * The one place that speaks MCP's wire for errors. Outcomes an agent should reason about (policy
 * denial, rate limit, approval denied, upstream down) become tool results with `isError: true`,
 * readable text and a machine-readable `_meta["airlock/error"]`; protocol faults become JSON-RPC errors.
 */
import { McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type AirlockError, asAirlockError } from '../errors.js';

/** Key under a tool result's `_meta` carrying `{code, retryAfterSec, …details}`. */
export const errorMetaKey = 'airlock/error';

export interface ErrorMeta {
  code: string;
  retryAfterSec?: number;
  [detail: string]: unknown;
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
  if (error instanceof McpError) throw error;
  return toolErrorResult(asAirlockError(error));
}

/** A JSON-RPC error for protocol faults outside tools/call (resources, prompts). */
export function toMcpError(error: unknown): McpError {
  if (error instanceof McpError) return error;
  const airlock = asAirlockError(error);
  return new McpError(airlock.jsonRpcCode, airlock.message, { code: airlock.code, ...airlock.details });
}

/** The JSON-RPC body sent with an HTTP error status, so clients never hang on an empty 401. */
export function jsonRpcErrorBody(error: AirlockError, id: string | number | null = null): object {
  return { jsonrpc: '2.0', id, error: { code: error.jsonRpcCode, message: error.message, data: { code: error.code } } };
}
