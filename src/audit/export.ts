/**
 * Export of the audit history, oldest first, as JSON lines or CSV. It reads the stream in chunks
 * with XRANGE (the next chunk is requested while the current one is formatted) and yields text a
 * chunk at a time, so memory stays flat whatever the history's size, and a consumer that reads
 * slowly (an HTTP client) slows the reading down. Without `until`, the export stops at the newest
 * event present when it began: it is a snapshot and always ends.
 */
import { Readable } from 'node:stream';
import type { Redis } from '../state/redis.js';
import { withStateStore } from '../state/state-store.js';
import { escapeInvisibleInJson } from '../util/visible-text.js';
import { csvHeader, eventCsvRecord } from './csv.js';
import { lowerBound, rawMatcher, upperBound, type AuditFilter } from './filter.js';
import { RawEntriesSchema, decodeEntry, type AuditKeys, type RawEntry } from './stream-entry.js';
import type { AuditEvent } from './types.js';

/** What `export` can write: JSON lines (lossless, re-verifiable) or CSV (for spreadsheets). */
export const exportFormats = ['jsonl', 'csv'] as const;
/** One of exportFormats. */
export type ExportFormat = (typeof exportFormats)[number];

/** Which events to export, and how. */
export interface ExportOptions extends AuditFilter {
  format: ExportFormat;
  /** Entries per XRANGE (default 1000). */
  chunkSize?: number;
}

/** Content types for HTTP and file names for downloads. */
export const exportMedia: Record<ExportFormat, { contentType: string; extension: string }> = {
  jsonl: { contentType: 'application/x-ndjson; charset=utf-8', extension: 'jsonl' },
  csv: { contentType: 'text/csv; charset=utf-8', extension: 'csv' },
};

/**
 * One event as a JSON line, fields in reading order, ending in "\n". Invisible and bidi
 * characters are written as JSON escapes (`\u202e`): the line parses to the very same values
 * (so hashes re-verify), and whoever reads the file sees them.
 */
export function eventJsonLine(event: AuditEvent): string {
  const {
    id,
    time,
    seq,
    type,
    agent,
    session,
    upstream,
    tool,
    approvalId,
    actor,
    reason,
    outcome,
    policyVersion,
    rule,
    argumentsHash,
    latency,
    details,
    prevHash,
    hash,
  } = event;
  const args = event.arguments;
  const json = JSON.stringify({
    id,
    time,
    seq,
    type,
    agent,
    session,
    upstream,
    tool,
    approvalId,
    actor,
    reason,
    outcome,
    policyVersion,
    rule,
    argumentsHash,
    arguments: args,
    latency,
    details,
    prevHash,
    hash,
  });
  return `${escapeInvisibleInJson(json)}\n`;
}

/** Events oldest first, a chunk at a time, filtered. */
export async function* exportEvents(redis: Redis, keys: AuditKeys, filter: AuditFilter, chunkSize = 1_000): AsyncGenerator<AuditEvent[]> {
  const upper = filter.until === undefined ? await newestId(redis, keys) : upperBound(filter);
  if (upper === undefined) return;
  const matches = rawMatcher(filter);
  const fetch = (from: string) => withStateStore(async () => RawEntriesSchema.parse(await redis.xrange(keys.stream, from, upper, 'COUNT', chunkSize)));
  let next: Promise<RawEntry[]> | undefined = fetch(lowerBound(filter));
  while (next) {
    const raw: RawEntry[] = await next;
    const last = raw.at(-1);
    next = undefined;
    if (last && raw.length === chunkSize && last[0] !== upper) {
      next = fetch(`(${last[0]}`);
      next.catch(() => undefined); // awaited on the next turn; this only keeps an early stop from leaving it unhandled
    }
    const events: AuditEvent[] = [];
    for (const entry of raw) {
      if (matches && !matches(entry[1])) continue;
      const decoded = decodeEntry(entry);
      if (decoded.ok) events.push(decoded.event);
    }
    if (events.length > 0) yield events;
  }
}

/** The export as text chunks, each made of whole lines (CSV starts with its header row). */
export async function* exportText(redis: Redis, keys: AuditKeys, options: ExportOptions): AsyncGenerator<string> {
  const format = options.format === 'csv' ? eventCsvRecord : eventJsonLine;
  if (options.format === 'csv') yield csvHeader;
  for await (const events of exportEvents(redis, keys, options, options.chunkSize)) {
    let text = '';
    for (const event of events) text += format(event);
    yield text;
  }
}

/** The export as a Readable: pipe it to a response or a file; it reads only as fast as they drain. */
export function exportReadable(redis: Redis, keys: AuditKeys, options: ExportOptions): Readable {
  return Readable.from(exportText(redis, keys, options), { objectMode: false, highWaterMark: 1 << 16 });
}

async function newestId(redis: Redis, keys: AuditKeys): Promise<string | undefined> {
  const raw = await withStateStore(async () => RawEntriesSchema.parse(await redis.xrevrange(keys.stream, '+', '-', 'COUNT', 1)));
  return raw[0]?.[0];
}
