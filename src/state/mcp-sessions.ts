/**
 * What lets any replica carry on an MCP session (Streamable HTTP) that another one opened — after
 * that replica died, or when a load balancer sends the agent elsewhere:
 *  - the session's metadata (agent, negotiated protocol version, what the client sent in
 *    `initialize`), so another replica can open the agent's upstream sessions again;
 *  - the requests of the session that are held for a person, so another replica can go on waiting
 *    for their decision and deliver the answer (the approvals core makes sure a call runs once);
 *  - the session's event store: every message sent on a resumable SSE stream, so a client that
 *    reconnects with `Last-Event-ID` gets what it missed (front/resumable-stream.ts).
 * All three expire with the session (`http.sessionIdleTimeout`); the event store keeps at most
 * `maxEvents` messages per session (older ones are trimmed first). Keys share the configured
 * prefix, so on a Redis Cluster (prefix `{…}:`) one session's keys live in one slot.
 */
import type { EventId, EventStore, StreamId } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { JsonRpcId, JsonRpcMessage, JsonRpcRequest } from '../mcp/jsonrpc.js';
import type { InitializeParams } from '../upstream/upstream-session.js';
import type { Redis } from './redis.js';

export interface SessionMeta {
  agent: string;
  /** Who signed in as the agent with OAuth (see Agent.principal); a session is theirs alone. */
  principal?: string | undefined;
  protocolVersion: string;
  clientParams: InitializeParams;
  createdAt: number;
}

/** A request held for approval, as the agent sent it, and the stream its answer goes to. */
export interface HeldRequest {
  streamId: string;
  request: JsonRpcRequest;
}

export interface McpSessionStoreOptions {
  /** How long a session's state outlives its last activity (the session idle timeout). */
  ttlMs: number;
  /** Most events kept per session. */
  maxEvents: number;
}

/** Session ids are ours (UUIDs); anything else in a header is not looked up. */
const sessionIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isSessionId(id: string): boolean {
  return sessionIdPattern.test(id);
}

export class McpSessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly options: McpSessionStoreOptions,
  ) {}

  private keys(sessionId: string): { meta: string; held: string; events: string } {
    const base = `${this.prefix}mcp-session:${sessionId}`;
    return { meta: base, held: `${base}:held`, events: `${base}:events` };
  }

  async save(sessionId: string, meta: SessionMeta): Promise<void> {
    const { meta: key } = this.keys(sessionId);
    await this.redis
      .multi()
      .hset(key, {
        agent: meta.agent,
        ...(meta.principal === undefined ? {} : { principal: meta.principal }),
        protocolVersion: meta.protocolVersion,
        clientParams: JSON.stringify(meta.clientParams),
        createdAt: String(meta.createdAt),
      })
      .pexpire(key, this.options.ttlMs)
      .exec();
  }

  /** The session's metadata, or undefined when it never existed here or expired. */
  async load(sessionId: string): Promise<SessionMeta | undefined> {
    if (!isSessionId(sessionId)) return undefined;
    const fields = await this.redis.hgetall(this.keys(sessionId).meta);
    const { agent, principal, protocolVersion, clientParams, createdAt } = fields;
    if (agent === undefined || protocolVersion === undefined || clientParams === undefined) return undefined;
    return { agent, principal, protocolVersion, clientParams: JSON.parse(clientParams) as InitializeParams, createdAt: Number(createdAt) };
  }

  /** Keeps the session's state alive for another idle timeout. */
  async touch(sessionId: string): Promise<void> {
    const { meta, held, events } = this.keys(sessionId);
    const ttl = this.options.ttlMs;
    await this.redis.multi().pexpire(meta, ttl).pexpire(held, ttl).pexpire(events, ttl).exec();
  }

  async remove(sessionId: string): Promise<void> {
    const { meta, held, events } = this.keys(sessionId);
    await this.redis.del(meta, held, events);
  }

  async markHeld(sessionId: string, held: HeldRequest): Promise<void> {
    const key = this.keys(sessionId).held;
    await this.redis.multi().hset(key, held.streamId, JSON.stringify(held.request)).pexpire(key, this.options.ttlMs).exec();
  }

  /** Marks a held request answered; true for the one replica that settles it (the others stay silent). */
  async settle(sessionId: string, streamId: string): Promise<boolean> {
    return (await this.redis.hdel(this.keys(sessionId).held, streamId)) === 1;
  }

  async heldRequests(sessionId: string): Promise<HeldRequest[]> {
    const entries = await this.redis.hgetall(this.keys(sessionId).held);
    return Object.entries(entries).map(([streamId, json]) => ({ streamId, request: JSON.parse(json) as JsonRpcRequest }));
  }

  events(sessionId: string): SessionEventStore {
    const { meta, held, events } = this.keys(sessionId);
    return new SessionEventStore(this.redis, { events, alsoKeepAlive: [meta, held] }, this.options);
  }
}

