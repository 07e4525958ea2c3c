/**
 * The Streamable HTTP front at `/mcp`: the first step of a tool call from a remote agent.
 * Authenticates the bearer token (401 with a JSON-RPC body, so clients never hang), binds each MCP
 * session to the agent that opened it, rejects what MCP no longer allows (batches) with a specific
 * error, and aborts a call whose HTTP connection closed before its answer.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { AirlockError } from '../errors.js';
import type { SessionLimits } from '../identity/session-limits.js';
import { bearerToken, type Agent, type Authenticator } from '../identity/tokens.js';
import type { Logger } from '../log.js';
import type { InflightRequests } from './inflight-requests.js';
import { jsonRpcErrorBody } from './wire.js';

export interface HttpFrontDeps {
  authenticator: Authenticator;
  inflight: InflightRequests;
  createServer(agent: Agent, sessionId: string): Server;
  /** Called when a session ends (DELETE, idle timeout, shutdown), e.g. to withdraw its held calls. */
  onSessionClosed?(sessionId: string, agent: Agent): void;
  log: Logger;
  bodyLimit: string;
  sessionIdleTimeoutMs: number;
  /** Caps on open sessions per agent and in total; a refused `initialize` names the limit. */
  sessionLimits?: SessionLimits;
}

interface Session {
  id: string;
  agent: Agent;
  server: Server;
  transport: StreamableHTTPServerTransport;
  lastSeenMs: number;
}

type AgentRequest = Request & { agent?: Agent };

export class HttpFront {
  private readonly deps: HttpFrontDeps;
  private readonly sessions = new Map<string, Session>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private closing = false;
  /** POSTs whose answer is still being written: close() lets them finish before ending sessions. */
  private readonly answering = new Set<Promise<void>>();

  constructor(deps: HttpFrontDeps) {
    this.deps = deps;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  start(): void {
    const every = Math.max(1_000, Math.min(60_000, this.deps.sessionIdleTimeoutMs / 2));
    this.sweepTimer = setInterval(() => this.sweepIdle(), every);
    this.sweepTimer.unref();
  }

  /**
   * Closes every session (each transport ends its open streams), after the answers still being
   * written — the SDK writes a handler's result a tick after the handler returns — or `graceMs`.
   */
  async close(graceMs = 2_000): Promise<void> {
    this.closing = true;
    clearInterval(this.sweepTimer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.answering]), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    await Promise.all([...this.sessions.values()].map((s) => this.endSession(s)));
  }

  /** Tells every connected agent to re-list tools (catalog or policy changed). */
  notifyToolsChanged(): void {
    for (const session of this.sessions.values()) {
      session.server.sendToolListChanged().catch(() => undefined);
    }
  }

  router(): Router {
    const router = express.Router();
    router.use((req: AgentRequest, res, next) => this.authenticate(req, res, next));
    router.post(
      '/',
      express.json({ limit: this.deps.bodyLimit, type: ['application/json', 'application/*+json'] }),
      (req, res) => void this.handlePost(req, res).catch((error: unknown) => this.fail(res, error)),
    );
    router.get('/', (req, res) => void this.handleSessionRequest(req, res).catch((error: unknown) => this.fail(res, error)));
    router.delete('/', (req, res) => void this.handleSessionRequest(req, res).catch((error: unknown) => this.fail(res, error)));
    router.use((error: unknown, req: Request, res: Response, _next: NextFunction) => this.bodyError(error, req, res));
    return router;
  }

  private authenticate(req: AgentRequest, res: Response, next: NextFunction): void {
    if (this.closing) {
      this.send(res, new AirlockError('shutting_down', 'The gateway is shutting down; reconnect in a few seconds.', { retryAfterSec: 5 }));
      return;
    }
    const token = bearerToken(req.header('authorization'));
    const agent = this.deps.authenticator.authenticate(token);
    if (!agent) {
      const message =
        token === undefined
          ? 'Missing credentials: send "Authorization: Bearer <token>" with the token your Airlock operator issued (airlock agents token NAME).'
          : 'Unknown or revoked token: check the token your Airlock operator issued for this agent.';
      res.setHeader('WWW-Authenticate', 'Bearer realm="airlock"');
      this.send(res, new AirlockError('unauthorized', message));
      return;
    }
    req.agent = agent;
    next();
  }

