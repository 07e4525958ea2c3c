/**
 * Resumable answers over Streamable HTTP. A POST whose answer streams (a held call waiting for a
 * person, progress, the server's own requests) gets an SSE stream whose every event is first
 * written to the session's event store (state/mcp-sessions.ts) with an id; a client whose
 * connection drops reconnects with `GET /mcp` + `Last-Event-ID` — to this replica or, after a
 * failover, to any other — and receives what it missed, then the rest live.
 *
 * The stream outlives its connection: the request keeps running while no client is attached, for
 * `resumeGraceMs`; if nobody resumes it by then, it is aborted as a closed connection always was
 * (a held call is then withdrawn). Stores and writes run one after another on one chain, so an
 * event is stored before it is sent, a replay sees every event stored before it, and nothing
 * reaches a resumed client twice or out of order.
 *
 * Plain JSON answers (most allowed calls) never touch the store: a call answered at once has
 * nothing to resume, and costs no Redis round trip for it.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { isResponse, type JsonRpcMessage, type JsonRpcRequest, type JsonRpcResponse } from '../mcp/jsonrpc.js';
import { parseEventId, type McpSessionStore, type SessionEventStore } from '../state/mcp-sessions.js';
import type { RequestChannel, SessionChannel } from './channels.js';

export interface ResumableStreamDeps {
  sessionId: string;
  store: McpSessionStore;
  events: SessionEventStore;
  log: Logger;
  /** The `retry:` hint in the priming event: how soon a client should reconnect. */
  retryMs: number;
  /** How long a stream with no client attached keeps its request running. */
  resumeGraceMs: number;
  /** Whether the client can take a priming event (empty data), from protocol 2025-11-25 on. */
  primes: boolean;
  /** The answer started streaming: the stream can now be resumed, by its id. */
  onStreaming(channel: ResumableRequestChannel): void;
  /** The stream was answered: forget it. */
  onDone(channel: ResumableRequestChannel): void;
  /** Nobody resumed the stream within the grace: abort its request. */
  onAbandoned(channel: ResumableRequestChannel): void;
}

/** `GET /mcp` with `Last-Event-ID` may name a stream of this request, by the id's prefix. */
export function streamIdOf(lastEventId: string): string | undefined {
  return parseEventId(lastEventId)?.streamId;
}

