/**
 * Retention: drops events older than the retention by time (exact `XTRIM MINID`, so the first
 * kept event is known precisely) and reads the first kept event in the same MULTI. The store then
 * records a `retention_trimmed` event naming that first kept seq, which is what lets `verify`
 * start there instead of reporting the missing older events as deleted.
 */
import { z } from 'zod';
import type { Redis } from '../state/redis.js';
import { withStateStore } from '../state/state-store.js';
import { RawEntriesSchema, rawField, type AuditKeys } from './stream-entry.js';

/** What one trim removed and where the history now starts. */
export interface TrimOutcome {
  /** Entries removed. */
  trimmed: number;
  /** Everything below this stream id was removed. */
  minId: string;
  /** The oldest event left, when any. */
  firstKept?: { id: string; seq: number | undefined };
}

const TrimReplySchema = z.tuple([z.tuple([z.null(), z.number()]), z.tuple([z.null(), RawEntriesSchema])]);

/** Removes every event recorded before `beforeMs` (epoch ms). */
export async function trimBefore(redis: Redis, keys: AuditKeys, beforeMs: number): Promise<TrimOutcome> {
  const minId = `${Math.max(0, Math.floor(beforeMs))}-0`;
  const reply = await withStateStore(() => redis.multi().xtrim(keys.stream, 'MINID', minId).xrange(keys.stream, '-', '+', 'COUNT', 1).exec());
  const [[, trimmed], [, first]] = TrimReplySchema.parse(reply);
  const entry = first[0];
  if (!entry) return { trimmed, minId };
  const seq = Number(rawField(entry[1], 'seq'));
  return { trimmed, minId, firstKept: { id: entry[0], seq: Number.isSafeInteger(seq) ? seq : undefined } };
}
