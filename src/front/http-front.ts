/**
 * The Streamable HTTP front at `/mcp`: the first step of every request from a remote agent.
 * In order: DNS-rebinding check (Host/Origin), bearer token → agent (401 with a JSON-RPC body,
 * so clients never hang), the body read once under the size limit and parsed once, then the
 * agent's session — created by `initialize`, bound to the agent that opened it — relays it.
 * Served straight from node:http (no express, no SDK transport) because it is the hot path:
 * each message is decoded once and answered as plain JSON unless something must stream.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AirlockError } from '../errors.js';
import type { SessionLimits } from '../identity/session-limits.js';
import { bearerToken, type Agent, type Authenticator } from '../identity/tokens.js';
import type { Logger } from '../log.js';
import { isNotification, isRequest, isResponse, parseMessage, type JsonRpcId, type JsonRpcMessage, type JsonRpcRequest } from '../mcp/jsonrpc.js';
import { stateStoreUnavailable } from '../state/state-store.js';
import type { McpSessionStore } from '../state/mcp-sessions.js';
import { HttpRequestChannel, HttpSessionChannel, type RequestChannel } from './channels.js';
import { ResumableRequestChannel, ResumableSessionChannel, sseHeaders, standaloneStreamId, streamIdOf, type ResumableStreamDeps } from './resumable-stream.js';
import { supportedProtocolVersions, validTraceparent, type RelayMethods } from './relay-methods.js';
import { type SessionRelay } from './session-relay.js';
import { errorAnswer, jsonRpcErrorBody } from './wire.js';

export interface HttpFrontDeps {
  authenticator: Authenticator;
  methods: RelayMethods;
  createRelay(agent: Agent, sessionId: string): SessionRelay;
  /** Returns why a request's Host/Origin must be refused, or undefined. */
  hostGuard(host: string | undefined, origin: string | undefined): string | undefined;
  log: Logger;
  /** As configured, e.g. "4mb" (said in the refusal). */
  bodyLimit: string;
  sessionIdleTimeoutMs: number;
  /** Caps on open sessions per agent and in total; a refused `initialize` names the limit. */
  sessionLimits?: SessionLimits;
  /**
   * Sessions and their streams in Redis: any replica can take a session over and a client can
   * resume a streamed answer (config `http.resumption`). Absent: sessions live on this replica only.
   */
  resumption?: {
    store: McpSessionStore;
    retryMs: number;
    resumeGraceMs: number;
  };
}

interface Session {
  relay: SessionRelay;
  lastSeenMs: number;
  /** When the session's state in Redis was last kept alive. */
  touchedMs: number;
  protocolVersion: string;
  stream: HttpSessionChannel | ResumableSessionChannel | undefined;
  /** Streamed answers still running or waiting for a client to resume them, by stream id. */
  streams: Map<string, ResumableRequestChannel>;
  /** What this session's resumable channels share (made on first use). */
  streamDeps?: ResumableStreamDeps;
}

/** Clients from this protocol version on take a priming event (empty data) to resume from. */
const primingSince = '2025-11-25';

