/**
 * Group commit for the audit chain. `append()` serialises and queues an event; one batch is in
 * flight at a time, and every event that arrives meanwhile goes out together in the next script
 * call. So an event costs at most one Redis round trip (the cached head spares a read), and under
 * load many events share one. A write that fails is retried with short backoff, then every caller
 * of the batch gets `state_store_unavailable`: an event is stored or its writer hears why not.
 */
import { AirlockError } from '../errors.js';
import type { Redis } from '../state/redis.js';
import { describeStateStoreFault, withStateStore } from '../state/state-store.js';
import { canonicalJson } from '../util/canonical.js';
import { appendBatch, type AppendReply } from './append-script.js';
import { chainHash, contentOf, emptyHead, formatHead, parseHead, type AuditContent, type ChainHead } from './chain.js';
import { capArguments } from './stored-arguments.js';
import { encodeFields, type AuditKeys } from './stream-entry.js';
import type { AuditEvent, AuditEventInput } from './types.js';

/** The writer's Redis, keys and clock, and how hard it tries before giving up. */
export interface ChainWriterOptions {
  redis: Redis;
  keys: AuditKeys;
  now: () => number;
  /** Expiry of the per-approval index keys (0 keeps them); follows the retention. */
  indexTtlMs: number;
  /** Called with each batch once it is stored (the file mirror). Must not throw. */
  onStored?: (events: readonly AuditEvent[]) => void;
  /** Attempts per batch before giving up on Redis (default 4). */
  attempts?: number;
  /** Deadline of one attempt (default 2 s). */
  attemptTimeoutMs?: number;
  /** First backoff; doubles each retry (default 50 ms). */
  backoffMs?: number;
  /** Largest `arguments` stored per event (canonical JSON bytes); bigger ones become a truncated copy. Unset: no cap. */
  maxArgumentsBytes?: number;
}

interface Pending {
  content: AuditContent;
  contentJson: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Sealed {
  pending: Pending;
  seq: number;
  prevHash: string;
  hash: string;
  fields: string[];
}

/** Most events one script call carries, and roughly most bytes, so one batch never stalls Redis. */
const maxBatchEvents = 512;
const maxBatchBytes = 2_000_000;
/** Give up re-hashing against a moving head after this long (a replica storm, not a fault). */
const conflictBudgetMs = 10_000;

/** Appends events to the chain in group-committed batches (one in flight at a time). */
export class ChainWriter {
  private readonly options: ChainWriterOptions;
  private readonly queue: Pending[] = [];
  private draining: Promise<void> | undefined;
  private head: ChainHead | undefined;

  constructor(options: ChainWriterOptions) {
    this.options = options;
  }

  /** Reads the head once so the first append needs no conflict round trip. */
  async loadHead(): Promise<void> {
    const text = await withStateStore(() => this.options.redis.get(this.options.keys.head));
    this.head = this.readHead(text);
  }

  /** A head key that is not `"<seq> <hash>"` was written by someone else: stop, do not fork the chain. */
  private readHead(text: string | null): ChainHead {
    const head = parseHead(text);
    if (head) return head;
    throw new AirlockError(
      'internal',
      `The audit chain head ${this.options.keys.head} holds ${JSON.stringify(text?.slice(0, 100))}, not "<seq> <hash>"; refusing to append. Run \`airlock audit verify\` and restore the key.`,
    );
  }

  /** Queues an event; resolves when it is stored. Bad input (not JSON-able) rejects only this call. */
  async append(input: AuditEventInput): Promise<void> {
    const whole = contentOf({ ...input, time: new Date(this.options.now()).toISOString() });
    const wholeJson = canonicalJson(whole);
    const content = capArguments(whole, wholeJson, this.options.maxArgumentsBytes);
    const contentJson = content === whole ? wholeJson : canonicalJson(content);
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ content, contentJson, resolve, reject });
      this.draining ??= this.drain();
    });
  }

  /** Resolves when every queued event has been stored or refused. */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        try {
          const events = await this.commit(batch);
          for (const item of batch) item.resolve();
          this.options.onStored?.(events);
        } catch (error) {
          for (const item of batch) item.reject(error);
        }
      }
    } finally {
      this.draining = undefined;
    }
  }

  private takeBatch(): Pending[] {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && count < maxBatchEvents && bytes < maxBatchBytes) {
      bytes += (this.queue[count] as Pending).contentJson.length; // count < length
      count += 1;
    }
    return this.queue.splice(0, count);
  }

  /** Writes one batch: re-hashes on conflict, retries faults with backoff, then throws. */
  private async commit(batch: Pending[]): Promise<AuditEvent[]> {
    const attempts = this.options.attempts ?? 4;
    const conflictDeadline = Date.now() + conflictBudgetMs;
    let failures = 0;
    let lookFor = '';
    for (;;) {
      const head = this.head ?? emptyHead;
      const sealed = seal(batch, head);
      let reply: AppendReply;
      try {
        reply = await withStateStore(() => this.send(head, sealed, lookFor), this.options.attemptTimeoutMs ?? 2_000);
      } catch (error) {
        failures += 1;
        lookFor = sealed.at(-1)?.hash ?? '';
        if (failures >= attempts) throw auditUnavailable(error, failures);
        await sleep((this.options.backoffMs ?? 50) * 2 ** (failures - 1));
        continue;
      }
      if (reply.kind === 'conflict') {
        this.head = this.readHead(reply.head);
        lookFor = '';
        if (Date.now() > conflictDeadline) throw auditUnavailable(new Error('the chain head kept moving'), failures);
        continue;
      }
      if (reply.kind === 'landed') this.head = this.readHead(reply.head);
      else this.head = tail(sealed) ?? head;
      return sealed.map((s, i) => ({ id: reply.ids[i] ?? '', ...s.pending.content, seq: s.seq, prevHash: s.prevHash, hash: s.hash }));
    }
  }

  private send(head: ChainHead, sealed: Sealed[], lookFor: string): Promise<AppendReply> {
    const { redis, keys, indexTtlMs } = this.options;
    return appendBatch(redis, {
      streamKey: keys.stream,
      headKey: keys.head,
      approvalKey: keys.approval,
      expectedHead: formatHead(head),
      newHead: formatHead(tail(sealed) ?? head),
      lookFor,
      indexTtlMs,
      events: sealed.map((s) => ({ approvalId: s.pending.content.approvalId, fields: s.fields })),
    });
  }
}

/** Hashes a batch onto a head: seq and prevHash follow from the event before. */
function seal(batch: readonly Pending[], head: ChainHead): Sealed[] {
  let prev = head;
  return batch.map((pending) => {
    const seq = prev.seq + 1;
    const hash = chainHash(pending.contentJson, seq, prev.hash);
    const sealed = { pending, seq, prevHash: prev.hash, hash, fields: encodeFields(pending.content, seq, prev.hash, hash) };
    prev = { seq, hash };
    return sealed;
  });
}

function tail(sealed: readonly Sealed[]): ChainHead | undefined {
  const last = sealed.at(-1);
  return last ? { seq: last.seq, hash: last.hash } : undefined;
}

function auditUnavailable(cause: unknown, attempts: number): AirlockError {
  const why = describeStateStoreFault(cause instanceof AirlockError && cause.cause !== undefined ? cause.cause : cause);
  return new AirlockError(
    'state_store_unavailable',
    `${why}, so the audit history could not record this event after ${attempts} attempt${attempts === 1 ? '' : 's'}. Retry in a few seconds.`,
    { retryAfterSec: 5, cause },
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
