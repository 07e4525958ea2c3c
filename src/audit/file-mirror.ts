/**
 * The optional JSON-lines mirror of the audit history, for shipping to a log pipeline. Each event
 * is written after Redis stored it, with its id and hashes, one line per event, in chain order
 * per process. Redis stays the record: a mirror that cannot be written is logged, never fatal.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from '../log.js';
import { eventJsonLine } from './export.js';
import type { AuditEvent } from './types.js';

/** Appends stored events to a JSON-lines file; a class because it holds the open file. */
export class FileMirror {
  private readonly file: string;
  private readonly log: Logger | undefined;
  private stream: WriteStream | undefined;
  private failing = false;

  constructor(file: string, log: Logger | undefined) {
    this.file = file;
    this.log = log;
  }

  /** Appends events as JSON lines; opens the file on first use and again after a failure. */
  write(events: readonly AuditEvent[]): void {
    if (events.length === 0) return;
    const stream = this.open();
    stream.write(events.map(eventJsonLine).join(''));
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    if (!stream || stream.destroyed) return;
    await new Promise<void>((resolve) => stream.end(resolve));
  }

  private open(): WriteStream {
    if (this.stream && !this.stream.destroyed) return this.stream;
    const stream = createWriteStream(this.file, { flags: 'a' });
    stream.on('error', (error) => {
      if (!this.failing) this.log?.error({ err: error.message, file: this.file }, 'audit mirror file not written; Redis still has every event');
      this.failing = true;
      stream.destroy();
    });
    stream.on('open', () => {
      if (this.failing) this.log?.info({ file: this.file }, 'audit mirror file writable again');
      this.failing = false;
    });
    this.stream = stream;
    return stream;
  }
}
