/**
 * Reading the audit history newest first, a page at a time, and one held call's story. A page
 * scans back from a fixed upper bound (the cursor, exclusive), so paging returns every event
 * exactly once even while new ones are appended above it. A sparse filter over a long history is
 * bounded by a scan budget: the page may come back short, with a cursor to continue from.
 */
import { AirlockError } from '../errors.js';
import type { Redis } from '../state/redis.js';
import { withStateStore } from '../state/state-store.js';
import { lowerBound, rawMatcher, upperBound, type AuditFilter } from './filter.js';
import { RawEntriesSchema, decodeEntries, decodeEntry, streamIdPattern, type AuditKeys } from './stream-entry.js';
import type { AuditEvent } from './types.js';

/** A page request: a filter plus the page size and where to continue. */
export interface AuditQuery extends AuditFilter {
  /** Events per page (1–1000, default 50). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** One page of events and how to get the next. */
export interface AuditPage {
  /** Newest first. */
  events: AuditEvent[];
  /** Present when there may be more: pass it as `cursor` to continue. */
  nextCursor?: string;
  /** Entries examined for this page (a filter may skip most of them). */
  scanned: number;
}

/** Page size when none is asked for, and the most one page may hold. */
export const defaultPageSize = 50;
export const maxPageSize = 1_000;
/** Entries one page may examine before it returns (short) with a cursor. */
export const defaultScanBudget = 20_000;
const scanChunk = 1_000;

/** One page of events, newest first. */
export async function queryEvents(redis: Redis, keys: AuditKeys, query: AuditQuery, scanBudget = defaultScanBudget): Promise<AuditPage> {
  const limit = Math.min(Math.max(Math.floor(query.limit ?? defaultPageSize), 1), maxPageSize);
  const matches = rawMatcher(query);
  const lower = lowerBound(query);
  let upper = startBound(query);
  const events: AuditEvent[] = [];
  let scanned = 0;
  while (scanned < scanBudget) {
    // Unfiltered pages read one entry beyond the limit, so they know whether there is more.
    const count = Math.min(matches ? scanChunk : limit - events.length + 1, scanBudget - scanned);
    const raw = RawEntriesSchema.parse(await withStateStore(() => redis.xrevrange(keys.stream, upper, lower, 'COUNT', count)));
    for (const entry of raw) {
      if (matches && !matches(entry[1])) {
        scanned += 1;
        continue;
      }
      if (events.length === limit) return { events, nextCursor: (events.at(-1) as AuditEvent).id, scanned }; // limit ≥ 1
      scanned += 1;
      const decoded = decodeEntry(entry);
      if (decoded.ok) events.push(decoded.event);
    }
    const last = raw.at(-1);
    if (raw.length < count || !last) return { events, scanned };
    if (events.length === limit) return { events, nextCursor: (events.at(-1) as AuditEvent).id, scanned }; // limit ≥ 1
    upper = `(${last[0]}`;
  }
  return { events, nextCursor: upper.slice(1), scanned };
}

/** The newest entry a page may return: below the cursor and at or before `until`. */
function startBound(query: AuditQuery): string {
  const cursor = query.cursor;
  if (cursor === undefined) return upperBound(query);
  if (!streamIdPattern.test(cursor))
    throw new AirlockError(
      'invalid_request',
      `cursor must be a stream id such as "1730000000000-0" (a nextCursor), got ${JSON.stringify(cursor.slice(0, 40))}`,
    );
  const cursorMs = Number(cursor.split('-')[0]);
  return query.until !== undefined && cursorMs > query.until ? upperBound(query) : `(${cursor}`;
}

/** Most events one held call's story returns. */
const maxStoryEvents = 1_000;

/** Every event of one held call, oldest first (from the per-approval index the append script keeps). */
export async function storyOf(redis: Redis, keys: AuditKeys, approvalId: string): Promise<AuditEvent[]> {
  return withStateStore(async () => {
    const ids = (await redis.lrange(keys.approval(approvalId), 0, maxStoryEvents - 1)).filter((id) => streamIdPattern.test(id));
    if (ids.length === 0) return [];
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.xrange(keys.stream, id, id);
    const replies = (await pipeline.exec()) ?? [];
    const events: AuditEvent[] = [];
    for (const [error, reply] of replies) {
      if (error) throw error;
      // An id whose entry retention already trimmed yields nothing; the rest of the story stands.
      events.push(...decodeEntries(reply).events.filter((e) => e.approvalId === approvalId));
    }
    return events;
  });
}