export class HttpFront {
  private readonly deps: HttpFrontDeps;
  private readonly sessions = new Map<string, Session>();
  private readonly takeovers = new Map<string, Promise<Session | undefined>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(deps: HttpFrontDeps) {
    this.deps = deps;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Requests still being answered, across sessions (shutdown waits for them). */
  get inflightCount(): number {
    let n = 0;
    for (const session of this.sessions.values()) n += session.relay.inflightCount;
    return n;
  }

  start(): void {
    const every = Math.max(1_000, Math.min(60_000, this.deps.sessionIdleTimeoutMs / 2));
    this.sweepTimer = setInterval(() => this.sweepIdle(), every);
    this.sweepTimer.unref();
  }

  /** Refuses new requests, then ends every session (their upstream sessions and streams). */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweepTimer);
    // Answers already given (drain answered held calls "pending, retry") are stored and written first.
    const streams = [...this.sessions.values()].flatMap((session) => [...session.streams.values()]);
    await Promise.race([Promise.all(streams.map((stream) => stream.answeredAndFlushed)), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    await Promise.all([...this.sessions.keys()].map((id) => this.endSession(id, 'the gateway is shutting down')));
  }

  /**
   * Shutting down behind a load balancer (`http.resumption.handOverOnShutdown`): every held call
   * whose client can resume is left to another replica instead of being answered "pending, retry"
   * (see ResumableRequestChannel.handOver). Returns how many were handed over.
   */
  handOverHeld(): number {
    this.closing = true; // what comes now gets 503 "shutting down": a balancer sends it elsewhere
    let count = 0;
    for (const session of this.sessions.values()) for (const stream of session.streams.values()) if (stream.handOver()) count += 1;
    return count;
  }

  /** Tells every connected agent to re-list tools (catalog or policy changed). */
  notifyToolsChanged(): void {
    for (const session of this.sessions.values()) session.relay.notify('notifications/tools/list_changed');
  }

  /** The node:http handler for /mcp. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    void this.dispatch(req, res).catch((error: unknown) => {
      this.deps.log.error({ err: error }, 'MCP request failed');
      if (!res.headersSent) this.refuse(res, new AirlockError('internal', 'Internal gateway error; retry, and report it if it persists.'));
      else res.destroy();
    });
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const problem = this.deps.hostGuard(req.headers.host, header(req, 'origin'));
    if (problem !== undefined) {
      req.resume();
      this.refuse(res, new AirlockError('forbidden', `Refused: ${problem}.`));
      return;
    }
    if (this.closing) {
      req.resume();
      this.refuse(res, new AirlockError('shutting_down', 'The gateway is shutting down; reconnect in a few seconds.', { retryAfterSec: 5 }));
      return;
    }
    const agent = this.authenticate(req, res);
    if (!agent) return;
    const version = header(req, 'mcp-protocol-version');
    if (version !== undefined && !supportedProtocolVersions.includes(version)) {
      req.resume();
      this.refuse(
        res,
        new AirlockError('invalid_request', `Unsupported MCP-Protocol-Version "${version}": this gateway speaks ${supportedProtocolVersions.join(', ')}.`),
      );
      return;
    }
    switch (req.method) {
      case 'POST':
        return this.post(req, res, agent);
      case 'GET':
        return this.get(req, res, agent);
      case 'DELETE':
        return this.delete(req, res, agent);
      default:
        req.resume();
        res.setHeader('Allow', 'GET, POST, DELETE');
        this.refuse(
          res,
          new AirlockError('invalid_request', `${req.method ?? 'This method'} is not part of Streamable HTTP: use POST, GET or DELETE on /mcp.`),
          null,
          405,
        );
    }
  }

  private authenticate(req: IncomingMessage, res: ServerResponse): Agent | undefined {
    const token = bearerToken(header(req, 'authorization'));
    const agent = this.deps.authenticator.authenticate(token);
    if (agent) return agent;
    req.resume();
    const message =
      token === undefined
        ? 'Missing credentials: send "Authorization: Bearer <token>" with the token your Airlock operator issued (airlock agents token NAME).'
        : 'Unknown or revoked token: check the token your Airlock operator issued for this agent.';
    res.setHeader('WWW-Authenticate', 'Bearer realm="airlock"');
    this.refuse(res, new AirlockError('unauthorized', message));
    return undefined;
  }

  private async post(req: IncomingMessage, res: ServerResponse, agent: Agent): Promise<void> {
    const type = header(req, 'content-type') ?? '';
    if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
      req.resume();
      this.refuse(res, new AirlockError('invalid_request', `Content-Type must be application/json (got "${type || 'none'}").`), null, 415);
      return;
    }
    const text = await this.readBody(req, res);
    if (text === undefined) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.refuse(res, new AirlockError('parse_error', `Malformed JSON in the request body: ${(error as Error).message}`));
      return;
    }
    if (Array.isArray(value)) {
      this.refuse(
        res,
        new AirlockError('invalid_request', 'JSON-RPC batches are not supported (MCP removed batching in 2025-06-18): send one JSON-RPC message per request.'),
      );
      return;
    }
    const parsed = parseMessage(value);
    if (!parsed.ok) {
      this.refuse(res, new AirlockError('invalid_request', `Not a JSON-RPC 2.0 message: ${parsed.problem}.`), parsed.id);
      return;
    }
    const message = parsed.message;
    const sessionId = header(req, 'mcp-session-id');
    if (sessionId === undefined) {
      if (isRequest(message) && message.method === 'initialize') {
        await this.initialize(res, agent, message);
        return;
      }
      this.refuse(res, new AirlockError('invalid_request', 'No Mcp-Session-Id header: start a session with an "initialize" request first.'), idOf(message));
      return;
    }
    const session = await this.findSession(sessionId, agent, res, idOf(message));
    if (!session) return;
    if (!isRequest(message)) {
      if (isNotification(message)) session.relay.handleNotification(message);
      else session.relay.handleResponse(message);
      res.writeHead(202).end();
      return;
    }
    const accept = header(req, 'accept') ?? '*/*';
    const canStream = /text\/event-stream|\*\/\*/i.test(accept);
    const channel: RequestChannel = this.deps.resumption
      ? this.resumableChannel(session, message, res, canStream)
      : new HttpRequestChannel(res, sessionId, canStream);
    res.on('close', () => {
      // A resumable stream outlives its connection (for the resume grace); anything else ends with it.
      if (!res.writableFinished && !(channel instanceof ResumableRequestChannel && channel.isStreaming)) {
        session.relay.abort(message.id, 'client connection closed');
      }
    });
    this.deps.methods.handle(session.relay, message, channel, { traceparent: validTraceparent(header(req, 'traceparent')) });
  }

