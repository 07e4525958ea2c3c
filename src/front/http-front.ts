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
import type { RequestAuthenticator } from '../identity/request-authenticator.js';
import type { TokenRefusal } from '../identity/token-refusal.js';
import { bearerToken, type Agent } from '../identity/tokens.js';
import type { Logger } from '../log.js';
import { isNotification, isRequest, parseMessage, type JsonRpcId, type JsonRpcMessage } from '../mcp/jsonrpc.js';
import { HttpRequestChannel, HttpSessionChannel, type RequestChannel } from './channels.js';
import { ResumableRequestChannel, standaloneStreamId, streamIdOf } from './resumable-stream.js';
import { newSession, SessionResumption, type HttpSession, type SessionResumptionDeps } from './session-takeover.js';
import { supportedProtocolVersions, validTraceparent, type RelayMethods } from './relay-methods.js';
import { type SessionRelay } from './session-relay.js';
import { jsonRpcErrorBody } from './wire.js';

export interface HttpFrontDeps {
  authenticator: RequestAuthenticator;
  /** With OAuth configured: this resource's RFC 9728 metadata URL, named in every 401's WWW-Authenticate. */
  resourceMetadataUrl?: string | undefined;
  /** With OAuth configured: the scopes a client should ask for (space-separated), named in the 401 (MCP 2025-11-25 scope selection). */
  resourceScope?: string | undefined;
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
  resumption?: Pick<SessionResumptionDeps, 'store' | 'retryMs' | 'resumeGraceMs'>;
}

export class HttpFront {
  private readonly deps: HttpFrontDeps;
  private readonly sessions = new Map<string, HttpSession>();
  /** Present with `http.resumption`: sessions kept in Redis, taken over, streams resumed. */
  private readonly resumption: SessionResumption | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(deps: HttpFrontDeps) {
    this.deps = deps;
    this.resumption = deps.resumption
      ? new SessionResumption({
          ...deps.resumption,
          methods: deps.methods,
          createRelay: deps.createRelay,
          log: deps.log,
          ...(deps.sessionLimits ? { sessionLimits: deps.sessionLimits } : {}),
        })
      : undefined;
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
    const agent = await this.authenticate(req, res);
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

  private async authenticate(req: IncomingMessage, res: ServerResponse): Promise<Agent | undefined> {
    const checked = this.deps.authenticator.check(bearerToken(header(req, 'authorization')));
    const outcome = checked instanceof Promise ? await checked : checked; // cached and static tokens answer without a tick
    if (outcome.ok) return outcome.agent;
    req.resume();
    const refusal = outcome.refusal;
    if (refusal.status === 401 || refusal.bearerError !== undefined) res.setHeader('WWW-Authenticate', this.challenge(refusal));
    const code = refusal.status === 401 ? 'unauthorized' : refusal.status === 403 ? 'forbidden' : 'auth_unavailable';
    this.refuse(res, new AirlockError(code, refusal.message, refusal.retryAfterSec === undefined ? {} : { retryAfterSec: refusal.retryAfterSec }));
    return undefined;
  }

  /** RFC 6750 §3 / RFC 9728 §5.1: where the metadata is, and what was wrong with the token (when one was sent). */
  private challenge(refusal: TokenRefusal): string {
    const params: string[] = [];
    if (this.deps.resourceMetadataUrl !== undefined) params.push(`resource_metadata="${this.deps.resourceMetadataUrl}"`);
    else params.push('realm="airlock"');
    if (refusal.bearerError !== undefined) params.push(`error="${refusal.bearerError}"`, `error_description="${quotable(refusal.message)}"`);
    const scope = refusal.scope ?? this.deps.resourceScope;
    if (scope !== undefined && scope !== '') params.push(`scope="${quotable(scope)}"`);
    return `Bearer ${params.join(', ')}`;
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
    const channel: RequestChannel = this.resumption
      ? this.resumption.requestChannel(session, message, res, canStream)
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
    this.sessions.set(id, newSession(relay, protocolVersion, Date.now()));
    if (agent.principal !== undefined) this.deps.log.info({ agent: agent.name, principal: agent.principal, session: id }, 'session opened (OAuth)');
    else this.deps.log.debug({ agent: agent.name, session: id }, 'session opened');
    if (this.resumption && relay.clientParams) await this.resumption.save(id, agent, protocolVersion, relay.clientParams);
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
    const resumption = this.resumption;
    if (lastEventId !== undefined && resumption && streamIdOf(lastEventId) !== standaloneStreamId) {
      const refusal = await resumption.resume(session, sessionId, lastEventId, res);
      if (refusal) this.refuse(res, refusal);
      return;
    }
    session.stream?.close(); // a reconnecting client replaces its stream
    const stream = resumption ? resumption.sessionChannel(res, sessionId, lastEventId) : new HttpSessionChannel(res, sessionId);
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
    await this.resumption?.remove(sessionId);
    res.writeHead(200).end();
  }

  /** The agent's session: this replica's, or one another replica opened, taken over from Redis. */
  private async findSession(sessionId: string, agent: Agent, res: ServerResponse, id: JsonRpcId | null): Promise<HttpSession | undefined> {
    const session = this.sessions.get(sessionId) ?? (await this.resumption?.takeOver(sessionId, agent, (taken) => this.sessions.set(sessionId, taken)));
    if (session instanceof AirlockError) {
      this.refuse(res, session, id);
      return undefined;
    }
    if (!session) {
      this.refuse(res, new AirlockError('session_not_found', 'Unknown or expired MCP session: send a new "initialize" request without Mcp-Session-Id.'), id);
      return undefined;
    }
    if (session.relay.agent.name !== agent.name || session.relay.agent.principal !== agent.principal) {
      // A session belongs to the agent (and the OAuth principal) that opened it; another token must not ride on it.
      this.refuse(
        res,
        new AirlockError('forbidden', 'This MCP session belongs to another agent (or another signed-in user): open your own session with "initialize".'),
        id,
      );
      return undefined;
    }
    session.lastSeenMs = Date.now();
    this.resumption?.touch(sessionId, session);
    return session;
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

/** Text fit for a quoted auth-param (RFC 6750 allows %x20-21 / %x23-5B / %x5D-7E): no quotes, backslashes or control characters. */
function quotable(text: string): string {
  return text
    .replace(/["\\]/g, "'")
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, 300);
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
