/**
 * An upstream session over Streamable HTTP (MCP 2025-03-26 and later), spoken directly with
 * undici: each request is one POST on a pooled keep-alive connection, answered with JSON or an SSE
 * stream whose events (progress, logging, sampling/elicitation requests, then the response) are
 * routed to that request in order; server-initiated messages arrive on a GET stream opened on
 * demand. No SDK client sits in between, so nothing is parsed or validated twice.
 */
import { createParser } from 'eventsource-parser';
import type { Dispatcher } from 'undici';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { encodeRequest, isResponse, parseMessage, type JsonRpcErrorObject, type JsonRpcId, type JsonRpcMessage, type JsonRpcResponse } from '../mcp/jsonrpc.js';
import { PendingRequests } from './pending-requests.js';
import type { InitializeParams, RelatedMessage, SendOptions, UpstreamInit, UpstreamSession } from './upstream-session.js';
import { parseInitializeResult } from './initialize.js';
import type { UpstreamTokenSource } from './client-credentials.js';

export interface HttpUpstreamOptions {
  name: string;
  url: URL;
  /** Configured headers (already interpolated): sent with every request. */
  headers: Record<string, string>;
  /** Shared keep-alive pool for this upstream. */
  dispatcher: Dispatcher;
  log: Logger;
  /** Deadline for the initialize exchange. */
  connectTimeoutMs: number;
  /** Airlock's own access tokens for this upstream (`auth`), sent as `Authorization: Bearer`. */
  tokens?: UpstreamTokenSource | undefined;
}

const reconnectMinMs = 500;
const reconnectMaxMs = 30_000;

/** Opens a session: initialize (with the agent's own params), then notifications/initialized. */
export async function openHttpUpstreamSession(options: HttpUpstreamOptions, params: InitializeParams): Promise<HttpUpstreamSession> {
  const session = new HttpUpstreamSession(options);
  await session.initialize(params);
  return session;
}

export class HttpUpstreamSession implements UpstreamSession {
  readonly upstream: string;
  onUnrelated: ((message: RelatedMessage) => void) | undefined;
  onClosed: ((reason: string) => void) | undefined;
  private readonly options: HttpUpstreamOptions;
  private readonly pending: PendingRequests;
  private sessionId: string | undefined;
  private protocolVersion: string | undefined;
  private initValue: UpstreamInit | undefined;
  private closedValue = false;
  private eventStream: AbortController | undefined;
  /** Last event id seen on the GET stream: sent as Last-Event-ID when it reconnects. */
  private lastEventId: string | undefined;
  /** Response streams still open, by request id (destroyed when their request is abandoned). */
  private readonly streams = new Map<JsonRpcId, Dispatcher.ResponseData['body']>();

  constructor(options: HttpUpstreamOptions) {
    this.options = options;
    this.upstream = options.name;
    this.pending = new PendingRequests({
      upstream: options.name,
      cancel: (id, reason) => void this.notify('notifications/cancelled', { requestId: id, reason }).catch(() => undefined),
    });
  }

  get init(): UpstreamInit {
    if (!this.initValue) throw new Error('HttpUpstreamSession used before initialize()');
    return this.initValue;
  }

  get closed(): boolean {
    return this.closedValue;
  }

  async initialize(params: InitializeParams): Promise<void> {
    const response = await this.request('initialize', params, { timeoutMs: this.options.connectTimeoutMs });
    if ('error' in response) {
      throw new AirlockError('upstream_unavailable', `Upstream "${this.upstream}" refused initialize: ${response.error.message}`, {
        retryAfterSec: 5,
        details: { upstream: this.upstream },
      });
    }
    this.initValue = parseInitializeResult(this.upstream, response.result);
    this.protocolVersion = this.initValue.protocolVersion;
    await this.notify('notifications/initialized');
  }

