/**
 * The audit history: every step of every call and every administrative act, appended by any
 * replica to one Redis Stream (`<prefix>audit`) as a SHA-256 hash chain. It is the AuditSink the
 * pipeline, the approvals core and the gateway write through, and what the REST API and
 * `airlock audit` read from.
 *
 * Design:
 * - Chain: each event carries seq, prevHash and hash (see chain.ts); the head key
 *   `<prefix>audit:head` holds the last "seq hash".
 * - Atomic appends across replicas: events are hashed in Node against the cached head and written
 *   by one Lua script that appends them only if the head is unchanged (append-script.ts); a replica
 *   that lost a race re-hashes against the head the script returned. No locks, no lease to expire.
 * - Group commit: concurrent appends in this process share one script call (chain-writer.ts), so
 *   an allowed call's audit costs at most one round trip, and throughput grows with load.
 * - Never lost silently: a failed write is retried with backoff, then `state_store_unavailable`.
 * - Bounded: arguments bigger than `maxArgumentsBytes` are stored as a truncated copy
 *   (stored-arguments.ts); the event's `argumentsHash` still covers the full arguments.
 * - Retention by time, recorded in the chain itself (retention.ts); an optional JSON-lines mirror.
 */
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import type { Redis } from '../state/redis.js';
import { withStateStore } from '../state/state-store.js';
import { ChainWriter } from './chain-writer.js';
import { readCallEvents, type CallEvent, type CallReadOptions } from './call-reader.js';
import { exportEvents, exportReadable, exportText, type ExportOptions } from './export.js';
import { FileMirror } from './file-mirror.js';
import type { AuditFilter } from './filter.js';
import { defaultScanBudget, queryEvents, storyOf, type AuditPage, type AuditQuery } from './query.js';
import { trimBefore, type TrimOutcome } from './retention.js';
import { auditKeys, type AuditKeys } from './stream-entry.js';
import type { AuditEvent, AuditEventInput, AuditSink } from './types.js';
import { verifyChain, type VerifyResult } from './verify.js';

/** How a store is built: the gateway passes its connection, prefix and the config's `audit` section. */
export interface AuditStoreOptions {
  /** Fail-fast connection (the gateway's call-path connection is right). */
  redis: Redis;
  /** Key prefix from the config (`airlock:`). */
  prefix: string;
  log?: Logger;
  /** Keep events this long (ms); older ones are trimmed. Unset: keep everything. */
  retentionMs?: number;
  /** Mirror every stored event to this JSON-lines file. */
  file?: string;
  /** How often to trim (default 1 h; 0: never, e.g. in the CLI). Also trims once on start. */
  trimIntervalMs?: number;
  /** Entries one query page may examine (default 20,000). */
  scanBudget?: number;
  /** Write attempts before `state_store_unavailable` (default 4), each within attemptTimeoutMs (default 2 s). */
  writeAttempts?: number;
  attemptTimeoutMs?: number;
  /** First retry backoff, doubling (default 50 ms). */
  backoffMs?: number;
  /** Largest `arguments` stored per event, in canonical JSON bytes (config `audit.maxArgumentsBytes`); bigger ones are stored truncated. */
  maxArgumentsBytes?: number;
  /** Close the connection on close() (the CLI's store owns its connection). */
  ownsConnection?: boolean;
  now?: () => number;
}

/**
 * The hash-chained audit history in Redis: append (AuditSink), query, export, verify, story,
 * retention. A class because it has a lifecycle: `start()` reads the head and begins trimming,
 * `close()` waits for queued events.
 */
export class AuditStore implements AuditSink {
  readonly keys: AuditKeys;
  private readonly options: AuditStoreOptions;
  private readonly redis: Redis;
  private readonly writer: ChainWriter;
  private readonly mirror: FileMirror | undefined;
  private readonly now: () => number;
  private trimTimer: NodeJS.Timeout | undefined;
  private trimming: Promise<unknown> | undefined;

  constructor(options: AuditStoreOptions) {
    this.options = options;
    this.redis = options.redis;
    this.now = options.now ?? Date.now;
    this.keys = auditKeys(options.prefix);
    this.mirror = options.file === undefined ? undefined : new FileMirror(options.file, options.log);
    const retentionMs = options.retentionMs ?? 0;
    this.writer = new ChainWriter({
      redis: options.redis,
      keys: this.keys,
      now: this.now,
      // The index of a held call outlives its last event by a day, so it never points past the stream.
      indexTtlMs: retentionMs > 0 ? retentionMs + 86_400_000 : 0,
      ...(this.mirror ? { onStored: (events: readonly AuditEvent[]) => this.mirror?.write(events) } : {}),
      ...(options.writeAttempts === undefined ? {} : { attempts: options.writeAttempts }),
      ...(options.attemptTimeoutMs === undefined ? {} : { attemptTimeoutMs: options.attemptTimeoutMs }),
      ...(options.backoffMs === undefined ? {} : { backoffMs: options.backoffMs }),
      ...(options.maxArgumentsBytes === undefined ? {} : { maxArgumentsBytes: options.maxArgumentsBytes }),
    });
  }