  private async initialize(res: ServerResponse, agent: Agent, message: JsonRpcMessage & { id: JsonRpcId }): Promise<void> {
    const admission = this.deps.sessionLimits?.tryOpen(agent.name) ?? { ok: true };
    if (!admission.ok) {
      this.deps.log.warn({ agent: agent.name, limit: admission.error.details['limit'] }, 'MCP session refused: session limit reached');
      this.refuse(res, admission.error, message.id);
      return;
    }
    const id = randomUUID();
    const relay = this.deps.createRelay(agent, id);
    let answer;
    try {
      answer = await this.deps.methods.initialize(relay, message as Parameters<RelayMethods['initialize']>[1]); // a request, checked by isRequest above
    } catch (error) {
      this.deps.sessionLimits?.closed(agent.name);
      await relay.close();
      throw error;
    }
    if ('error' in answer || res.destroyed) {
      this.deps.sessionLimits?.closed(agent.name);
      await relay.close();
      if (!res.destroyed) new HttpRequestChannel(res, undefined, false).end(answer);
      return;
    }
    const protocolVersion = typeof answer.result['protocolVersion'] === 'string' ? answer.result['protocolVersion'] : '';
    this.sessions.set(id, { relay, lastSeenMs: Date.now(), touchedMs: Date.now(), protocolVersion, stream: undefined, streams: new Map() });
    this.deps.log.debug({ agent: agent.name, session: id }, 'session opened');
    if (this.deps.resumption && relay.clientParams) {
      await this.deps.resumption.store
        .save(id, { agent: agent.name, protocolVersion, clientParams: relay.clientParams, createdAt: Date.now() })
        .catch((error: unknown) => {
          this.deps.log.warn(
            { session: id, err: error instanceof Error ? error.message : String(error) },
            'could not keep the session in Redis: it works on this replica, but no other can take it over',
          );
        });
    }
    new HttpRequestChannel(res, id, false).end(answer);
  }

