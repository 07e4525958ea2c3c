/**
 * Where the relay writes to an agent. A request channel carries everything about one agent
 * request — messages before its answer (progress, logging, the server's own requests) and the
 * answer itself; the session channel carries what belongs to no request (list_changed,
 * resources/updated). Over Streamable HTTP these are a POST's response and the GET stream; over
 * stdio, both are stdout.
 *
 * An HTTP request channel answers with plain JSON unless something must be sent before the
 * answer: only then does it switch to an SSE stream. Most calls (no progress token, nothing
 * streamed) therefore cost one JSON body, not an event stream.
 */
import type { ServerResponse } from 'node:http';
import type { JsonRpcMessage, JsonRpcResponse } from '../mcp/jsonrpc.js';

export interface RequestChannel {
  /** A message about the request, before its answer; dropped when the agent cannot take a stream. */
  send(message: JsonRpcMessage): void;
  /** The answer; ends the channel. */
  end(message: JsonRpcResponse): void;
  /** True once the answer was written or the agent went away. */
  readonly closed: boolean;
  /**
   * The request is held for a person's decision: a channel that can, makes its answer resumable
   * from here on (front/resumable-stream.ts).
   */
  hold?(): void;
}

export interface SessionChannel {
  /** False when the message could not be delivered (the stream is gone). */
  send(message: JsonRpcMessage): boolean;
  readonly closed: boolean;
}

function sseEvent(message: JsonRpcMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

/** The answer to one POST /mcp: JSON, or SSE once a message precedes the answer. */
export class HttpRequestChannel implements RequestChannel {
  private readonly res: ServerResponse;
  private readonly sessionId: string | undefined;
  private readonly canStream: boolean;
  private streaming = false;

  constructor(res: ServerResponse, sessionId: string | undefined, canStream: boolean) {
    this.res = res;
    this.sessionId = sessionId;
    this.canStream = canStream;
  }

  get closed(): boolean {
    return this.res.writableEnded || this.res.destroyed;
  }

  send(message: JsonRpcMessage): void {
    if (this.closed || !this.canStream) return;
    if (!this.streaming) {
      this.streaming = true;
      this.res.writeHead(200, this.headers('text/event-stream'));
      this.res.flushHeaders();
    }
    this.res.write(sseEvent(message));
  }

  end(message: JsonRpcResponse): void {
    if (this.closed) return;
    if (this.streaming) {
      this.res.end(sseEvent(message));
      return;
    }
    const body = JSON.stringify(message);
    this.res.writeHead(200, { ...this.headers('application/json'), 'content-length': Buffer.byteLength(body) });
    this.res.end(body);
  }

  private headers(contentType: string): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': contentType };
    if (contentType === 'text/event-stream') {
      headers['cache-control'] = 'no-cache, no-transform';
      headers['x-accel-buffering'] = 'no';
    }
    if (this.sessionId !== undefined) headers['mcp-session-id'] = this.sessionId;
    return headers;
  }
}

/** The GET /mcp stream of one session: server-initiated messages, with a keep-alive comment so proxies keep it open. */
export class HttpSessionChannel implements SessionChannel {
  private readonly res: ServerResponse;
  private readonly keepAlive: NodeJS.Timeout;

  constructor(res: ServerResponse, sessionId: string, keepAliveMs = 25_000) {
    this.res = res;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      'mcp-session-id': sessionId,
    });
    res.flushHeaders();
    this.keepAlive = setInterval(() => {
      if (!this.closed) res.write(': keep-alive\n\n');
    }, keepAliveMs);
    this.keepAlive.unref();
    res.on('close', () => clearInterval(this.keepAlive));
  }

  get closed(): boolean {
    return this.res.writableEnded || this.res.destroyed;
  }

  send(message: JsonRpcMessage): boolean {
    if (this.closed) return false;
    this.res.write(sseEvent(message));
    return true;
  }

  close(): void {
    clearInterval(this.keepAlive);
    if (!this.closed) this.res.end();
  }
}

/** stdio: one line per message on the agent's stdout, for requests and the session alike. */
export class LineChannel implements RequestChannel, SessionChannel {
  private ended = false;

  constructor(private readonly write: (line: string) => boolean | void) {}

  get closed(): boolean {
    return this.ended;
  }

  send(message: JsonRpcMessage): boolean {
    this.write(`${JSON.stringify(message)}\n`);
    return true;
  }

  end(message: JsonRpcResponse): void {
    if (this.ended) return;
    this.ended = true;
    this.write(`${JSON.stringify(message)}\n`);
  }

  /** A fresh channel for the next request on the same stdout. */
  static request(write: (line: string) => boolean | void): LineChannel {
    return new LineChannel(write);
  }
}
