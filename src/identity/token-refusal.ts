/**
 * Why an access token was refused, in the shape the 401/403 answer needs: the RFC 6750 error
 * code for `WWW-Authenticate`, the HTTP status, and a sentence for the agent (and its user) that
 * says what to do. Thrown by the verifiers, turned into a response only by the HTTP front.
 */
export type BearerError = 'invalid_token' | 'insufficient_scope' | 'invalid_request';

export class TokenRefusal extends Error {
  /** 401 (no or bad token), 403 (valid token, no access), 503 (the token could not be checked now). */
  readonly status: 401 | 403 | 503;
  readonly bearerError: BearerError | undefined;
  /** Scopes the resource needs, for `insufficient_scope`. */
  readonly scope: string | undefined;
  readonly retryAfterSec: number | undefined;

  constructor(
    status: 401 | 403 | 503,
    bearerError: BearerError | undefined,
    message: string,
    options: { scope?: string; retryAfterSec?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TokenRefusal';
    this.status = status;
    this.bearerError = bearerError;
    this.scope = options.scope;
    this.retryAfterSec = options.retryAfterSec;
  }
}

/** A refusal for a token that is not valid here (401 invalid_token). */
export function invalidToken(message: string, cause?: unknown): TokenRefusal {
  return new TokenRefusal(401, 'invalid_token', message, cause === undefined ? {} : { cause });
}

/** The authorization server (keys, metadata, introspection) could not be reached: not the agent's fault. */
export function cannotCheck(message: string, cause?: unknown): TokenRefusal {
  return new TokenRefusal(503, undefined, message, { retryAfterSec: 5, ...(cause === undefined ? {} : { cause }) });
}