  async request(method: string, params: Record<string, unknown> | undefined, options: SendOptions): Promise<JsonRpcResponse> {
    if (this.closedValue) throw sessionEnded(this.upstream, method);
    const { id, done } = this.pending.start(method, params, options);
    // A tools/call refused with 401 is not re-sent (it may act); anything else may be, once, with a fresh token.
    void this.post(encodeRequest(id, method, params, options.rawArguments), id, method !== 'tools/call').catch((error: unknown) =>
      this.pending.fail(id, error),
    );
    try {
      return await done;
    } catch (error) {
      this.streams.get(id)?.destroy(); // cancelled or timed out: free the connection its stream holds
      throw error;
    } finally {
      this.streams.delete(id);
    }
  }

  async notify(method: string, params?: Record<string, unknown>): Promise<void> {
    if (this.closedValue) return;
    await this.post(JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }), undefined, true);
  }

  async respond(id: JsonRpcId, answer: { result: Record<string, unknown> } | { error: JsonRpcErrorObject }): Promise<void> {
    if (this.closedValue) return;
    await this.post(JSON.stringify({ jsonrpc: '2.0', id, ...answer }), undefined, true); // one of result/error, as the union says
  }

  /** Opens (or keeps open) the GET stream that carries server-initiated messages. */
  listen(): void {
    if (this.eventStream || this.closedValue) return;
    this.eventStream = new AbortController();
    void this.readEventStream(this.eventStream.signal, 0);
  }

  async close(): Promise<void> {
    if (this.closedValue) return;
    this.closedValue = true;
    this.eventStream?.abort();
    this.pending.failAll((method) => sessionEnded(this.upstream, method));
    if (this.sessionId !== undefined) {
      await this.options.dispatcher
        .request({
          origin: this.options.url.origin,
          path: pathOf(this.options.url),
          method: 'DELETE',
          headers: await this.headers().catch(() => ({})),
          headersTimeout: 5_000,
        })
        .then((r) => r.body.dump())
        .catch(() => undefined);
    }
  }

  /** The configured headers, the session's, and Airlock's own bearer token when the upstream has `auth`. */
  private async headers(accept = 'application/json, text/event-stream'): Promise<Record<string, string>> {
    const headers: Record<string, string> = { ...this.options.headers, accept, 'content-type': 'application/json' };
    if (this.sessionId !== undefined) headers['mcp-session-id'] = this.sessionId;
    if (this.protocolVersion !== undefined) headers['mcp-protocol-version'] = this.protocolVersion;
    if (this.options.tokens) headers['authorization'] = `Bearer ${await this.options.tokens.token()}`;
    return headers;
  }

  /**
   * One POST; messages in its answer are routed to request `relatedTo` (when it is a request).
   * A 401 drops the token it was sent with; a `retrySafe` message is then sent once more with a
   * fresh one, anything else fails unrun (the next call gets the fresh token).
   */
  private async post(payload: string, relatedTo: JsonRpcId | undefined, retrySafe: boolean): Promise<void> {
    let answer = await this.send(payload);
    if (answer.statusCode === 401 && this.options.tokens) {
      await answer.body.dump();
      this.options.tokens.rejected(bearerOf(answer.sentHeaders));
      if (!retrySafe && relatedTo !== undefined) {
        throw new AirlockError(
          'upstream_unavailable',
          `Upstream "${this.upstream}" refused Airlock's access token (HTTP 401) before running the call, so it did not run; Airlock is fetching a new token. Retry the call.`,
          { retryAfterSec: 1, details: { upstream: this.upstream, status: 401 } },
        );
      }
      answer = await this.send(payload);
    }
    const { statusCode, headers, body } = answer;
    if (relatedTo === undefined || statusCode === 202) {
      await body.dump();
      if (statusCode >= 400) this.options.log.debug({ status: statusCode }, 'upstream refused a notification or response');
      return;
    }
    if (this.sessionId === undefined) {
      const id = headers['mcp-session-id'];
      if (typeof id === 'string') this.sessionId = id;
    }
    const type = String(headers['content-type'] ?? '');
    if (statusCode === 404 && this.sessionId !== undefined) {
      await body.dump();
      // This request was refused unrun. Others in flight finish (or fail) on their own exchanges.
      this.pending.fail(
        relatedTo,
        new AirlockError('upstream_failed', `Upstream "${this.upstream}" ended the session; nothing was run. Retry the call.`, {
          retryAfterSec: 1,
          details: { upstream: this.upstream, sessionLost: true },
        }),
      );
      this.ended('the upstream no longer knows this session (it restarted or expired it)', false);
      return;
    }
    if (statusCode >= 200 && statusCode < 300 && type.includes('text/event-stream')) {
      this.streams.set(relatedTo, body);
      let lastId: string | undefined;
      let retryMs = 1_000;
      await this.readStream(
        body,
        (received) => this.route(received, relatedTo),
        (id) => (lastId = id),
        (ms) => (retryMs = ms),
      );
      if (this.pending.has(relatedTo) && lastId !== undefined) await this.resume(relatedTo, lastId, retryMs);
      return;
    }
    const text = await body.text();
    const messages = decodeJsonBody(text);
    if (messages && (statusCode < 300 || messages.some((m) => isResponse(m) && m.id === relatedTo))) {
      for (const received of messages) this.route(received, relatedTo);
      return;
    }
    throw new AirlockError('upstream_failed', `Upstream "${this.upstream}" answered HTTP ${statusCode}: ${text.slice(0, 300) || '(empty body)'}`, {
      details: { upstream: this.upstream, status: statusCode },
    });
  }

  private async send(payload: string): Promise<Dispatcher.ResponseData & { sentHeaders: Record<string, string> }> {
    const sentHeaders = await this.headers();
    try {
      const answer = await this.options.dispatcher.request({
        origin: this.options.url.origin,
        path: pathOf(this.options.url),
        method: 'POST',
        headers: sentHeaders,
        body: payload,
      });
      return Object.assign(answer, { sentHeaders });
    } catch (error) {
      throw unreachable(this.upstream, error);
    }
  }

  private route(message: JsonRpcMessage, relatedTo: JsonRpcId | undefined): void {
    if (isResponse(message)) {
      if (!this.pending.resolve(message)) this.options.log.debug({ id: message.id }, 'upstream response for no waiting request');
      return;
    }
    if (relatedTo !== undefined && this.pending.related(relatedTo, message)) return;
    if (message.method === 'notifications/progress') {
      const owner = this.pending.byProgressToken(message.params?.['progressToken']);
      if (owner !== undefined && this.pending.related(owner, message)) return;
    }
    this.onUnrelated?.(message);
  }

  /**
   * The upstream closed a request's stream before answering (SSE polling, SEP-1699): reconnect with
   * GET and Last-Event-ID after its retry hint, as often as each reconnection brings new events,
   * until the answer arrives or the request's own deadline ends it.
   */
  private async resume(relatedTo: JsonRpcId, fromId: string, retryMs: number): Promise<void> {
    let lastId = fromId;
    let idle = 0;
    while (this.pending.has(relatedTo) && !this.closedValue && idle < 5) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(retryMs, 10_000)));
      const before = lastId;
      const headers = await this.headers('text/event-stream');
      headers['last-event-id'] = lastId;
      const {
        statusCode,
        headers: answer,
        body,
      } = await this.options.dispatcher.request({
        origin: this.options.url.origin,
        path: pathOf(this.options.url),
        method: 'GET',
        headers,
        bodyTimeout: 0,
      });
      if (statusCode !== 200 || !String(answer['content-type'] ?? '').includes('text/event-stream')) {
        await body.dump();
        throw new AirlockError('upstream_failed', `Upstream "${this.upstream}" could not resume the response stream (HTTP ${statusCode}).`, {
          details: { upstream: this.upstream },
        });
      }
      this.streams.set(relatedTo, body);
      await this.readStream(
        body,
        (received) => this.route(received, relatedTo),
        (id) => (lastId = id),
        (ms) => (retryMs = ms),
      );
      idle = lastId === before ? idle + 1 : 0;
    }
  }

  /** Reads an SSE body; `onEventId` sees each event id, `onRetry` the server's reconnection hint. */
  private async readStream(
    body: Dispatcher.ResponseData['body'],
    onMessage: (message: JsonRpcMessage) => void,
    onEventId?: (id: string) => void,
    onRetry?: (ms: number) => void,
  ): Promise<void> {
    const parser = createParser({
      onRetry: (ms) => onRetry?.(ms),
      onEvent: (event) => {
        if (event.id !== undefined) onEventId?.(event.id);
        if (event.data === '') return; // priming events carry only an id
        const decoded = decodeJsonBody(event.data);
        if (!decoded) {
          this.options.log.warn({ data: event.data.slice(0, 200) }, 'upstream sent an SSE event that is not a JSON-RPC message; ignored');
          return;
        }
        for (const message of decoded) onMessage(message);
      },
    });
    const decoder = new TextDecoder();
    for await (const chunk of body) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true })); // undici yields Buffers
  }

  private async readEventStream(signal: AbortSignal, attempt: number): Promise<void> {
    if (signal.aborted || this.closedValue) return;
    let ok = false;
    try {
      const headers = await this.headers('text/event-stream');
      if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId;
      const {
        statusCode,
        headers: answerHeaders,
        body,
      } = await this.options.dispatcher.request({
        origin: this.options.url.origin,
        path: pathOf(this.options.url),
        method: 'GET',
        headers,
        signal,
        bodyTimeout: 0,
      });
      if (statusCode === 405 || statusCode === 404 || !String(answerHeaders['content-type'] ?? '').includes('text/event-stream')) {
        await body.dump();
        this.options.log.debug({ status: statusCode }, 'upstream offers no server-initiated stream');
        return;
      }
      ok = true;
      await this.readStream(
        body,
        (message) => this.route(message, undefined),
        (id) => (this.lastEventId = id),
      );
    } catch (error) {
      if (signal.aborted || this.closedValue) return;
      this.options.log.debug({ err: error instanceof Error ? error.message : String(error) }, 'upstream event stream dropped');
    }
    if (signal.aborted || this.closedValue) return;
    const next = ok ? 0 : attempt + 1;
    const delayMs = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** next);
    const timer = setTimeout(() => void this.readEventStream(signal, next), delayMs);
    timer.unref();
  }

  private ended(reason: string, failPending: boolean): void {
    if (this.closedValue) return;
    this.closedValue = true;
    this.eventStream?.abort();
    if (failPending) this.pending.failAll((method) => sessionEnded(this.upstream, method));
    this.onClosed?.(reason);
  }
}

