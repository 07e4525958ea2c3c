/**
 * The error catalog: every failure Airlock reports, with its code, whose fault it is, and how it
 * maps to HTTP. Modules throw `AirlockError`; exactly one module per wire (front/wire.ts for MCP,
 * http/json-errors.ts for REST) turns these into responses, so the same fault always reads the same.
 */

/** Who caused a failure: a server fault never claims to be the client's fault. */
export type Fault = 'client' | 'policy' | 'server' | 'upstream';

interface CatalogEntry {
  readonly fault: Fault;
  readonly httpStatus: number;
  /** JSON-RPC error code when this error ends a request as a protocol error. */
  readonly jsonRpcCode: number;
}

/** JSON-RPC codes: the standard ones, plus an implementation-defined range for auth. */
export const JsonRpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** The SDK's own code for an unknown Mcp-Session-Id. */
  SessionNotFound: -32001,
  Unauthorized: -32011,
  Forbidden: -32013,
  Unavailable: -32014,
  /** Too many open MCP sessions (per agent or in total). */
  TooManySessions: -32015,
} as const;

const catalog = {
  // Protocol and access faults (JSON-RPC errors / HTTP statuses).
  unauthorized: { fault: 'client', httpStatus: 401, jsonRpcCode: JsonRpcCode.Unauthorized },
  forbidden: { fault: 'client', httpStatus: 403, jsonRpcCode: JsonRpcCode.Forbidden },
  parse_error: { fault: 'client', httpStatus: 400, jsonRpcCode: JsonRpcCode.ParseError },
  invalid_request: { fault: 'client', httpStatus: 400, jsonRpcCode: JsonRpcCode.InvalidRequest },
  body_too_large: { fault: 'client', httpStatus: 413, jsonRpcCode: JsonRpcCode.InvalidRequest },
  session_not_found: { fault: 'client', httpStatus: 404, jsonRpcCode: JsonRpcCode.SessionNotFound },
  not_found: { fault: 'client', httpStatus: 404, jsonRpcCode: JsonRpcCode.InvalidParams },
  conflict: { fault: 'client', httpStatus: 409, jsonRpcCode: JsonRpcCode.InvalidRequest },
  shutting_down: { fault: 'server', httpStatus: 503, jsonRpcCode: JsonRpcCode.Unavailable },
  /** An OAuth access token could not be checked now (the authorization server's keys or introspection unreachable). */
  auth_unavailable: { fault: 'server', httpStatus: 503, jsonRpcCode: JsonRpcCode.Unavailable },
  /** An agent has `http.maxSessionsPerAgent` sessions open already: its own doing, so 429. */
  too_many_sessions: { fault: 'client', httpStatus: 429, jsonRpcCode: JsonRpcCode.TooManySessions },
  /** This replica holds `http.maxSessions` sessions: capacity, so 503. */
  session_capacity: { fault: 'server', httpStatus: 503, jsonRpcCode: JsonRpcCode.TooManySessions },
  internal: { fault: 'server', httpStatus: 500, jsonRpcCode: JsonRpcCode.InternalError },

  // Tool-call outcomes: returned to the agent as tool results with isError, text it can act on.
  unknown_tool: { fault: 'client', httpStatus: 404, jsonRpcCode: JsonRpcCode.InvalidParams },
  invalid_arguments: { fault: 'client', httpStatus: 400, jsonRpcCode: JsonRpcCode.InvalidParams },
  policy_denied: { fault: 'policy', httpStatus: 403, jsonRpcCode: JsonRpcCode.Forbidden },
  rate_limited: { fault: 'policy', httpStatus: 429, jsonRpcCode: JsonRpcCode.Forbidden },
  approval_pending: { fault: 'policy', httpStatus: 202, jsonRpcCode: JsonRpcCode.Forbidden },
  approval_denied: { fault: 'policy', httpStatus: 403, jsonRpcCode: JsonRpcCode.Forbidden },
  approval_expired: { fault: 'policy', httpStatus: 403, jsonRpcCode: JsonRpcCode.Forbidden },
  approval_withdrawn: { fault: 'client', httpStatus: 409, jsonRpcCode: JsonRpcCode.InvalidRequest },
  /** Approved and running in another request right now: retry to collect the result. */
  execution_in_progress: { fault: 'policy', httpStatus: 202, jsonRpcCode: JsonRpcCode.Forbidden },
  /** Released, but the replica running it died or lost Redis mid-call: nobody knows whether it acted. */
  outcome_unknown: { fault: 'upstream', httpStatus: 502, jsonRpcCode: JsonRpcCode.InternalError },
  state_store_unavailable: { fault: 'server', httpStatus: 503, jsonRpcCode: JsonRpcCode.Unavailable },
  upstream_unavailable: { fault: 'upstream', httpStatus: 503, jsonRpcCode: JsonRpcCode.Unavailable },
  /** The upstream cannot start as configured (command not found, exits at once, HTTP 401/404): the operator must act. */
  upstream_misconfigured: { fault: 'server', httpStatus: 502, jsonRpcCode: JsonRpcCode.InternalError },
  upstream_failed: { fault: 'upstream', httpStatus: 502, jsonRpcCode: JsonRpcCode.InternalError },
  upstream_timeout: { fault: 'upstream', httpStatus: 504, jsonRpcCode: JsonRpcCode.InternalError },
  cancelled: { fault: 'client', httpStatus: 499, jsonRpcCode: JsonRpcCode.InvalidRequest },

  // Load-time faults: configuration and policy files.
  config_invalid: { fault: 'client', httpStatus: 400, jsonRpcCode: JsonRpcCode.InvalidParams },
  policy_invalid: { fault: 'client', httpStatus: 400, jsonRpcCode: JsonRpcCode.InvalidParams },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof catalog;

export interface AirlockErrorOptions {
  /** Seconds after which retrying can help; omitted when retrying the same call cannot help. */
  retryAfterSec?: number;
  /** Machine-readable facts for the agent or the API client (rule, limit, approval id …). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** A failure with a catalog code and a message written for whoever must act on it. */
export class AirlockError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterSec: number | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: AirlockErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AirlockError';
    this.code = code;
    this.retryAfterSec = options.retryAfterSec;
    this.details = options.details ?? {};
  }

  get fault(): Fault {
    return catalog[this.code].fault;
  }

  get httpStatus(): number {
    return catalog[this.code].httpStatus;
  }

  get jsonRpcCode(): number {
    return catalog[this.code].jsonRpcCode;
  }
}

export function isAirlockError(value: unknown): value is AirlockError {
  return value instanceof AirlockError;
}

/**
 * Wraps anything thrown by a dependency into an AirlockError. Foreign errors are server faults:
 * the caller did nothing wrong when Redis or a library fails.
 */
export function asAirlockError(value: unknown, fallback: ErrorCode = 'internal'): AirlockError {
  if (isAirlockError(value)) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new AirlockError(fallback, message, { cause: value });
}

/** A problem found while loading a file, with where it is and what is wrong. */
export interface LoadProblem {
  /** The file, when the problem belongs to one. */
  file?: string;
  /** JSON path, e.g. `$.tools.run_job.limits[0].max`. */
  path: string;
  message: string;
}

/** Renders problems one per line, `file $.path: message`, for logs and the CLI. */
export function formatProblems(problems: readonly LoadProblem[]): string {
  return problems.map((p) => `${p.file ? `${p.file} ` : ''}${p.path}: ${p.message}`).join('\n');
}

/** JSON path from a zod-style path array: ['tools', 'run_job', 'limits', 0] → $.tools.run_job.limits[0]. */
export function jsonPath(path: readonly PropertyKey[]): string {
  let out = '$';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_$][\w$]*$/.test(segment)) out += `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}
