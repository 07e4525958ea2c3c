/**
 * The requests one upstream session has sent and not yet seen answered: their ids, deadlines,
 * abort wiring and related-message callbacks. Both transports use it, so "every request ends by
 * its deadline, and a cancelled one is cancelled upstream too" is kept in one place.
 */
import { AirlockError } from '../errors.js';
import type { JsonRpcId, JsonRpcResponse } from '../mcp/jsonrpc.js';
import { formatDurationMs } from '../util/duration.js';
import type { RelatedMessage, SendOptions } from './upstream-session.js';

interface Pending {
  method: string;
  resolve(response: JsonRpcResponse): void;
  reject(error: unknown): void;
  onRelated: ((message: RelatedMessage) => void) | undefined;
  progressToken: string | number | undefined;
  timer: NodeJS.Timeout | undefined;
  deadlineAt: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export interface PendingRequestsOptions {
  upstream: string;
  /** Tells the upstream a request was abandoned (notifications/cancelled). */
  cancel(id: JsonRpcId, reason: string): void;
}

export class PendingRequests {
  private readonly options: PendingRequestsOptions;
  private readonly pending = new Map<JsonRpcId, Pending>();
  private nextId = 1;

  constructor(options: PendingRequestsOptions) {
    this.options = options;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Whether request `id` still waits for its response. */
  has(id: JsonRpcId): boolean {
    return this.pending.has(id);
  }

  /** Registers a new request; the promise settles on its response, its deadline or its abort. */
  start(method: string, params: Record<string, unknown> | undefined, options: SendOptions): { id: number; done: Promise<JsonRpcResponse> } {
    const id = this.nextId++;
    const meta = params?.['_meta'];
    const token = meta !== null && typeof meta === 'object' ? (meta as Record<string, unknown>)['progressToken'] : undefined; // _meta is an object by MCP's schema
    const done = new Promise<JsonRpcResponse>((resolve, reject) => {
      const entry: Pending = {
        method,
        resolve,
        reject,
        onRelated: options.onRelated,
        progressToken: typeof token === 'string' || typeof token === 'number' ? token : undefined,
        timer: undefined,
        deadlineAt: Date.now() + options.timeoutMs * 10,
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        onAbort: undefined,
      };
      if (options.signal?.aborted) {
        reject(cancelledError(method));
        return;
      }
      if (options.signal) {
        entry.onAbort = () => {
          this.settle(id)?.reject(cancelledError(method));
          this.options.cancel(id, reasonOf(options.signal));
        };
        options.signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.pending.set(id, entry);
      this.arm(id, entry);
    });
    return { id, done };
  }

  /** Delivers a response to its request; false when no request of ours has that id (late or foreign). */
  resolve(response: JsonRpcResponse): boolean {
    if (response.id === null) return false;
    const entry = this.settle(response.id);
    if (!entry) return false;
    entry.resolve(response);
    return true;
  }

  /** Passes a message about request `id` to its caller; progress restarts the request's deadline. */
  related(id: JsonRpcId, message: RelatedMessage): boolean {
    const entry = this.pending.get(id);
    if (!entry) return false;
    if (message.method === 'notifications/progress') this.arm(id, entry);
    entry.onRelated?.(message);
    return true;
  }

  /** The request a progress token belongs to (stdio carries no other association). */
  byProgressToken(token: unknown): JsonRpcId | undefined {
    for (const [id, entry] of this.pending) if (entry.progressToken === token) return id;
    return undefined;
  }

  /** The most recently sent request still waiting, for messages a transport cannot attribute. */
  latest(): JsonRpcId | undefined {
    let last: JsonRpcId | undefined;
    for (const id of this.pending.keys()) last = id;
    return last;
  }

  /** Fails a request (its HTTP exchange broke) without telling the upstream. */
  fail(id: JsonRpcId, error: unknown): void {
    this.settle(id)?.reject(error);
  }

  /** Fails every request (the session ended). */
  failAll(error: (method: string) => unknown): void {
    for (const id of [...this.pending.keys()]) {
      const entry = this.settle(id);
      entry?.reject(error(entry.method));
    }
  }

  private arm(id: JsonRpcId, entry: Pending): void {
    clearTimeout(entry.timer);
    const waitMs = Math.max(0, Math.min(entry.timeoutMs, entry.deadlineAt - Date.now()));
    entry.timer = setTimeout(() => {
      if (!this.settle(id)) return;
      entry.reject(
        new AirlockError(
          'upstream_timeout',
          `Upstream "${this.options.upstream}" did not answer ${entry.method} within ${formatDurationMs(entry.timeoutMs)}. The call may still have run upstream: check its effect before retrying.`,
          { details: { upstream: this.options.upstream } },
        ),
      );
      this.options.cancel(id, 'Airlock stopped waiting: the request timed out');
    }, waitMs);
  }

  private settle(id: JsonRpcId): Pending | undefined {
    const entry = this.pending.get(id);
    if (!entry) return undefined;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    return entry;
  }
}

function cancelledError(method: string): AirlockError {
  return new AirlockError('cancelled', `The ${method} request was cancelled by the client.`);
}

function reasonOf(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason.message : 'the client cancelled the request';
}
