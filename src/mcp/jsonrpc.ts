/**
 * JSON-RPC 2.0 messages as the relay sees them: parsed once at the edge (an agent's HTTP body or
 * stdio line, an upstream's response or stream event) into these plain shapes, then routed without
 * a second parse or schema validation. Only the envelope is checked here; each governed method
 * checks its own params where it reads them.
 */

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcResultResponse {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result: Record<string, unknown>;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcErrorResponse {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  error: JsonRpcErrorObject;
}

export type JsonRpcResponse = JsonRpcResultResponse | JsonRpcErrorResponse;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export type ParsedMessage = { ok: true; message: JsonRpcMessage } | { ok: false; problem: string; id: JsonRpcId | null };

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/** Checks the JSON-RPC envelope of one decoded message; says what is wrong when it is not one. */
export function parseMessage(value: unknown): ParsedMessage {
  if (!isRecord(value)) return { ok: false, problem: 'a JSON-RPC message must be a JSON object', id: null };
  const id = isId(value['id']) ? value['id'] : null;
  if (value['jsonrpc'] !== '2.0') return { ok: false, problem: 'the "jsonrpc" member must be exactly "2.0"', id };
  const params = value['params'];
  if (params !== undefined && !isRecord(params)) return { ok: false, problem: '"params" must be a JSON object when present', id };
  if (typeof value['method'] === 'string') {
    if (value['id'] === undefined) return { ok: true, message: value as unknown as JsonRpcNotification }; // envelope checked above
    if (!isId(value['id'])) return { ok: false, problem: '"id" must be a string or a number', id: null };
    return { ok: true, message: value as unknown as JsonRpcRequest }; // envelope checked above
  }
  if ('result' in value || 'error' in value) {
    if (!isId(value['id']) && !(value['id'] === null && 'error' in value)) return { ok: false, problem: 'a response needs the "id" of its request', id: null };
    if ('result' in value && !isRecord(value['result'])) return { ok: false, problem: '"result" must be a JSON object', id };
    if ('error' in value) {
      const error = value['error'];
      if (!isRecord(error) || typeof error['code'] !== 'number' || typeof error['message'] !== 'string') {
        return { ok: false, problem: '"error" must be an object with a numeric "code" and a string "message"', id };
      }
    }
    return { ok: true, message: value as unknown as JsonRpcResponse }; // envelope checked above
  }
  return { ok: false, problem: 'a JSON-RPC message needs a "method" (request or notification) or a "result"/"error" (response)', id };
}

export function isRequest(message: JsonRpcMessage): message is JsonRpcRequest {
  return 'method' in message && 'id' in message;
}

export function isNotification(message: JsonRpcMessage): message is JsonRpcNotification {
  return 'method' in message && !('id' in message);
}

export function isResponse(message: JsonRpcMessage): message is JsonRpcResponse {
  return !('method' in message);
}

export function isErrorResponse(message: JsonRpcResponse): message is JsonRpcErrorResponse {
  return 'error' in message;
}

export function resultResponse(id: JsonRpcId, result: Record<string, unknown>): JsonRpcResultResponse {
  return { jsonrpc: '2.0', id, result };
}

export function errorResponse(id: JsonRpcId | null, error: JsonRpcErrorObject): JsonRpcErrorResponse {
  return { jsonrpc: '2.0', id, error };
}

/**
 * The wire text of a request. With `rawArguments`, `params.arguments` is written as exactly those
 * bytes (a call's canonical RFC 8785 form), not re-serialised: what runs is what was judged.
 */
export function encodeRequest(id: JsonRpcId, method: string, params: Record<string, unknown> | undefined, rawArguments?: string): string {
  if (rawArguments === undefined) return JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
  const rest: Record<string, unknown> = { ...params };
  delete rest['arguments'];
  const restJson = JSON.stringify(rest);
  const paramsJson = restJson === '{}' ? `{"arguments":${rawArguments}}` : `{"arguments":${rawArguments},${restJson.slice(1)}`;
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":${JSON.stringify(method)},"params":${paramsJson}}`;
}

/** Standard JSON-RPC and MCP error codes the relay itself uses. */
export const RpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
} as const;