function bearerOf(headers: Record<string, string>): string {
  return (headers['authorization'] ?? '').replace(/^Bearer /, '');
}

function pathOf(url: URL): string {
  return `${url.pathname}${url.search}`;
}

/** One message or a (legacy) batch, each with a valid envelope; undefined when the text is not that. */
function decodeJsonBody(text: string): JsonRpcMessage[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const items: unknown[] = Array.isArray(value) ? value : [value];
  const out: JsonRpcMessage[] = [];
  for (const item of items) {
    const parsed = parseMessage(item);
    if (!parsed.ok) return undefined;
    out.push(parsed.message);
  }
  return out;
}

function sessionEnded(upstream: string, method: string): AirlockError {
  return new AirlockError(
    'upstream_failed',
    `Upstream "${upstream}" session ended during ${method}; the call may or may not have run. Check its effect, then retry.`,
    {
      retryAfterSec: 1,
      details: { upstream },
    },
  );
}

function unreachable(upstream: string, error: unknown): AirlockError {
  const cause = error instanceof Error ? ((error as Error & { cause?: Error }).cause?.message ?? error.message) : String(error);
  return new AirlockError('upstream_unavailable', `Upstream "${upstream}" could not be reached (${cause}). Retry in a few seconds.`, {
    retryAfterSec: 2,
    cause: error,
    details: { upstream },
  });
}
