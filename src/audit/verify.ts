/**
 * `verify`: walks the whole stream oldest first, in chunks, re-computing every hash and checking
 * every link, and reports the first break. After retention trimmed the oldest events, the walk
 * anchors on the first kept event's prevHash; that start is accepted only when a
 * `retention_trimmed` event records it, so deleting the oldest events by hand is still caught.
 * The chain head key, read before the walk, catches events deleted from the end.
 */
import type { Redis } from '../state/redis.js';
import { withStateStore } from '../state/state-store.js';
import { eventMatchesHash, genesisHash, parseHead, type ChainHead } from './chain.js';
import { RawEntriesSchema, decodeEntry, rawField, type AuditKeys, type RawEntry } from './stream-entry.js';
import type { AuditEvent } from './types.js';

/**
 * edited: an event's content no longer matches its hash. deleted: a seq is missing. reordered: a
 * seq appears out of order (or twice). broken_link: an event's prevHash is not its predecessor's
 * hash (a neighbour was rewritten with a recomputed hash). malformed: an entry is not an event.
 * truncated: the oldest events are gone and no retention trim records it.
 */
export type ChainProblem = 'edited' | 'deleted' | 'reordered' | 'broken_link' | 'malformed' | 'truncated';

/** The whole chain is sound (and where it was checked from), or the first place it is not. */
export type VerifyResult =
  | {
      ok: true;
      /** Events checked. */
      events: number;
      firstSeq?: number;
      lastSeq?: number;
      firstId?: string;
      lastId?: string;
      /** `genesis`: from seq 1; `retention`: from the first event kept after a recorded trim. */
      anchoredAt: 'genesis' | 'retention';
    }
  | {
      ok: false;
      /** Events checked before the break. */
      events: number;
      /** Stream id of the entry where the break shows ("" when the stream is empty). */
      at: string;
      /** Its seq, when readable. */
      seq?: number;
      problem: ChainProblem;
      message: string;
    };

type Break = Extract<VerifyResult, { ok: false }>;

interface Walk {
  checked: number;
  first?: AuditEvent;
  prev?: AuditEvent;
  /** `details.firstKeptSeq` of every retention_trimmed event seen. */
  trimmedTo: Set<number | null>;
}

/** Checks the whole chain; a break is a value, only a Redis fault throws. */
export async function verifyChain(redis: Redis, keys: AuditKeys, chunkSize = 1_000): Promise<VerifyResult> {
  const head = parseHead(await withStateStore(() => redis.get(keys.head)));
  const walk: Walk = { checked: 0, trimmedTo: new Set() };
  let from = '-';
  for (;;) {
    const raw = await readChunk(redis, keys, from, chunkSize);
    for (const entry of raw) {
      const broken = await checkEntry(redis, keys, walk, entry, head);
      if (broken) return broken;
    }
    const last = raw.at(-1);
    if (!last || raw.length < chunkSize) break;
    from = `(${last[0]}`;
  }
  return finish(walk, head);
}