  private async get(req: IncomingMessage, res: ServerResponse, agent: Agent): Promise<void> {
    req.resume();
    if (!/text\/event-stream/i.test(header(req, 'accept') ?? '')) {
      this.refuse(res, new AirlockError('invalid_request', 'GET /mcp opens an event stream: send "Accept: text/event-stream".'), null, 406);
      return;
    }
    const sessionId = header(req, 'mcp-session-id');
    if (sessionId === undefined) {
      this.refuse(res, new AirlockError('invalid_request', 'Missing Mcp-Session-Id header: GET /mcp applies to an existing session.'));
      return;
    }
    const session = await this.findSession(sessionId, agent, res, null);
    if (!session) return;
    const lastEventId = header(req, 'last-event-id');
    const resumption = this.deps.resumption;
    if (lastEventId !== undefined && resumption && streamIdOf(lastEventId) !== standaloneStreamId) {
      await this.resumeStream(session, sessionId, lastEventId, res);
      return;
    }
    session.stream?.close(); // a reconnecting client replaces its stream
    const stream = resumption
      ? new ResumableSessionChannel(res, sessionId, {
          events: resumption.store.events(sessionId),
          log: this.deps.log,
          graceMs: resumption.resumeGraceMs,
          ...(lastEventId === undefined ? {} : { lastEventId }),
        })
      : new HttpSessionChannel(res, sessionId);
    session.stream = stream;
    session.relay.attachStandalone(stream);
    // A resumable stream stays attached through its grace, storing what the client will resume.
    if (stream instanceof HttpSessionChannel) {
      res.on('close', () => {
        session.relay.detachStandalone(stream);
        if (session.stream === stream) session.stream = undefined;
      });
    }
  }

  private async delete(req: IncomingMessage, res: ServerResponse, agent: Agent): Promise<void> {
    req.resume();
    const sessionId = header(req, 'mcp-session-id');
    if (sessionId === undefined) {
      this.refuse(res, new AirlockError('invalid_request', 'Missing Mcp-Session-Id header: DELETE /mcp ends an existing session.'));
      return;
    }
    if (!(await this.findSession(sessionId, agent, res, null))) return;
    await this.endSession(sessionId, 'the client ended the session');
    await this.deps.resumption?.store.remove(sessionId).catch(() => undefined); // it expires anyway
    res.writeHead(200).end();
  }

  private async findSession(sessionId: string, agent: Agent, res: ServerResponse, id: JsonRpcId | null): Promise<Session | undefined> {
    const session = this.sessions.get(sessionId) ?? (await this.takeOver(sessionId, agent, res, id));
    if (!session) {
      if (!res.headersSent) {
        this.refuse(res, new AirlockError('session_not_found', 'Unknown or expired MCP session: send a new "initialize" request without Mcp-Session-Id.'), id);
      }
      return undefined;
    }
    if (session.relay.agent.name !== agent.name) {
      // A session belongs to the agent that opened it; another token must not ride on it.
      this.refuse(res, new AirlockError('forbidden', 'This MCP session belongs to another agent: open your own session with "initialize".'), id);
      return undefined;
    }
    session.lastSeenMs = Date.now();
    const resumption = this.deps.resumption;
    if (resumption && session.lastSeenMs - session.touchedMs > resumption.store.options.ttlMs / 4) {
      session.touchedMs = session.lastSeenMs;
      void resumption.store.touch(sessionId).catch(() => undefined); // at most a few round trips per idle timeout
    }
    return session;
  }

  /**
   * A session this replica does not know, but Redis does: another replica opened it (and died, or
   * the load balancer moved the agent). Open the agent's upstream sessions again, and go on
   * waiting for the decision on each of its held requests, so their answers reach the agent when
   * it resumes their streams. One takeover per session at a time.
   */
  private takeOver(sessionId: string, agent: Agent, res: ServerResponse, id: JsonRpcId | null): Promise<Session | undefined> {
    const resumption = this.deps.resumption;
    if (!resumption) return Promise.resolve(undefined);
    const running = this.takeovers.get(sessionId);
    if (running) return running;
    const work = this.adopt(resumption.store, sessionId, agent, res, id).finally(() => this.takeovers.delete(sessionId));
    this.takeovers.set(sessionId, work);
    return work;
  }

