/**
 * A one-line progress counter for long commands (an export of a large history), redrawn in place
 * on a terminal at most every 200 ms; nothing at all when the stream is not a TTY, so pipes and
 * log files get only the command's real output.
 */
import type { Writable } from 'node:stream';

export interface Progress {
  /** Adds to the count (redraws when due). */
  add(count: number): void;
  /** Draws the final count and ends the line. */
  done(): void;
}

const redrawEveryMs = 200;

/** `label(count)` renders the line, e.g. `exported 12,345 of 50,000 events`; `enabled` false draws nothing. */
export function terminalProgress(stream: Writable, label: (count: number) => string, enabled = true): Progress {
  if (!enabled || (stream as Writable & { isTTY?: boolean }).isTTY !== true) return { add: () => undefined, done: () => undefined }; // process.stderr carries isTTY
  let count = 0;
  let drawnAt = 0;
  const draw = () => {
    drawnAt = Date.now();
    stream.write(`\r\u001b[2K${label(count)}`);
  };
  return {
    add(more) {
      count += more;
      if (Date.now() - drawnAt >= redrawEveryMs) draw();
    },
    done() {
      draw();
      stream.write('\n');
    },
  };
}