async function checkEntry(redis: Redis, keys: AuditKeys, walk: Walk, entry: RawEntry, head: ChainHead | undefined): Promise<Break | undefined> {
  const decoded = decodeEntry(entry);
  const fail = (problem: ChainProblem, message: string, seq?: number): Break => ({
    ok: false,
    events: walk.checked,
    at: entry[0],
    ...(seq === undefined ? {} : { seq }),
    problem,
    message,
  });
  if (!decoded.ok) return fail('malformed', `entry ${entry[0]} is not an audit event (${decoded.problem})`, decoded.seq);
  const event = decoded.event;
  let matches: boolean;
  try {
    matches = eventMatchesHash(event);
  } catch (error) {
    // Content canonical JSON cannot carry (absurd nesting written straight into Redis): not an event we wrote.
    return fail('malformed', `entry ${entry[0]} is not an audit event (${error instanceof Error ? error.message : String(error)})`, event.seq);
  }
  if (!matches) return fail('edited', `event seq ${event.seq} (${event.id}) was edited: its content no longer matches its hash`, event.seq);
  const prev = walk.prev;
  if (prev === undefined) {
    if (event.seq === 1 && event.prevHash !== genesisHash) return fail('broken_link', `the first event (seq 1) does not start from the genesis hash`, 1);
  } else if (event.seq > prev.seq + 1) {
    const missing = prev.seq + 1;
    const later = await findSeqAfter(redis, keys, entry[0], missing);
    return later
      ? fail('reordered', `event seq ${missing} appears after seq ${event.seq} (at ${later}): events were reordered`, event.seq)
      : fail('deleted', `event seq ${missing}${event.seq - missing > 1 ? `–${event.seq - 1}` : ''} is missing before seq ${event.seq}: deleted`, event.seq);
  } else if (event.seq <= prev.seq) {
    return fail('reordered', `event seq ${event.seq} follows seq ${prev.seq}: events were reordered or duplicated`, event.seq);
  } else if (event.prevHash !== prev.hash) {
    return fail('broken_link', `event seq ${event.seq} does not link to seq ${prev.seq}: one of them was rewritten with a recomputed hash`, event.seq);
  }
  if (head && event.seq === head.seq && event.hash !== head.hash) {
    return fail('edited', `event seq ${event.seq} is not the event the chain head recorded: it was rewritten`, event.seq);
  }
  if (event.type === 'retention_trimmed') {
    const kept = event.details?.['firstKeptSeq'];
    walk.trimmedTo.add(typeof kept === 'number' ? kept : null);
  }
  walk.first ??= event;
  walk.prev = event;
  walk.checked += 1;
  return undefined;
}

function finish(walk: Walk, head: ChainHead | undefined): VerifyResult {
  const { first, prev: last, checked } = walk;
  const headSeq = head?.seq ?? 0;
  if (!first || !last) {
    if (headSeq > 0)
      return {
        ok: false,
        events: 0,
        at: '',
        problem: 'deleted',
        message: `the stream is empty but the chain head records ${headSeq} events: they were deleted`,
      };
    return { ok: true, events: 0, anchoredAt: 'genesis' };
  }
  if (last.seq < headSeq) {
    return {
      ok: false,
      events: checked,
      at: last.id,
      seq: last.seq,
      problem: 'deleted',
      message: `the chain head records seq ${headSeq} but the stream ends at seq ${last.seq}: events were deleted from the end`,
    };
  }
  if (first.seq > 1) {
    // The trim record names the first seq it kept; when it trimmed everything it is itself the first event.
    const recorded = walk.trimmedTo.has(first.seq) || (first.type === 'retention_trimmed' && walk.trimmedTo.has(null));
    if (!recorded) {
      return {
        ok: false,
        events: checked,
        at: first.id,
        seq: first.seq,
        problem: 'truncated',
        message: `events before seq ${first.seq} are gone and no retention_trimmed event records trimming them`,
      };
    }
  }
  return {
    ok: true,
    events: checked,
    firstSeq: first.seq,
    lastSeq: last.seq,
    firstId: first.id,
    lastId: last.id,
    anchoredAt: first.seq === 1 ? 'genesis' : 'retention',
  };
}

async function readChunk(redis: Redis, keys: AuditKeys, from: string, count: number): Promise<RawEntry[]> {
  return withStateStore(async () => RawEntriesSchema.parse(await redis.xrange(keys.stream, from, '+', 'COUNT', count)));
}

/** Looks a little way ahead for a seq that should have come already (reordered vs deleted). */
async function findSeqAfter(redis: Redis, keys: AuditKeys, afterId: string, seq: number): Promise<string | undefined> {
  const ahead = await readChunk(redis, keys, `(${afterId}`, 10_000);
  return ahead.find(([, fields]) => rawField(fields, 'seq') === String(seq))?.[0];
}