  private async adopt(store: McpSessionStore, sessionId: string, agent: Agent, res: ServerResponse, id: JsonRpcId | null): Promise<Session | undefined> {
    let meta;
    try {
      meta = await store.load(sessionId);
    } catch (error) {
      this.refuse(res, stateStoreUnavailable(error), id);
      return undefined;
    }
    if (!meta) return undefined;
    if (meta.agent !== agent.name) {
      this.refuse(res, new AirlockError('forbidden', 'This MCP session belongs to another agent: open your own session with "initialize".'), id);
      return undefined;
    }
    const admission = this.deps.sessionLimits?.tryOpen(agent.name) ?? { ok: true };
    if (!admission.ok) {
      this.refuse(res, admission.error, id);
      return undefined;
    }
    const relay = this.deps.createRelay(agent, sessionId);
    try {
      await this.deps.methods.resume(relay, meta.clientParams);
    } catch (error) {
      this.deps.sessionLimits?.closed(agent.name);
      await relay.close();
      throw error;
    }
    const now = Date.now();
    const session: Session = { relay, lastSeenMs: now, touchedMs: 0, protocolVersion: meta.protocolVersion, stream: undefined, streams: new Map() };
    this.sessions.set(sessionId, session);
    const held = await store.heldRequests(sessionId).catch(() => []);
    for (const { streamId, request } of held) {
      const channel = new ResumableRequestChannel(this.streamDeps(session), request, undefined, { canStream: true, streamId });
      session.streams.set(streamId, channel);
      this.deps.methods.handle(relay, request, channel);
    }
    this.deps.log.info({ agent: agent.name, session: sessionId, held: held.length }, 'took over an MCP session another replica opened');
    return session;
  }

  private resumableChannel(session: Session, request: JsonRpcRequest, res: ServerResponse, canStream: boolean): ResumableRequestChannel {
    return new ResumableRequestChannel(this.streamDeps(session), request, res, { canStream });
  }

  private streamDeps(session: Session): ResumableStreamDeps {
    if (session.streamDeps) return session.streamDeps;
    const resumption = this.deps.resumption;
    if (!resumption) throw new Error('resumable streams need http.resumption');
    const { relay } = session;
    session.streamDeps = {
      sessionId: relay.sessionId,
      store: resumption.store,
      events: resumption.store.events(relay.sessionId),
      log: this.deps.log,
      retryMs: resumption.retryMs,
      resumeGraceMs: resumption.resumeGraceMs,
      primes: session.protocolVersion >= primingSince,
      onStreaming: (channel) => session.streams.set(channel.streamId, channel),
      onDone: (channel) => {
        if (session.streams.get(channel.streamId) === channel) session.streams.delete(channel.streamId);
      },
      onAbandoned: (channel) => relay.abort(channel.request.id, 'the client did not resume its stream in time'),
    };
    return session.streamDeps;
  }

