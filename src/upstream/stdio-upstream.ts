/**
 * Upstream sessions over stdio, in the two shapes an operator chooses per upstream (`session` in
 * the config):
 *
 *  - `per-agent` — a child process per agent session, initialized with the agent's own
 *    capabilities: everything the server sends is that agent's, so sampling, elicitation, roots,
 *    logging and subscriptions route exactly.
 *  - `shared` — one child for every session (cheaper for servers that are slow to start). Ids and
 *    progress tokens are rewritten per request, so responses and progress route exactly;
 *    list_changed goes to every session and resources/updated to its subscribers. A request the
 *    server sends back (sampling, elicitation, roots) cannot be attributed to one agent on a shared
 *    pipe, so it is refused with an error naming the setting that fixes it; a log message reaches a
 *    session only when it is the one session with a request in flight.
 */
import type { StdioUpstreamSpec } from '../config/schema.js';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { encodeRequest, isResponse, type JsonRpcErrorObject, type JsonRpcId, type JsonRpcMessage, type JsonRpcResponse } from '../mcp/jsonrpc.js';
import { parseInitializeResult } from './initialize.js';
import { PendingRequests } from './pending-requests.js';
import { StdioChild } from './stdio-child.js';
import type { InitializeParams, RelatedMessage, SendOptions, UpstreamInit, UpstreamSession } from './upstream-session.js';

/** A child process and the requests waiting on it; both session shapes build on this. */
class StdioEndpoint {
  readonly child: StdioChild;
  readonly pending: PendingRequests;
  init: UpstreamInit | undefined;

  constructor(
    readonly name: string,
    spec: StdioUpstreamSpec,
    log: Logger,
  ) {
    this.child = new StdioChild(spec, log);
    this.pending = new PendingRequests({
      upstream: name,
      cancel: (id, reason) => this.child.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } }),
    });
  }

  request(method: string, params: Record<string, unknown> | undefined, options: SendOptions): Promise<JsonRpcResponse> {
    if (!this.child.alive) return Promise.reject(childGone(this.name, method, 'the process is not running'));
    const { id, done } = this.pending.start(method, params, options);
    this.child.sendText(encodeRequest(id, method, params, options.rawArguments));
    return done;
  }

  async initialize(params: InitializeParams, timeoutMs: number): Promise<UpstreamInit> {
    const exited = new Promise<never>((_, reject) => {
      const previous = this.child.onExit;
      this.child.onExit = (reason, error) => {
        // First the start-up failure (it says why), then whatever else waits on the child.
        reject(
          new AirlockError('upstream_unavailable', `Upstream "${this.name}" ${reason}.`, {
            retryAfterSec: 5,
            cause: error,
            details: { upstream: this.name, exitedDuringStartup: true, stderrTail: this.child.stderrTail },
          }),
        );
        previous?.(reason, error);
      };
    });
    const response = await Promise.race([this.request('initialize', params, { timeoutMs }), exited]);
    if ('error' in response) {
      throw new AirlockError('upstream_unavailable', `Upstream "${this.name}" refused initialize: ${response.error.message}`, {
        retryAfterSec: 5,
        details: { upstream: this.name },
      });
    }
    this.init = parseInitializeResult(this.name, response.result);
    this.child.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return this.init;
  }
}

function childGone(upstream: string, method: string, reason: string): AirlockError {
  return new AirlockError(
    'upstream_failed',
    `Upstream "${upstream}" ${reason} during ${method}; the call may or may not have run. Airlock restarts it: check the effect, then retry.`,
    { retryAfterSec: 2, details: { upstream } },
  );
}

/** `per-agent`: one child, one agent session. */
export class StdioUpstreamSession implements UpstreamSession {
  readonly upstream: string;
  onUnrelated: ((message: RelatedMessage) => void) | undefined;
  onClosed: ((reason: string) => void) | undefined;
  private readonly endpoint: StdioEndpoint;
  private closedValue = false;

  private constructor(endpoint: StdioEndpoint) {
    this.endpoint = endpoint;
    this.upstream = endpoint.name;
    endpoint.child.onMessage = (message) => this.route(message);
    endpoint.child.onExit = (reason) => this.ended(reason);
  }

  static async open(name: string, spec: StdioUpstreamSpec, log: Logger, params: InitializeParams, timeoutMs: number): Promise<StdioUpstreamSession> {
    const session = new StdioUpstreamSession(new StdioEndpoint(name, spec, log));
    try {
      await session.endpoint.initialize(params, timeoutMs);
    } catch (error) {
      await session.close();
      throw error;
    }
    return session;
  }

  get init(): UpstreamInit {
    if (!this.endpoint.init) throw new Error('StdioUpstreamSession used before initialize');
    return this.endpoint.init;
  }

  get closed(): boolean {
    return this.closedValue;
  }

  get pid(): number | undefined {
    return this.endpoint.child.pid;
  }

  request(method: string, params: Record<string, unknown> | undefined, options: SendOptions): Promise<JsonRpcResponse> {
    return this.endpoint.request(method, params, options);
  }

