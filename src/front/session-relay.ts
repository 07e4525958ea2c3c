/**
 * One agent session, relayed: the hub between the agent's transport (front/http-front.ts or
 * front/stdio-front.ts) and the agent's own sessions with each upstream. Every client→server
 * request is dispatched here to its method handler (front/relay-methods.ts), where governed
 * methods pass the call pipeline (policy, limits, approval, audit) before anything is forwarded;
 * everything the upstreams send back — progress, logging, sampling, elicitation, roots, list_changed,
 * resources/updated — is routed to this agent only, on the stream of the request that caused it
 * when there is one.
 */
import type { Agent } from '../identity/tokens.js';
import type { Logger } from '../log.js';
import {
  errorResponse,
  isErrorResponse,
  resultResponse,
  RpcCode,
  type JsonRpcId,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../mcp/jsonrpc.js';
import type { UpstreamConnection } from '../upstream/upstream-connection.js';
import type { UpstreamPool } from '../upstream/upstream-pool.js';
import type { InitializeParams, RelatedMessage, UpstreamSession } from '../upstream/upstream-session.js';
import type { RequestChannel, SessionChannel } from './channels.js';
import { UpstreamRpcError } from './wire.js';
import { AirlockError } from '../errors.js';

/** A request from the agent still being answered. */
export interface InflightRequest {
  id: JsonRpcId;
  method: string;
  controller: AbortController;
  channel: RequestChannel;
}

interface ServerRequestRoute {
  session: UpstreamSession;
  upstreamId: JsonRpcId;
}

export interface SessionRelayDeps {
  agent: Agent;
  sessionId: string;
  pool: UpstreamPool;
  log: Logger;
}

/** Most server→client requests a session keeps waiting for the agent's answer (a flood is refused). */
const maxServerRequests = 1_000;
/** Resource URIs remembered per session for routing reads. */
const maxKnownResources = 10_000;

export class SessionRelay {
  readonly agent: Agent;
  readonly sessionId: string;
  /** What the agent sent in `initialize`; upstream sessions are opened with these. */
  clientParams: InitializeParams | undefined;
  private readonly deps: SessionRelayDeps;
  private readonly sessions = new Map<string, Promise<UpstreamSession>>();
  private readonly inflight = new Map<JsonRpcId, InflightRequest>();
  private readonly serverRequests = new Map<number, ServerRequestRoute>();
  /** Requests of the gateway's own to the agent (elicitation for approval), by the id they were sent with. */
  private readonly ownRequests = new Map<number, { resolve(result: Record<string, unknown>): void; reject(error: Error): void }>();
  private nextServerRequestId = 1;
  private standalone: SessionChannel | undefined;
  private closedValue = false;
  /** Resource URI → the upstream that listed it, so reads route without asking every upstream. */
  private readonly resourceOwners = new Map<string, string>();

  constructor(deps: SessionRelayDeps) {
    this.deps = deps;
    this.agent = deps.agent;
    this.sessionId = deps.sessionId;
  }

  get closed(): boolean {
    return this.closedValue;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Opens this agent's session with every upstream (concurrently); an upstream that is down is retried on first use. */
  async openUpstreams(params: InitializeParams): Promise<Map<string, UpstreamSession>> {
    this.clientParams = params;
    const opened = new Map<string, UpstreamSession>();
    await Promise.all(
      [...this.deps.pool.connections.values()].map(async (upstream) => {
        try {
          opened.set(upstream.name, await this.sessionFor(upstream));
        } catch (error) {
          this.deps.log.warn(
            { upstream: upstream.name, session: this.sessionId, err: error instanceof Error ? error.message : String(error) },
            'could not open the agent session with an upstream; retried on first use',
          );
        }
      }),
    );
    return opened;
  }

  /** The agent's session with one upstream, opened on first use (and again after it ended). */
  sessionFor(upstream: UpstreamConnection): Promise<UpstreamSession> {
    const existing = this.sessions.get(upstream.name);
    if (existing) return existing;
    if (this.closedValue) return Promise.reject(new AirlockError('session_not_found', 'This MCP session has ended: initialize a new one.'));
    const params = this.clientParams;
    if (!params) return Promise.reject(new AirlockError('invalid_request', 'The session is not initialized yet: send "initialize" first.'));
    const opening = upstream.openSession(params).then((session) => {
      if (this.closedValue) {
        void session.close();
        throw new AirlockError('session_not_found', 'This MCP session has ended: initialize a new one.');
      }
      session.onUnrelated = (message) => this.fromUpstream(session, message, undefined);
      if (this.standalone) session.listen();
      session.onClosed = (reason) => {
        this.deps.log.info({ upstream: upstream.name, session: this.sessionId, reason }, 'upstream session ended; reopened on next use');
        this.dropSession(upstream.name, session);
      };
      return session;
    });
    opening.catch(() => this.sessions.delete(upstream.name));
    this.sessions.set(upstream.name, opening);
    return opening;
  }

  /** The sessions already open (for fan-out methods such as logging/setLevel); never opens new ones. */
  async openSessions(): Promise<UpstreamSession[]> {
    const settled = await Promise.allSettled(this.sessions.values());
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }

  /**
   * Sends one request on this agent's session with `upstream`. Messages the upstream sends about it
   * go to `channel`; a session the upstream forgot (it restarted) is reopened and the request sent
   * once more — safe, because the upstream refused it without running it.
   */
  async forward(
    upstream: UpstreamConnection,
    method: string,
    params: Record<string, unknown> | undefined,
    options: { signal: AbortSignal; channel: RequestChannel | undefined; timeoutMs?: number; rawArguments?: string | undefined },
  ): Promise<Record<string, unknown>> {
    for (let attempt = 0; ; attempt += 1) {
      const session = await this.sessionFor(upstream);
      try {
        const response = await session.request(method, params, {
          signal: options.signal,
          timeoutMs: options.timeoutMs ?? upstream.spec.callTimeout,
          onRelated: (message) => this.fromUpstream(session, message, options.channel),
          rawArguments: options.rawArguments,
        });
        if (isErrorResponse(response)) throw new UpstreamRpcError(response.error);
        return response.result;
      } catch (error) {
        const lost = error instanceof AirlockError && error.details['sessionLost'] === true;
        if (error instanceof AirlockError && (error.code === 'upstream_unavailable' || error.code === 'upstream_failed')) upstream.suspect();
        if (!lost || attempt > 0) throw error;
        this.dropSession(upstream.name, session);
      }
    }
  }

  /** Registers an agent request so it can be cancelled and so unrelated messages have a stream to ride. */
  begin(request: JsonRpcRequest, channel: RequestChannel): InflightRequest {
    const entry: InflightRequest = { id: request.id, method: request.method, controller: new AbortController(), channel };
    this.inflight.set(request.id, entry);
    return entry;
  }

  /** Writes the answer (unless the agent went away) and forgets the request. */
  finish(entry: InflightRequest, response: JsonRpcResponse): void {
    if (this.inflight.get(entry.id) === entry) this.inflight.delete(entry.id);
    entry.channel.end(response);
  }

  /** The agent cancelled (notifications/cancelled) or its connection for this request closed. */
  abort(id: JsonRpcId, reason: string): void {
    this.inflight.get(id)?.controller.abort(new Error(reason));
  }

  /** A notification from the agent. */
  handleNotification(message: JsonRpcNotification): void {
    switch (message.method) {
      case 'notifications/initialized':
        return; // each upstream session was told when Airlock opened it
      case 'notifications/cancelled': {
        const id = message.params?.['requestId'];
        if (typeof id === 'string' || typeof id === 'number')
          this.abort(id, typeof message.params?.['reason'] === 'string' ? message.params['reason'] : 'cancelled by the client');
        return;
      }
      case 'notifications/roots/list_changed':
      case 'notifications/progress':
        void this.openSessions().then((sessions) => sessions.forEach((s) => void s.notify(message.method, message.params).catch(() => undefined)));
        return;
      default:
        this.deps.log.debug({ method: message.method, session: this.sessionId }, 'agent notification not relayed');
    }
  }

  /** Whether the agent's client declared the elicitation capability in `initialize`. */
  get canElicit(): boolean {
    const capabilities = this.clientParams?.capabilities;
    return capabilities !== undefined && capabilities['elicitation'] !== undefined && capabilities['elicitation'] !== null;
  }

  /**
   * Sends a request of the gateway's own to the agent on `channel` (the stream of the request it is
   * about) and resolves with the agent's result; rejects on an error answer, when `signal` aborts
   * (the agent is then told with notifications/cancelled), or when the session ends.
   */
  request(method: string, params: Record<string, unknown>, channel: RequestChannel, signal: AbortSignal): Promise<Record<string, unknown>> {
    if (this.closedValue) return Promise.reject(new Error('the session has ended'));
    const id = this.nextServerRequestId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!this.ownRequests.delete(id)) return;
        this.deliver({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'no longer needed' } }, channel);
        reject(new Error('cancelled'));
      };
      this.ownRequests.set(id, {
        resolve: (result) => {
          signal.removeEventListener('abort', onAbort);
          resolve(result);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      if (!this.deliver({ jsonrpc: '2.0', id, method, params }, channel)) {
        this.ownRequests.delete(id);
        signal.removeEventListener('abort', onAbort);
        reject(new Error(`the agent has no open stream on which Airlock could send ${method}`));
      }
    });
  }

  /** The agent answered a request an upstream sent it (sampling, elicitation, roots/list), or one of the gateway's own. */
  handleResponse(message: JsonRpcResponse): void {
    const id = message.id;
    const own = typeof id === 'number' ? this.ownRequests.get(id) : undefined;
    if (own !== undefined && typeof id === 'number') {
      this.ownRequests.delete(id);
      if (isErrorResponse(message)) own.reject(new Error(message.error.message));
      else own.resolve(message.result);
      return;
    }
    const route = typeof id === 'number' ? this.serverRequests.get(id) : undefined;
    if (route === undefined || typeof id !== 'number') {
      this.deps.log.debug({ id, session: this.sessionId }, 'agent answered a request nobody is waiting for');
      return;
    }
    this.serverRequests.delete(id);
    const answer = isErrorResponse(message) ? { error: message.error } : { result: message.result };
    void route.session.respond(route.upstreamId, answer).catch((error: unknown) => {
      this.deps.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'could not pass the agent answer upstream');
    });
  }

  /** The GET stream (or stdio) for messages tied to no request; a new one replaces the old. */
  attachStandalone(channel: SessionChannel): void {
    this.standalone = channel;
    for (const session of this.sessions.values()) void session.then((s) => s.listen()).catch(() => undefined);
  }

  detachStandalone(channel: SessionChannel): void {
    if (this.standalone === channel) this.standalone = undefined;
  }

  get hasStandalone(): boolean {
    return this.standalone !== undefined && !this.standalone.closed;
  }

  /** A message of the gateway's own for this agent (tools/list_changed after a policy reload). */
  notify(method: string, params?: Record<string, unknown>): void {
    this.deliverUnrelated(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
  }

  /** Notes which upstream listed which resources (bounded: the oldest are forgotten first). */
  rememberOwners(upstream: string, resources: readonly unknown[]): void {
    for (const resource of resources) {
      const uri = resource !== null && typeof resource === 'object' ? (resource as { uri?: unknown }).uri : undefined; // a listed resource is an object with a uri
      if (typeof uri !== 'string') continue;
      this.resourceOwners.delete(uri);
      this.resourceOwners.set(uri, upstream);
    }
    while (this.resourceOwners.size > maxKnownResources) {
      const oldest = this.resourceOwners.keys().next().value;
      if (oldest === undefined) break;
      this.resourceOwners.delete(oldest);
    }
  }

  /** The upstream that listed this URI to this agent, when one did. */
  ownerOf(uri: string): UpstreamConnection[] | undefined {
    const name = this.resourceOwners.get(uri);
    const upstream = name === undefined ? undefined : this.deps.pool.get(name);
    return upstream ? [upstream] : undefined;
  }

  /** Ends every upstream session of this agent and aborts what is still in flight. */
  async close(reason = 'the session ended'): Promise<void> {
    if (this.closedValue) return;
    this.closedValue = true;
    for (const entry of this.inflight.values()) entry.controller.abort(new Error(reason));
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    this.serverRequests.clear();
    for (const own of this.ownRequests.values()) own.reject(new Error(reason));
    this.ownRequests.clear();
    await Promise.all(sessions.map((s) => s.then((session) => session.close()).catch(() => undefined)));
  }

  private dropSession(upstream: string, session: UpstreamSession): void {
    const current = this.sessions.get(upstream);
    if (!current) return;
    void current.then((s) => {
      if (s === session && this.sessions.get(upstream) === current) this.sessions.delete(upstream);
    });
    void session.close().catch(() => undefined);
  }

  /** Routes what an upstream sent: about a request (on its stream) or about nothing (the session stream). */
  private fromUpstream(session: UpstreamSession, message: RelatedMessage, channel: RequestChannel | undefined): void {
    if ('id' in message) {
      this.forwardServerRequest(session, message, channel);
      return;
    }
    if (message.method === 'notifications/cancelled') {
      // The upstream gave up on a request it sent the agent: translate its id to ours.
      const upstreamId = message.params?.['requestId'];
      for (const [id, route] of this.serverRequests) {
        if (route.session === session && route.upstreamId === upstreamId) {
          this.serverRequests.delete(id);
          this.deliver({ ...message, params: { ...message.params, requestId: id } }, channel);
          return;
        }
      }
      return;
    }
    this.deliver(message, channel);
  }

  private forwardServerRequest(session: UpstreamSession, message: JsonRpcRequest, channel: RequestChannel | undefined): void {
    if (message.method === 'ping') {
      void session.respond(message.id, { result: {} }).catch(() => undefined);
      return;
    }
    if (this.serverRequests.size >= maxServerRequests) {
      void session
        .respond(message.id, {
          error: { code: RpcCode.InternalError, message: `Airlock holds ${maxServerRequests} unanswered requests for this agent already; try later.` },
        })
        .catch(() => undefined);
      return;
    }
    const id = this.nextServerRequestId++;
    this.serverRequests.set(id, { session, upstreamId: message.id });
    if (!this.deliver({ ...message, id }, channel)) {
      this.serverRequests.delete(id);
      void session
        .respond(message.id, {
          error: { code: RpcCode.InternalError, message: `The agent has no open stream on which Airlock could send ${message.method}.` },
        })
        .catch(() => undefined);
    }
  }

  /** On the request's own stream when it is still open, else the session stream, else any open request stream. */
  private deliver(message: JsonRpcNotification | JsonRpcRequest, channel: RequestChannel | undefined): boolean {
    if (channel && !channel.closed) {
      channel.send(message);
      return true;
    }
    return this.deliverUnrelated(message);
  }

  private deliverUnrelated(message: JsonRpcNotification | JsonRpcRequest): boolean {
    if (this.standalone && !this.standalone.closed && this.standalone.send(message)) return true;
    let latest: InflightRequest | undefined;
    for (const entry of this.inflight.values()) if (!entry.channel.closed) latest = entry;
    if (!latest) return false;
    latest.channel.send(message);
    return true;
  }
}

/** The JSON-RPC answer for a handler's outcome. */
export function answerOf(id: JsonRpcId, outcome: { result: Record<string, unknown> } | { error: Parameters<typeof errorResponse>[1] }): JsonRpcResponse {
  return 'result' in outcome ? resultResponse(id, outcome.result) : errorResponse(id, outcome.error);
}