/**
 * One session's event store, behind the SDK's `EventStore` interface: a Redis stream, one entry
 * per event (`s` the stream id, `m` the message; a priming event has no `m`). An event id is
 * `<streamId>/<entry id>`, so replay needs no lookup table and entry ids order events across
 * replicas.
 */
export class SessionEventStore implements EventStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: { events: string; alsoKeepAlive: string[] },
    private readonly options: McpSessionStoreOptions,
  ) {}

  storeEvent(streamId: StreamId, message: JSONRPCMessage): Promise<EventId> {
    return this.append(streamId, JSON.stringify(message));
  }

  /**
   * An event with no message: gives the client an id to resume from before anything was said. It
   * notes which request the stream answers, so a replica that finds the stream orphaned can still
   * answer that request.
   */
  prime(streamId: StreamId, requestId: JsonRpcId): Promise<EventId> {
    return this.append(streamId, undefined, JSON.stringify(requestId));
  }

  /** The request a stream answers, from its priming event (undefined when it had none or it was trimmed). */
  async requestIdOf(streamId: StreamId): Promise<JsonRpcId | undefined> {
    const entries = await this.redis.xrange(this.keys.events, '-', '+', 'COUNT', this.options.maxEvents);
    for (const [, fields] of entries) {
      const entry = fieldsOf(fields);
      if (entry['s'] === streamId && entry['r'] !== undefined) return JSON.parse(entry['r']) as JsonRpcId;
    }
    return undefined;
  }

  async getStreamIdForEventId(eventId: EventId): Promise<StreamId | undefined> {
    return parseEventId(eventId)?.streamId;
  }

  async replayEventsAfter(lastEventId: EventId, { send }: { send: (eventId: EventId, message: JSONRPCMessage) => Promise<void> }): Promise<StreamId> {
    const from = parseEventId(lastEventId);
    if (!from) throw new Error(`"${lastEventId}" is not an event id this gateway gave out`);
    for (const event of await this.after(from.streamId, from.entryId)) await send(event.eventId, event.message as JSONRPCMessage);
    return from.streamId;
  }

  /** The messages of one stream after an entry id (exclusive), oldest first. */
  async after(streamId: StreamId, entryId: string): Promise<Array<{ eventId: EventId; message: JsonRpcMessage }>> {
    const entries = await this.redis.xrange(this.keys.events, `(${entryId}`, '+', 'COUNT', this.options.maxEvents);
    const out: Array<{ eventId: EventId; message: JsonRpcMessage }> = [];
    for (const [id, fields] of entries) {
      const entry = fieldsOf(fields);
      if (entry['s'] !== streamId || entry['m'] === undefined) continue;
      out.push({ eventId: `${streamId}/${id}`, message: JSON.parse(entry['m']) as JsonRpcMessage });
    }
    return out;
  }

  private async append(streamId: StreamId, json: string | undefined, requestId?: string): Promise<EventId> {
    const fields = json === undefined ? ['s', streamId, ...(requestId === undefined ? [] : ['r', requestId])] : ['s', streamId, 'm', json];
    const ttl = this.options.ttlMs;
    let tx = this.redis.multi().xadd(this.keys.events, 'MAXLEN', this.options.maxEvents, '*', ...fields);
    for (const key of [this.keys.events, ...this.keys.alsoKeepAlive]) tx = tx.pexpire(key, ttl);
    const results = await tx.exec();
    const [error, id] = results?.[0] ?? [new Error('the transaction was discarded'), null];
    if (error) throw error;
    return `${streamId}/${String(id)}`;
  }
}

export function parseEventId(eventId: string): { streamId: string; entryId: string } | undefined {
  const match = /^([A-Za-z0-9_-]{1,64})\/(\d{1,20}-\d{1,20})$/.exec(eventId);
  return match?.[1] && match[2] ? { streamId: match[1], entryId: match[2] } : undefined;
}

function fieldsOf(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string; // XRANGE fields come in name/value pairs
  return out;
}