export function sseHeaders(sessionId: string): Record<string, string> {
  return { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no', 'mcp-session-id': sessionId };
}

function sseEvent(eventId: string, message: JsonRpcMessage): string {
  return `id: ${eventId}\nevent: message\ndata: ${JSON.stringify(message)}\n\n`;
}

/** The answer to one request: JSON while nothing streams, then a stored, resumable SSE stream. */
export class ResumableRequestChannel implements RequestChannel {
  private id: string | undefined;
  readonly request: JsonRpcRequest;
  private readonly deps: ResumableStreamDeps;
  private readonly canStream: boolean;
  private sink: ServerResponse | undefined;
  private streaming = false;
  private answered = false;
  private held = false;
  /** The last event this channel wrote (its Redis entry id), so a lost race replays only what is new. */
  private lastEntryId = '0-0';
  private chain: Promise<void> = Promise.resolve();
  private graceTimer: NodeJS.Timeout | undefined;
  private isDone = false;
  private handedOver = false;
  private doneWaiters: Array<() => void> = [];

  /**
   * `sink` is the POST's response; a stream taken over from another replica starts with none
   * (its `streamId` is the one the client knows) and waits for the client to resume it.
   */
  constructor(deps: ResumableStreamDeps, request: JsonRpcRequest, sink: ServerResponse | undefined, options: { canStream: boolean; streamId?: string }) {
    this.deps = deps;
    this.request = request;
    this.canStream = options.canStream;
    this.id = options.streamId;
    if (sink) this.attachSink(sink);
    else {
      this.streaming = true;
      this.held = true;
      this.startGrace();
    }
  }

  /** True once answered, or when the client went away before anything made the answer resumable. */
  get closed(): boolean {
    if (this.answered) return true;
    return !this.streaming && (this.sink === undefined || this.sink.destroyed || this.sink.writableEnded);
  }

  /** The id clients resume this stream by; given when the answer starts streaming (plain JSON answers need none). */
  get streamId(): string {
    this.id ??= randomBytes(9).toString('base64url');
    return this.id;
  }

  /** Resolves once the answer is stored and written (shutdown waits for answers to go out). */
  get answeredAndFlushed(): Promise<void> {
    return this.isDone ? Promise.resolve() : new Promise((resolve) => this.doneWaiters.push(resolve));
  }

  get isStreaming(): boolean {
    return this.streaming;
  }

  send(message: JsonRpcMessage): void {
    if (this.answered || !this.canStream) return;
    this.startStreaming();
    this.enqueue(() => this.storeAndWrite(message));
  }

  /**
   * The request is held for a person: make its answer resumable now (stream + priming event), and
   * note it in the session so another replica can go on waiting for the decision if this one dies.
   */
  hold(): void {
    if (this.answered || !this.canStream || this.held) return;
    this.held = true;
    this.startStreaming();
    this.enqueue(() => this.deps.store.markHeld(this.deps.sessionId, { streamId: this.streamId, request: this.request }));
  }

  end(message: JsonRpcResponse): void {
    if (this.answered) return;
    this.answered = true;
    this.stopGrace();
    if (this.handedOver) {
      this.markDone(); // another replica answers it (what this one would say now is only "shutting down")
      return;
    }
    if (!this.streaming) {
      const sink = this.sink;
      if (sink && !sink.destroyed && !sink.writableEnded) {
        const body = JSON.stringify(message);
        sink.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'mcp-session-id': this.deps.sessionId });
        sink.end(body);
      }
      this.markDone();
      return;
    }
    this.enqueue(async () => {
      // Two replicas may wait on one held request (a takeover while the first still ran); the
      // one that settles it answers, the other forwards what the winner stored.
      if (this.held && !(await this.settle())) {
        for (const event of await this.deps.events.after(this.streamId, this.lastEntryId)) this.write(event.eventId, event.message);
        return;
      }
      await this.storeAndWrite(message);
    });
    this.enqueue(async () => {
      this.sink?.end();
      this.markDone();
    });
  }

  /**
   * This replica is shutting down: leave a held request to another replica. Its stream ends without
   * an answer, so the client resumes it (through the load balancer, elsewhere), and the replica it
   * reaches takes the session over and goes on waiting for the decision. False when the stream is
   * not a held one a client can resume (it is then answered here, as before).
   */
  handOver(): boolean {
    if (this.answered || !this.held || !this.deps.primes) return false;
    this.handedOver = true;
    this.stopGrace();
    this.enqueue(async () => {
      const sink = this.sink;
      this.sink = undefined;
      sink?.end();
    });
    return true;
  }

  /**
   * A client resumes this stream (`Last-Event-ID` = `afterEventId`): it gets every stored event
   * after that one, then the rest live. A previous connection is let go.
   */
  resume(res: ServerResponse, afterEventId: string): void {
    const after = parseEventId(afterEventId)?.entryId ?? '0-0';
    const previous = this.sink;
    this.sink = undefined;
    if (previous && previous !== res && !previous.writableEnded) previous.end();
    res.writeHead(200, sseHeaders(this.deps.sessionId));
    res.flushHeaders();
    this.stopGrace();
    this.enqueue(async () => {
      const missed = await this.deps.events.after(this.streamId, after);
      this.attachSink(res);
      for (const event of missed) this.write(event.eventId, event.message);
      if (this.answered) res.end();
    });
  }

  private attachSink(res: ServerResponse): void {
    this.sink = res;
    res.on('close', () => {
      if (this.sink !== res) return;
      this.sink = undefined;
      if (!this.answered && this.streaming) this.startGrace();
    });
  }

  private startStreaming(): void {
    if (this.streaming) return;
    this.streaming = true;
    this.deps.onStreaming(this);
    const sink = this.sink;
    if (sink && !sink.headersSent && !sink.destroyed) {
      sink.writeHead(200, sseHeaders(this.deps.sessionId));
      sink.flushHeaders();
    }
    if (this.deps.primes) {
      this.enqueue(async () => {
        const eventId = await this.deps.events.prime(this.streamId, this.request.id);
        if (this.sink && !this.sink.destroyed) this.sink.write(`id: ${eventId}\nretry: ${this.deps.retryMs}\ndata: \n\n`);
      });
    }
  }

  /**
   * Stores the event, then sends it with its id. When the store fails, the message is still sent
   * (without an id): the client connected now must not lose it; only a later resume would.
   */
  private async storeAndWrite(message: JsonRpcMessage): Promise<void> {
    let eventId: string;
    try {
      eventId = await this.deps.events.storeEvent(this.streamId, message as never); // our JSON-RPC shape is the SDK's
    } catch (error) {
      this.deps.log.warn(
        { session: this.deps.sessionId, stream: this.streamId, err: error instanceof Error ? error.message : String(error) },
        'could not store an event of a resumable stream; sent without an id (a client resuming it later may miss it)',
      );
      const sink = this.sink;
      if (sink && !sink.destroyed && !sink.writableEnded) sink.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
      return;
    }
    this.write(eventId, message);
  }

  /** Whether this replica answers the held request; with Redis unreachable it does (nobody else can tell). */
  private async settle(): Promise<boolean> {
    try {
      return await this.deps.store.settle(this.deps.sessionId, this.streamId);
    } catch {
      return true;
    }
  }

  private write(eventId: string, message: JsonRpcMessage): void {
    this.lastEntryId = parseEventId(eventId)?.entryId ?? this.lastEntryId;
    const sink = this.sink;
    if (sink && !sink.destroyed && !sink.writableEnded) sink.write(sseEvent(eventId, message));
    else if (isResponse(message)) this.deps.log.debug({ session: this.deps.sessionId, stream: this.streamId }, 'answer stored for a client to resume');
  }

  /** Runs store-and-write steps one after another; a failed step is logged and the chain goes on. */
  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((error: unknown) => {
      this.deps.log.warn(
        { session: this.deps.sessionId, stream: this.streamId, err: error instanceof Error ? error.message : String(error) },
        'could not store an event of a resumable stream; a client resuming it may miss it',
      );
    });
  }

  private markDone(): void {
    this.isDone = true;
    if (this.streaming) this.deps.onDone(this);
    for (const resolve of this.doneWaiters.splice(0)) resolve();
  }

  private startGrace(): void {
    this.stopGrace();
    this.graceTimer = setTimeout(() => {
      if (this.answered || this.sink) return;
      this.deps.log.info({ session: this.deps.sessionId, stream: this.streamId }, 'nobody resumed a stream in time; its request is aborted');
      this.deps.onAbandoned(this);
    }, this.deps.resumeGraceMs);
    this.graceTimer.unref();
  }

  private stopGrace(): void {
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }
}

