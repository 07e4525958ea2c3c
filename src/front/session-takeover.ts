/**
 * The Streamable HTTP front's sessions, and what lets any replica carry one on
 * (`http.resumption`): the session's metadata saved at `initialize` and kept alive while it is
 * used, a session another replica opened taken over from Redis, resumable channels for its
 * answers, and `GET` + `Last-Event-ID` resumes answered from a live stream or the event store.
 * front/http-front.ts owns the sessions of this replica and calls in here; the stored state is
 * state/mcp-sessions.ts, the streams front/resumable-stream.ts.
 */
import type { ServerResponse } from 'node:http';
import { AirlockError } from '../errors.js';
import type { SessionLimits } from '../identity/session-limits.js';
import type { Agent } from '../identity/tokens.js';
import type { Logger } from '../log.js';
import { isResponse, type JsonRpcMessage, type JsonRpcRequest } from '../mcp/jsonrpc.js';
import type { McpSessionStore } from '../state/mcp-sessions.js';
import { stateStoreUnavailable } from '../state/state-store.js';
import type { InitializeParams } from '../upstream/upstream-session.js';
import type { HttpSessionChannel } from './channels.js';
import type { RelayMethods } from './relay-methods.js';
import { ResumableRequestChannel, ResumableSessionChannel, sseHeaders, streamIdOf, type ResumableStreamDeps } from './resumable-stream.js';
import type { SessionRelay } from './session-relay.js';
import { errorAnswer } from './wire.js';

/** One agent session on this replica. */
export interface HttpSession {
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

export function newSession(relay: SessionRelay, protocolVersion: string, touchedMs: number): HttpSession {
  return { relay, lastSeenMs: Date.now(), touchedMs, protocolVersion, stream: undefined, streams: new Map() };
}

export interface SessionResumptionDeps {
  store: McpSessionStore;
  /** The `retry:` hint of priming events. */
  retryMs: number;
  /** How long a stream with no client keeps its request running. */
  resumeGraceMs: number;
  methods: RelayMethods;
  createRelay(agent: Agent, sessionId: string): SessionRelay;
  sessionLimits?: SessionLimits;
  log: Logger;
}

/** Clients from this protocol version on take a priming event (empty data) to resume from. */
const primingSince = '2025-11-25';

export class SessionResumption {
  private readonly deps: SessionResumptionDeps;
  private readonly takeovers = new Map<string, Promise<HttpSession | AirlockError | undefined>>();

  constructor(deps: SessionResumptionDeps) {
    this.deps = deps;
  }

  /** Keeps a new session in Redis; when that fails the session still works here, only not elsewhere. */
  async save(sessionId: string, agent: Agent, protocolVersion: string, clientParams: InitializeParams): Promise<void> {
    await this.deps.store
      .save(sessionId, { agent: agent.name, principal: agent.principal, protocolVersion, clientParams, createdAt: Date.now() })
      .catch((error: unknown) => {
        this.deps.log.warn(
          { session: sessionId, err: error instanceof Error ? error.message : String(error) },
          'could not keep the session in Redis: it works on this replica, but no other can take it over',
        );
      });
  }

  /** Keeps a used session's state alive: at most a few round trips per idle timeout. */
  touch(sessionId: string, session: HttpSession): void {
    if (session.lastSeenMs - session.touchedMs <= this.deps.store.options.ttlMs / 4) return;
    session.touchedMs = session.lastSeenMs;
    void this.deps.store.touch(sessionId).catch(() => undefined);
  }

  /** The client ended the session: its state goes now rather than at expiry. */
  async remove(sessionId: string): Promise<void> {
    await this.deps.store.remove(sessionId).catch(() => undefined);
  }

  /**
   * A session this replica does not know, but Redis does: another replica opened it (and died, or
   * the load balancer moved the agent). Open the agent's upstream sessions again, and go on
   * waiting for the decision on each of its held requests, so their answers reach the agent when
   * it resumes their streams. One takeover per session at a time. Resolves with the session (after
   * `register`), with why it is refused, or with undefined when Redis does not know it either.
   */
  takeOver(sessionId: string, agent: Agent, register: (session: HttpSession) => void): Promise<HttpSession | AirlockError | undefined> {
    const running = this.takeovers.get(sessionId);
    if (running) return running;
    const work = this.adopt(sessionId, agent, register).finally(() => this.takeovers.delete(sessionId));
    this.takeovers.set(sessionId, work);
    return work;
  }

