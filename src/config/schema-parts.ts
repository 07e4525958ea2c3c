/**
 * Field types shared by the config schemas (schema.ts, oauth-schema.ts): durations and sizes
 * written the way an operator writes them, parsed into milliseconds and bytes.
 */
import { z } from 'zod';
import { durationHelp, parseDurationMs } from '../util/duration.js';

/** A duration field: accepts "15m", "30s", 60 …; yields milliseconds. */
export function durationMs() {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDurationMs(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected ${durationHelp}, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return ms;
  });
}

/** A size such as "256kb", "1mb" or a number of bytes; yields bytes (at least 1 KiB). */
export function byteSize() {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const match = typeof value === 'number' ? [String(value), String(value), ''] : /^(\d+)\s*(b|kb|mb)?$/i.exec(value.trim());
    const unit = (match?.[2] ?? '').toLowerCase();
    const bytes = match ? Number(match[1]) * (unit === 'mb' ? 1_048_576 : unit === 'kb' ? 1_024 : 1) : NaN;
    if (!Number.isSafeInteger(bytes) || bytes < 1_024) {
      ctx.addIssue({ code: 'custom', message: `expected a size of at least 1kb such as "256kb" or "1mb", got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return bytes;
  });
}

/** A duration field with a default written the way an operator would write it. */
export function durationMsDefault(defaultValue: string) {
  return durationMs().prefault(defaultValue);
}