/** The stream id of a session's standalone GET stream (what belongs to no request). */
export const standaloneStreamId = 'standalone';

/**
 * The session's GET stream, resumable: each message is stored before it is sent, and a client
 * that reconnects with `Last-Event-ID` of this stream first gets what it missed (list_changed,
 * resources/updated, log messages). After its connection drops, the stream goes on storing for
 * `graceMs`, so what is sent while the client reconnects is not lost.
 */
export class ResumableSessionChannel implements SessionChannel {
  private readonly res: ServerResponse;
  private readonly events: SessionEventStore;
  private readonly log: Logger;
  private readonly keepAlive: NodeJS.Timeout;
  private readonly graceMs: number;
  private chain: Promise<void> = Promise.resolve();
  private detachedAt: number | undefined;
  private ended = false;

  constructor(
    res: ServerResponse,
    sessionId: string,
    deps: { events: SessionEventStore; log: Logger; graceMs: number; lastEventId?: string },
    keepAliveMs = 25_000,
  ) {
    this.res = res;
    this.events = deps.events;
    this.log = deps.log;
    this.graceMs = deps.graceMs;
    res.writeHead(200, sseHeaders(sessionId));
    res.flushHeaders();
    this.keepAlive = setInterval(() => {
      if (!this.closed) res.write(': keep-alive\n\n');
    }, keepAliveMs);
    this.keepAlive.unref();
    res.on('close', () => {
      clearInterval(this.keepAlive);
      this.detachedAt = Date.now();
    });
    const after = deps.lastEventId === undefined ? undefined : parseEventId(deps.lastEventId)?.entryId;
    if (after !== undefined) {
      this.enqueue(async () => {
        for (const event of await this.events.after(standaloneStreamId, after)) this.write(event.eventId, event.message);
      });
    }
  }

  /** Closed when replaced or ended, or once its connection has been gone longer than the grace. */
  get closed(): boolean {
    if (this.ended) return true;
    return this.detachedAt !== undefined && Date.now() - this.detachedAt > this.graceMs;
  }

  send(message: JsonRpcMessage): boolean {
    if (this.closed) return false;
    this.enqueue(async () => {
      let eventId: string | undefined;
      try {
        eventId = await this.events.storeEvent(standaloneStreamId, message as never); // our JSON-RPC shape is the SDK's
      } catch (error) {
        this.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'could not store a session stream event; sent without an id');
      }
      this.write(eventId, message);
    });
    return true;
  }

  close(): void {
    this.ended = true;
    clearInterval(this.keepAlive);
    if (!this.res.writableEnded) this.res.end();
  }

  private write(eventId: string | undefined, message: JsonRpcMessage): void {
    if (this.res.writableEnded || this.res.destroyed) return;
    this.res.write(eventId === undefined ? `event: message\ndata: ${JSON.stringify(message)}\n\n` : sseEvent(eventId, message));
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((error: unknown) => {
      this.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'could not replay a session stream');
    });
  }
}