  private async handlePost(req: AgentRequest, res: Response): Promise<void> {
    const agent = req.agent as Agent; // set by authenticate(), which runs first on this router
    const body: unknown = req.body;
    if (Array.isArray(body)) {
      this.send(
        res,
        new AirlockError('invalid_request', 'JSON-RPC batches are not supported (MCP removed batching in 2025-06-18): send one JSON-RPC message per request.'),
      );
      return;
    }
    const sessionId = req.header('mcp-session-id');
    let session: Session;
    if (sessionId === undefined) {
      if (!isInitializeRequest(body)) {
        this.send(res, new AirlockError('invalid_request', 'No Mcp-Session-Id header: start a session with an "initialize" request first.'), idOf(body));
        return;
      }
      const admission = this.deps.sessionLimits?.tryOpen(agent.name) ?? { ok: true };
      if (!admission.ok) {
        this.deps.log.warn({ agent: agent.name, limit: admission.error.details['limit'] }, 'MCP session refused: session limit reached');
        this.send(res, admission.error, idOf(body));
        return;
      }
      session = this.openSession(agent);
    } else {
      const found = this.findSession(sessionId, agent, res, idOf(body));
      if (!found) return;
      session = found;
    }
    const requestId = idOf(body);
    if (requestId !== null && 'method' in (body as object)) {
      res.on('close', () => {
        if (!res.writableFinished) this.deps.inflight.abort(session.id, [requestId], 'client connection closed');
      });
    }
    const answered = session.transport.handleRequest(req as IncomingMessage, res as ServerResponse, body);
    this.answering.add(answered);
    try {
      await answered;
    } finally {
      this.answering.delete(answered);
    }
  }

  private async handleSessionRequest(req: AgentRequest, res: Response): Promise<void> {
    const sessionId = req.header('mcp-session-id');
    if (sessionId === undefined) {
      this.send(res, new AirlockError('invalid_request', 'Missing Mcp-Session-Id header: GET and DELETE /mcp apply to an existing session.'));
      return;
    }
    const session = this.findSession(sessionId, req.agent as Agent, res, null);
    if (session) await session.transport.handleRequest(req as IncomingMessage, res as ServerResponse);
  }

  private findSession(sessionId: string, agent: Agent, res: Response, id: string | number | null): Session | undefined {
    const session = this.sessions.get(sessionId);
    if (!session) {
      this.send(res, new AirlockError('session_not_found', 'Unknown or expired MCP session: send a new "initialize" request without Mcp-Session-Id.'), id);
      return undefined;
    }
    if (session.agent.name !== agent.name) {
      // A session belongs to the agent that opened it; another token must not ride on it.
      this.send(res, new AirlockError('forbidden', 'This MCP session belongs to another agent: open your own session with "initialize".'), id);
      return undefined;
    }
    session.lastSeenMs = Date.now();
    return session;
  }

  private openSession(agent: Agent): Session {
    const id = randomUUID();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => id });
    const server = this.deps.createServer(agent, id);
    const session: Session = { id, agent, server, transport, lastSeenMs: Date.now() };
    this.sessions.set(id, session);
    transport.onclose = () => {
      if (this.sessions.delete(id)) this.sessionEnded(id, agent);
    };
    // connect() only wires callbacks and starts the (no-op) HTTP transport: it cannot fail here.
    void server.connect(transport);
    this.deps.log.debug({ agent: agent.name, session: id }, 'session opened');
    return session;
  }

  private async endSession(session: Session): Promise<void> {
    await session.server.close().catch(() => undefined);
    if (this.sessions.delete(session.id)) this.sessionEnded(session.id, session.agent);
  }

  /** Once per session, whichever way it ended: frees its place under the session limits. */
  private sessionEnded(id: string, agent: Agent): void {
    this.deps.sessionLimits?.closed(agent.name);
    this.deps.onSessionClosed?.(id, agent);
  }

  private sweepIdle(): void {
    const cutoff = Date.now() - this.deps.sessionIdleTimeoutMs;
    for (const session of this.sessions.values()) {
      if (session.lastSeenMs < cutoff) {
        this.deps.log.info({ agent: session.agent.name, session: session.id }, 'idle session closed');
        void this.endSession(session);
      }
    }
  }

  private bodyError(error: unknown, req: Request, res: Response): void {
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') {
      this.send(res, new AirlockError('body_too_large', `Request body too large: the limit is ${this.deps.bodyLimit}. Send smaller arguments.`));
    } else if (type === 'entity.parse.failed') {
      this.send(res, new AirlockError('parse_error', `Malformed JSON in the request body: ${(error as Error).message}`));
    } else {
      this.fail(res, error);
    }
    void req;
  }

  private fail(res: Response, error: unknown): void {
    this.deps.log.error({ err: error }, 'MCP request failed');
    if (!res.headersSent) this.send(res, new AirlockError('internal', 'Internal gateway error; retry, and report it if it persists.'));
  }

  private send(res: Response, error: AirlockError, id: string | number | null = null): void {
    if (error.retryAfterSec !== undefined) res.setHeader('Retry-After', String(error.retryAfterSec));
    res.status(error.httpStatus).json(jsonRpcErrorBody(error, id));
  }
}

function idOf(body: unknown): string | number | null {
  if (body !== null && typeof body === 'object' && 'id' in body) {
    const id = body.id;
    if (typeof id === 'string' || typeof id === 'number') return id;
  }
  return null;
}