  private async adopt(sessionId: string, agent: Agent, register: (session: HttpSession) => void): Promise<HttpSession | AirlockError | undefined> {
    const { store } = this.deps;
    let meta;
    try {
      meta = await store.load(sessionId);
    } catch (error) {
      return stateStoreUnavailable(error);
    }
    if (!meta) return undefined;
    if (meta.agent !== agent.name || meta.principal !== agent.principal) {
      return new AirlockError('forbidden', 'This MCP session belongs to another agent (or another signed-in user): open your own session with "initialize".');
    }
    const admission = this.deps.sessionLimits?.tryOpen(agent.name) ?? { ok: true };
    if (!admission.ok) return admission.error;
    const relay = this.deps.createRelay(agent, sessionId);
    try {
      await this.deps.methods.resume(relay, meta.clientParams);
    } catch (error) {
      this.deps.sessionLimits?.closed(agent.name);
      await relay.close();
      throw error;
    }
    const session = newSession(relay, meta.protocolVersion, 0);
    register(session);
    const held = await store.heldRequests(sessionId).catch(() => []);
    for (const { streamId, request } of held) {
      const channel = new ResumableRequestChannel(this.streamDeps(session), request, undefined, { canStream: true, streamId });
      session.streams.set(streamId, channel);
      this.deps.methods.handle(relay, request, channel);
    }
    this.deps.log.info({ agent: agent.name, session: sessionId, held: held.length }, 'took over an MCP session another replica opened');
    return session;
  }

  /** The channel for a request's answer: plain JSON unless it streams, then resumable. */
  requestChannel(session: HttpSession, request: JsonRpcRequest, res: ServerResponse, canStream: boolean): ResumableRequestChannel {
    return new ResumableRequestChannel(this.streamDeps(session), request, res, { canStream });
  }

  /** The session's GET stream; replays what it missed when the client sent `Last-Event-ID` of it. */
  sessionChannel(res: ServerResponse, sessionId: string, lastEventId: string | undefined): ResumableSessionChannel {
    return new ResumableSessionChannel(res, sessionId, {
      events: this.deps.store.events(sessionId),
      log: this.deps.log,
      graceMs: this.deps.resumeGraceMs,
      ...(lastEventId === undefined ? {} : { lastEventId }),
    });
  }

  private streamDeps(session: HttpSession): ResumableStreamDeps {
    if (session.streamDeps) return session.streamDeps;
    const { relay } = session;
    session.streamDeps = {
      sessionId: relay.sessionId,
      store: this.deps.store,
      events: this.deps.store.events(relay.sessionId),
      log: this.deps.log,
      retryMs: this.deps.retryMs,
      resumeGraceMs: this.deps.resumeGraceMs,
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
   * GET with Last-Event-ID of a request's stream: the client resumes a streamed answer. A stream
   * still running here takes the connection; one that ended (or ran on a replica that is gone) is
   * replayed from the event store, its answer included when there is one. Returns the refusal to
   * send instead, if any.
   */
  async resume(session: HttpSession, sessionId: string, lastEventId: string, res: ServerResponse): Promise<AirlockError | undefined> {
    const streamId = streamIdOf(lastEventId);
    if (streamId === undefined) {
      return new AirlockError('invalid_request', `Last-Event-ID "${lastEventId.slice(0, 80)}" is not an event id this gateway gave out.`);
    }
    const live = session.streams.get(streamId);
    if (live) {
      live.resume(res, lastEventId);
      return undefined;
    }
    const events = this.deps.store.events(sessionId);
    let missed;
    try {
      missed = await events.after(streamId, lastEventId.slice(streamId.length + 1));
      if (!missed.some((event) => isResponse(event.message))) {
        const orphan = await this.orphanAnswer(sessionId, streamId);
        if (orphan) missed.push({ eventId: await events.storeEvent(streamId, orphan as never), message: orphan }); // our JSON-RPC shape is the SDK's
      }
    } catch (error) {
      return stateStoreUnavailable(error);
    }
    res.writeHead(200, sseHeaders(sessionId));
    for (const event of missed) res.write(`id: ${event.eventId}\nevent: message\ndata: ${JSON.stringify(event.message)}\n\n`);
    res.end();
    return undefined;
  }

  /**
   * The answer for a stream nobody will finish: it ran on a replica that is gone and was not held
   * (held requests are taken over and go on). Undefined while a replica may still answer it.
   */
  private async orphanAnswer(sessionId: string, streamId: string): Promise<JsonRpcMessage | undefined> {
    const { store } = this.deps;
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
}