  /** stdout already carries server-initiated messages. */
  listen(): void {}

  async notify(method: string, params?: Record<string, unknown>): Promise<void> {
    this.endpoint.child.send(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
  }

  async respond(id: JsonRpcId, answer: { result: Record<string, unknown> } | { error: JsonRpcErrorObject }): Promise<void> {
    this.endpoint.child.send({ jsonrpc: '2.0', id, ...answer }); // exactly one of result/error, as the union says
  }

  async close(): Promise<void> {
    this.closedValue = true;
    this.endpoint.pending.failAll((method) => childGone(this.upstream, method, 'was closed'));
    await this.endpoint.child.close();
  }

  /**
   * stdio carries no request association: progress goes by its token; anything else the server
   * sends while requests are in flight is attributed to the latest one (it travels on that
   * request's stream to the agent, which is this agent either way).
   */
  private route(message: JsonRpcMessage): void {
    const { pending } = this.endpoint;
    if (isResponse(message)) {
      pending.resolve(message);
      return;
    }
    const owner = message.method === 'notifications/progress' ? pending.byProgressToken(message.params?.['progressToken']) : pending.latest();
    if (owner !== undefined && pending.related(owner, message)) return;
    this.onUnrelated?.(message);
  }

  private ended(reason: string): void {
    if (this.closedValue) return;
    this.closedValue = true;
    this.endpoint.pending.failAll((method) => childGone(this.upstream, method, reason));
    this.onClosed?.(reason);
  }
}

/** `shared`: one child behind many sessions. */
export class SharedStdioUpstream {
  readonly name: string;
  private readonly endpoint: StdioEndpoint;
  private readonly views = new Set<SharedStdioSession>();
  /** Upstream progress token → the agent's own token. */
  private readonly tokens = new Map<string, string | number>();
  /** URI → sessions subscribed to it (the upstream is subscribed once). */
  private readonly subscribers = new Map<string, Set<SharedStdioSession>>();
  private nextToken = 1;
  private closedValue = false;
  onClosed: ((reason: string) => void) | undefined;

  private constructor(endpoint: StdioEndpoint) {
    this.endpoint = endpoint;
    this.name = endpoint.name;
    endpoint.child.onMessage = (message) => this.route(message);
    endpoint.child.onExit = (reason) => this.ended(reason);
  }

  /** Starts the child and initializes it as the gateway (no sampling, elicitation or roots: they cannot route). */
  static async start(name: string, spec: StdioUpstreamSpec, log: Logger, clientInfo: Record<string, unknown>, timeoutMs: number): Promise<SharedStdioUpstream> {
    const shared = new SharedStdioUpstream(new StdioEndpoint(name, spec, log));
    try {
      await shared.endpoint.initialize({ protocolVersion: latestProtocolVersion, capabilities: {}, clientInfo }, timeoutMs);
    } catch (error) {
      await shared.close();
      throw error;
    }
    return shared;
  }

  get init(): UpstreamInit {
    if (!this.endpoint.init) throw new Error('SharedStdioUpstream used before start');
    return this.endpoint.init;
  }

  get alive(): boolean {
    return !this.closedValue;
  }

  get pid(): number | undefined {
    return this.endpoint.child.pid;
  }

  /** A session view for one agent session. */
  session(): SharedStdioSession {
    const view = new SharedStdioSession(this);
    this.views.add(view);
    return view;
  }

  async close(): Promise<void> {
    this.closedValue = true;
    this.endpoint.pending.failAll((method) => childGone(this.name, method, 'was closed'));
    await this.endpoint.child.close();
  }

  /** @internal used by SharedStdioSession */
  request(method: string, params: Record<string, unknown> | undefined, options: SendOptions): Promise<JsonRpcResponse> {
    const meta = params?.['_meta'];
    const agentToken = meta !== null && typeof meta === 'object' ? (meta as Record<string, unknown>)['progressToken'] : undefined; // _meta is an object by MCP's schema
    if (typeof agentToken !== 'string' && typeof agentToken !== 'number') return this.endpoint.request(method, params, options);
    const token = `airlock-${this.nextToken++}`;
    this.tokens.set(token, agentToken);
    const rewritten = { ...params, _meta: { ...(meta as Record<string, unknown>), progressToken: token } };
    const onRelated = options.onRelated;
    const relay = (message: RelatedMessage) => {
      if (message.method === 'notifications/progress' && message.params?.['progressToken'] === token) {
        onRelated?.({ ...message, params: { ...message.params, progressToken: agentToken } });
      } else onRelated?.(message);
    };
    return this.endpoint.request(method, rewritten, { ...options, onRelated: relay }).finally(() => this.tokens.delete(token));
  }

  /** @internal */
  send(message: JsonRpcMessage): void {
    this.endpoint.child.send(message);
  }