  /** Reads the chain head and starts retention. Redis being down here is logged, not fatal. */
  async start(): Promise<void> {
    try {
      await this.writer.loadHead();
    } catch (error) {
      this.options.log?.warn({ err: errorText(error) }, 'audit chain head not read at start; the first append will fetch it');
    }
    const intervalMs = this.options.trimIntervalMs ?? 3_600_000;
    if (this.options.retentionMs === undefined || intervalMs <= 0) return;
    await this.trimQuietly();
    this.trimTimer = setInterval(() => void this.trimQuietly(), intervalMs);
    this.trimTimer.unref();
  }

  /** Stops retention, waits for queued events to be stored, closes the mirror. */
  async close(): Promise<void> {
    clearInterval(this.trimTimer);
    this.trimTimer = undefined;
    await this.trimming;
    await this.writer.flush();
    await this.mirror?.close();
    if (this.options.ownsConnection) await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** Stores one event (hash-chained, after any queued before it); throws `state_store_unavailable` if it cannot. */
  append(event: AuditEventInput): Promise<void> {
    return this.writer.append(event);
  }

  /**
   * Trims events older than the retention and records `retention_trimmed` when any went.
   * Returns what was trimmed; a no-op without a retention.
   */
  async trim(): Promise<TrimOutcome | undefined> {
    const retentionMs = this.options.retentionMs;
    if (retentionMs === undefined) return undefined;
    const outcome = await trimBefore(this.redis, this.keys, this.now() - retentionMs);
    if (outcome.trimmed > 0) {
      await this.append({
        type: 'retention_trimmed',
        actor: { kind: 'system', id: 'airlock' },
        reason: `events older than the retention (${retentionMs} ms) removed`,
        details: {
          trimmedBefore: outcome.minId,
          trimmedCount: outcome.trimmed,
          firstKeptId: outcome.firstKept?.id ?? null,
          firstKeptSeq: outcome.firstKept?.seq ?? null,
          retentionMs,
        },
      });
    }
    return outcome;
  }

  /** One page, newest first; see AuditQuery. */
  query(query: AuditQuery = {}): Promise<AuditPage> {
    return queryEvents(this.redis, this.keys, query, this.options.scanBudget ?? defaultScanBudget);
  }

  /** The calls of the history (only the fields a replay reads), oldest first, in chunks; see call-reader.ts. */
  calls(options: CallReadOptions, skipped?: { count: number }): AsyncGenerator<CallEvent[]> {
    return readCallEvents(this.redis, this.keys, options, skipped);
  }

  /** Events oldest first, in chunks (flat memory). */
  events(filter: AuditFilter = {}, chunkSize?: number): AsyncGenerator<AuditEvent[]> {
    return exportEvents(this.redis, this.keys, filter, chunkSize);
  }

  /** The export as text chunks of whole lines (JSONL, or CSV with its header row). */
  export(options: ExportOptions): AsyncGenerator<string> {
    return exportText(this.redis, this.keys, options);
  }

  /** The export as a Readable that respects backpressure. */
  exportStream(options: ExportOptions): Readable {
    return exportReadable(this.redis, this.keys, options);
  }

  /** How many events the history holds now (for progress: "12,345 of 50,000"). */
  size(): Promise<number> {
    return withStateStore(() => this.redis.xlen(this.keys.stream));
  }

  /** Walks the whole chain; reports the first broken link. */
  verify(): Promise<VerifyResult> {
    return verifyChain(this.redis, this.keys);
  }

  /** Every event of one held call, oldest first: requested → votes → decision → execution. */
  story(approvalId: string): Promise<AuditEvent[]> {
    return storyOf(this.redis, this.keys, approvalId);
  }

  private async trimQuietly(): Promise<void> {
    const run = this.trim().catch((error: unknown) => {
      this.options.log?.warn({ err: errorText(error) }, 'audit retention trim failed; will retry at the next interval');
    });
    this.trimming = run;
    await run;
  }
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));