  /**
   * GET with Last-Event-ID: the client resumes a streamed answer. A stream still running here takes
   * the connection; one that ended (or ran on a replica that is gone) is replayed from the event
   * store, its answer included when there is one.
   */
  private async resumeStream(session: Session, sessionId: string, lastEventId: string, res: ServerResponse): Promise<void> {
    const streamId = streamIdOf(lastEventId);
    if (streamId === undefined) {
      this.refuse(res, new AirlockError('invalid_request', `Last-Event-ID "${lastEventId.slice(0, 80)}" is not an event id this gateway gave out.`));
      return;
    }
    const live = session.streams.get(streamId);
    if (live) {
      live.resume(res, lastEventId);
      return;
    }
    const store = this.deps.resumption?.store;
    if (!store) return;
    const events = store.events(sessionId);
    let missed;
    try {
      missed = await events.after(streamId, lastEventId.slice(streamId.length + 1));
      if (!missed.some((event) => isResponse(event.message))) {
        const orphan = await this.orphanAnswer(store, sessionId, streamId);
        if (orphan) missed.push({ eventId: await events.storeEvent(streamId, orphan as never), message: orphan }); // our JSON-RPC shape is the SDK's
      }
    } catch (error) {
      this.refuse(res, stateStoreUnavailable(error));
      return;
    }
    res.writeHead(200, sseHeaders(sessionId));
    for (const event of missed) res.write(`id: ${event.eventId}\nevent: message\ndata: ${JSON.stringify(event.message)}\n\n`);
    res.end();
  }

  /**
   * The answer for a stream nobody will finish: it ran on a replica that is gone and was not held
   * (held requests are taken over and go on). Undefined while a replica may still answer it.
   */
  private async orphanAnswer(store: McpSessionStore, sessionId: string, streamId: string): Promise<JsonRpcMessage | undefined> {
    if ((await store.heldRequests(sessionId)).some((held) => held.streamId === streamId)) return undefined;
    const requestId = await store.events(sessionId).requestIdOf(streamId);
    if (requestId === undefined) return undefined;
    return errorAnswer(
      requestId,
      new AirlockError(
        'upstream_failed',
        'The Airlock replica that was answering this request stopped before it finished, and its answer is lost. If it was a tool call that was not held for approval, it may or may not have reached the upstream: check its effect before retrying.',
      ),
    );
  }

  private async endSession(id: string, reason: string): Promise<void> {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    this.deps.sessionLimits?.closed(session.relay.agent.name);
    session.stream?.close();
    await session.relay.close(reason);
  }

  private sweepIdle(): void {
    const cutoff = Date.now() - this.deps.sessionIdleTimeoutMs;
    for (const [id, session] of this.sessions) {
      // A session with a request still in flight (a held call) or an open stream is not idle.
      if (session.lastSeenMs < cutoff && session.relay.inflightCount === 0 && !session.relay.hasStandalone) {
        this.deps.log.info({ agent: session.relay.agent.name, session: id }, 'idle session closed');
        void this.endSession(id, 'the session was idle too long');
      }
    }
  }

  /** Reads the body up to the limit; answers 413 (and returns undefined) past it. */
  private readBody(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
    const limit = parseByteSize(this.deps.bodyLimit);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      this.tooLarge(res);
      return Promise.resolve(undefined);
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          req.removeAllListeners('data');
          req.resume();
          this.tooLarge(res);
          resolve(undefined);
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks, size).toString('utf8')));
      req.on('error', reject);
    });
  }

  private tooLarge(res: ServerResponse): void {
    this.refuse(res, new AirlockError('body_too_large', `Request body too large: the limit is ${this.deps.bodyLimit}. Send smaller arguments.`));
  }

  private refuse(res: ServerResponse, error: AirlockError, id: JsonRpcId | null = null, status = error.httpStatus): void {
    if (res.headersSent) return;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (error.retryAfterSec !== undefined) headers['retry-after'] = String(error.retryAfterSec);
    res.writeHead(status, headers).end(JSON.stringify(jsonRpcErrorBody(error, id)));
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function idOf(message: JsonRpcMessage): JsonRpcId | null {
  return 'id' in message && message.id !== null ? message.id : null;
}

/** "4mb" / "512kb" → bytes. */
export function parseByteSize(text: string): number {
  const match = /^(\d+)(kb|mb)$/i.exec(text.trim());
  if (!match) throw new Error(`not a size: ${text}`);
  return Number(match[1]) * (match[2]?.toLowerCase() === 'mb' ? 1024 * 1024 : 1024);
}