  /** @internal a view subscribes: the upstream hears it only from the first subscriber. */
  async subscribe(view: SharedStdioSession, uri: string, options: SendOptions): Promise<JsonRpcResponse | undefined> {
    const set = this.subscribers.get(uri) ?? new Set<SharedStdioSession>();
    const first = set.size === 0;
    set.add(view);
    this.subscribers.set(uri, set);
    return first ? this.endpoint.request('resources/subscribe', { uri }, options) : undefined;
  }

  /** @internal the last subscriber leaving unsubscribes upstream. */
  async unsubscribe(view: SharedStdioSession, uri: string, options: SendOptions): Promise<JsonRpcResponse | undefined> {
    const set = this.subscribers.get(uri);
    if (!set?.delete(view)) return undefined;
    if (set.size > 0) return undefined;
    this.subscribers.delete(uri);
    return this.endpoint.request('resources/unsubscribe', { uri }, options);
  }

  /** @internal */
  detach(view: SharedStdioSession): void {
    this.views.delete(view);
    for (const [uri, set] of this.subscribers) {
      if (set.delete(view) && set.size === 0) {
        this.subscribers.delete(uri);
        void this.endpoint.request('resources/unsubscribe', { uri }, { timeoutMs: 10_000 }).catch(() => undefined);
      }
    }
  }

  private route(message: JsonRpcMessage): void {
    const { pending } = this.endpoint;
    if (isResponse(message)) {
      pending.resolve(message);
      return;
    }
    if (message.method === 'notifications/progress') {
      const owner = pending.byProgressToken(message.params?.['progressToken']);
      if (owner !== undefined) pending.related(owner, message);
      return;
    }
    if ('id' in message) {
      // A request back to "the client": on a shared pipe there is no telling which agent caused it.
      this.endpoint.child.send({
        jsonrpc: '2.0',
        id: message.id,
        error: {
          code: -32601,
          message: `Airlock shares this stdio server among agent sessions, so it cannot route ${message.method} to the agent that caused it. Set "session": "per-agent" for upstream "${this.name}" in airlock.config.json.`,
        },
      });
      return;
    }
    if (message.method === 'notifications/resources/updated') {
      const uri = message.params?.['uri'];
      for (const view of typeof uri === 'string' ? (this.subscribers.get(uri) ?? []) : []) view.onUnrelated?.(message);
      return;
    }
    if (message.method === 'notifications/message') {
      const busy = [...this.views].filter((view) => view.inFlight > 0);
      if (busy.length === 1) busy[0]?.onUnrelated?.(message);
      return;
    }
    for (const view of this.views) view.onUnrelated?.(message);
  }

  private ended(reason: string): void {
    if (this.closedValue) return;
    this.closedValue = true;
    this.endpoint.pending.failAll((method) => childGone(this.name, method, reason));
    for (const view of this.views) view.ended(reason);
    this.onClosed?.(reason);
  }
}

export class SharedStdioSession implements UpstreamSession {
  readonly upstream: string;
  onUnrelated: ((message: RelatedMessage) => void) | undefined;
  onClosed: ((reason: string) => void) | undefined;
  inFlight = 0;
  private closedValue = false;

  constructor(private readonly shared: SharedStdioUpstream) {
    this.upstream = shared.name;
  }

  get init(): UpstreamInit {
    return this.shared.init;
  }

  get closed(): boolean {
    return this.closedValue;
  }

  async request(method: string, params: Record<string, unknown> | undefined, options: SendOptions): Promise<JsonRpcResponse> {
    if (this.closedValue) throw childGone(this.upstream, method, 'is not running');
    this.inFlight += 1;
    try {
      const uri = params?.['uri'];
      if ((method === 'resources/subscribe' || method === 'resources/unsubscribe') && typeof uri === 'string') {
        const answer = method === 'resources/subscribe' ? await this.shared.subscribe(this, uri, options) : await this.shared.unsubscribe(this, uri, options);
        return answer ?? { jsonrpc: '2.0', id: 0, result: {} };
      }
      return await this.shared.request(method, params, options);
    } finally {
      this.inFlight -= 1;
    }
  }

  /** The shared child's stdout already carries server-initiated messages. */
  listen(): void {}

  async notify(method: string, params?: Record<string, unknown>): Promise<void> {
    // The shared child was initialized by the gateway; per-session lifecycle notifications stay here.
    if (method === 'notifications/initialized' || method === 'notifications/roots/list_changed') return;
    this.shared.send(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
  }

  async respond(_id: JsonRpcId, _answer: { result: Record<string, unknown> } | { error: JsonRpcErrorObject }): Promise<void> {
    // Requests from a shared child are refused at once (see SharedStdioUpstream.route): nothing to answer.
  }

  async close(): Promise<void> {
    if (this.closedValue) return;
    this.closedValue = true;
    this.shared.detach(this);
  }

  /** @internal the shared child ended. */
  ended(reason: string): void {
    if (this.closedValue) return;
    this.closedValue = true;
    this.onClosed?.(reason);
  }
}

/** The newest protocol revision this relay speaks; the gateway's own sessions ask for it. */
export const latestProtocolVersion = '2025-11-25';
