/**
 * Redis key names for rate-limit counters, shared by the limiter (call path) and `inspect`
 * (`airlock limits show`). A counter's log lives at `${prefix}limit:${counter}:${scopeKey}` with
 * scopeKey `global`, `grant:<agent>` or `session:<sessionId>`; its meta hash (window, max) at
 * `${prefix}limit-meta:${counter}`. Names depend only on the counter name and the subject, never
 * on the window or max, so counts survive a policy hot reload and a gateway restart.
 */
import { assertNever, type LimitScope } from '../policy/types.js';
import type { LimitSubject } from './types.js';

/** Characters kept as they are in a key segment; everything else is percent-encoded. */
const safeChar = /[A-Za-z0-9_.@-]/;

/**
 * Percent-encodes a key segment so it holds no `:` (the separator) and no glob characters
 * (`*?[]\`, which SCAN MATCH would interpret). Reversible with `decodeURIComponent`.
 */
export function escapeKeySegment(value: string): string {
  let out = '';
  for (const char of value) {
    if (safeChar.test(char)) out += char;
    else for (const byte of Buffer.from(char, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Escapes the glob characters of a literal string for SCAN MATCH. */
export function escapeGlob(value: string): string {
  return value.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** The scope part of a counter's key: one count for everyone, per agent, or per session. */
export function scopeKey(scope: LimitScope, subject: LimitSubject): string {
  switch (scope) {
    case 'global':
      return 'global';
    case 'grant':
      return `grant:${escapeKeySegment(subject.agent)}`;
    case 'session':
      return `session:${escapeKeySegment(subject.sessionId)}`;
    default:
      return assertNever(scope);
  }
}

/** Key builders bound to one deployment's prefix. */
export interface LimitKeys {
  /** The sorted set of admission times for one counter and one scope key. */
  log(counter: string, scope: LimitScope, subject: LimitSubject): string;
  /** The hash holding the counter's window and max (written when a call is admitted). */
  meta(counter: string): string;
  /** SCAN MATCH pattern covering every counter log of this prefix. */
  logPattern(): string;
  /** Reads a log key back; undefined for a key that is not one of ours. */
  parseLog(key: string): ParsedLogKey | undefined;
}

/** A counter log's key read back: which counter, scope and subject it counts. */
export interface ParsedLogKey {
  counter: string;
  scope: LimitScope;
  /** Agent for `grant`, session id for `session`, undefined for `global`. */
  subject: string | undefined;
}

/** The key builders for one prefix (`redis.prefix` in the config, e.g. `airlock:`). */
export function limitKeys(prefix: string): LimitKeys {
  const logStart = `${prefix}limit:`;
  return {
    log: (counter, scope, subject) => `${logStart}${escapeKeySegment(counter)}:${scopeKey(scope, subject)}`,
    meta: (counter) => `${prefix}limit-meta:${escapeKeySegment(counter)}`,
    logPattern: () => `${escapeGlob(logStart)}*`,
    parseLog: (key) => (key.startsWith(logStart) ? parseLogRest(key.slice(logStart.length)) : undefined),
  };
}

function parseLogRest(rest: string): ParsedLogKey | undefined {
  const [counter, kind, subject, extra] = rest.split(':');
  if (counter === undefined || counter === '' || extra !== undefined) return undefined;
  const decoded = safeDecode(counter);
  if (decoded === undefined) return undefined;
  if (kind === 'global' && subject === undefined) return { counter: decoded, scope: 'global', subject: undefined };
  if ((kind === 'grant' || kind === 'session') && subject !== undefined) {
    const who = safeDecode(subject);
    return who === undefined ? undefined : { counter: decoded, scope: kind, subject: who };
  }
  return undefined;
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined; // not written by escapeKeySegment: someone else's key under our prefix
  }
}
