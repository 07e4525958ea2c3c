/**
 * Abort signals for requests in flight, keyed by session and JSON-RPC id. The SDK aborts a handler
 * on `notifications/cancelled`; this adds the other way a client gives up: closing the HTTP
 * connection that carried the request. The HTTP front aborts by key; handlers listen on one signal.
 */

export class InflightRequests {
  private readonly controllers = new Map<string, AbortController>();

  /** A signal that aborts with the SDK's own signal or when `abort()` names this request. */
  register(sessionId: string, requestId: string | number, sdkSignal: AbortSignal): { signal: AbortSignal; release: () => void } {
    const key = keyOf(sessionId, requestId);
    const controller = new AbortController();
    this.controllers.set(key, controller);
    return {
      signal: AbortSignal.any([sdkSignal, controller.signal]),
      release: () => {
        if (this.controllers.get(key) === controller) this.controllers.delete(key);
      },
    };
  }

  /** Aborts the named requests (their client connection closed before the answer). */
  abort(sessionId: string, requestIds: readonly (string | number)[], reason: string): void {
    for (const id of requestIds) this.controllers.get(keyOf(sessionId, id))?.abort(new Error(reason));
  }

  get size(): number {
    return this.controllers.size;
  }
}

function keyOf(sessionId: string, requestId: string | number): string {
  return `${sessionId}\u0000${typeof requestId}:${requestId}`;
}
