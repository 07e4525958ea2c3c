/**
 * Time filters as operators type them: ISO 8601 (`2026-11-01`, `2026-11-01T09:30:00Z`), a span
 * back from now (`15m`, `1h`, `7d`, optionally `-7d` or `7d ago`), or `now`. One parser for the
 * CLI and the REST API, with the same duration units as the config (src/util/duration.ts).
 */
import { parseDurationMs } from '../util/duration.js';

/** What a time filter accepts, for error messages. */
export const timeHelp = 'an ISO 8601 time such as "2026-11-01" or "2026-11-01T09:30:00Z", a span back from now such as "15m", "1h" or "7d", or "now"';

const isoPattern = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;
const relativePattern = /^-?\s*(\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w))(?:\s+ago)?$/i;

/** Epoch ms of a time filter, or undefined when the text is not one (a bare number is ambiguous: rejected). */
export function parseTime(text: string, now: number = Date.now()): number | undefined {
  const trimmed = text.trim();
  if (trimmed.toLowerCase() === 'now') return now;
  const relative = relativePattern.exec(trimmed);
  if (relative) {
    const spanMs = parseDurationMs((relative[1] as string).toLowerCase()); // group 1 is mandatory in the pattern
    return spanMs === undefined ? undefined : now - spanMs;
  }
  if (!isoPattern.test(trimmed)) return undefined;
  const ms = Date.parse(trimmed);
  return Number.isFinite(ms) ? ms : undefined;
}
