/**
 * A lean reader of the calls in the audit history, for policy replay: oldest first, a chunk at a
 * time with the next chunk fetched while this one is processed, only the event types asked for,
 * and only the fields a replay reads — decoded without the full entry schema (no chain fields,
 * no actor, latency or details), which is most of the cost of reading a large history. Entries
 * are still checked at this edge: a field of the wrong shape, or arguments that are not JSON,
 * skip the entry and are counted, never trusted. `verify` is what checks the chain.
 */
import { z } from 'zod';
import type { Redis } from '../state/redis.js';
import { withStateStore } from '../state/state-store.js';
import { lowerBound, upperBound } from './filter.js';
import type { AuditKeys } from './stream-entry.js';
import type { AuditEvent, AuditEventType } from './types.js';

/** The fields of an audited call that a replay reads. */
export type CallEvent = Pick<AuditEvent, 'type' | 'time' | 'agent' | 'session' | 'tool' | 'argumentsHash' | 'arguments'>;

export interface CallReadOptions {
  types: readonly AuditEventType[];
  since?: number;
  until?: number;
  agent?: string;
  tool?: string;
  chunkSize?: number;
}

const EntriesShape = z.array(z.tuple([z.string(), z.array(z.string())]));

/** Events oldest first in chunks; `skipped` counts entries that did not decode. */
export async function* readCallEvents(
  redis: Redis,
  keys: AuditKeys,
  options: CallReadOptions,
  skipped: { count: number } = { count: 0 },
): AsyncGenerator<CallEvent[]> {
  const chunkSize = options.chunkSize ?? 2_000;
  const types = new Set<string>(options.types);
  const upper = options.until === undefined ? '+' : upperBound(options);
  const fetch = (from: string) =>
    withStateStore(async () => {
      const reply: unknown = await redis.xrange(keys.stream, from, upper, 'COUNT', chunkSize);
      // The reply's outer shape is checked once per chunk; each entry's fields below.
      if (!Array.isArray(reply)) return EntriesShape.parse(reply);
      return reply as unknown[];
    });
  let next: Promise<unknown[]> | undefined = fetch(lowerBound(options));
  while (next) {
    const raw = await next;
    next = undefined;
    const last = raw.at(-1);
    const lastId = Array.isArray(last) && typeof last[0] === 'string' ? last[0] : undefined;
    if (lastId !== undefined && raw.length === chunkSize) {
      next = fetch(`(${lastId}`);
      next.catch(() => undefined); // awaited on the next turn; this only keeps an early stop from leaving it unhandled
    }
    const events: CallEvent[] = [];
    for (const entry of raw) {
      const event = decodeCall(entry, types, options);
      if (event === 'skip') continue;
      if (event === undefined) skipped.count += 1;
      else events.push(event);
    }
    if (events.length > 0) yield events;
  }
}

/** One entry: 'skip' when it is not asked for, undefined when it does not decode. */
function decodeCall(entry: unknown, types: ReadonlySet<string>, filter: { agent?: string; tool?: string }): CallEvent | 'skip' | undefined {
  if (!Array.isArray(entry) || !Array.isArray(entry[1])) return undefined;
  const fields = entry[1] as unknown[];
  const out: Record<string, string> = {};
  for (let i = 0; i < fields.length - 1; i += 2) {
    const name = fields[i];
    const value = fields[i + 1];
    if (typeof name !== 'string' || typeof value !== 'string') return undefined;
    if (name === 'type' || name === 'time' || name === 'agent' || name === 'session' || name === 'tool' || name === 'argumentsHash' || name === 'arguments')
      out[name] = value;
  }
  const { type, time, agent, session, tool, argumentsHash } = out;
  if (type === undefined || !types.has(type)) return 'skip';
  if ((filter.agent !== undefined && agent !== filter.agent) || (filter.tool !== undefined && tool !== filter.tool)) return 'skip';
  if (time === undefined) return undefined;
  let args: unknown;
  if (out['arguments'] !== undefined) {
    try {
      args = JSON.parse(out['arguments']);
    } catch {
      return undefined;
    }
  }
  return {
    type: type as AuditEventType, // one of `types`, which are AuditEventTypes
    time,
    ...(agent === undefined ? {} : { agent }),
    ...(session === undefined ? {} : { session }),
    ...(tool === undefined ? {} : { tool }),
    ...(argumentsHash === undefined ? {} : { argumentsHash }),
    ...(args === undefined ? {} : { arguments: args }),
  };
}
