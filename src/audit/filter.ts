/**
 * What a reader asks for: which events (agent, tool, type, approval) in which time range. Time
 * ranges become stream-id bounds (ids are Redis-assigned `<ms>-<n>`, so XRANGE selects by time
 * without reading outside the range); the other filters are checked on the raw entry's fields
 * while scanning, before anything is decoded.
 */
import { rawField } from './stream-entry.js';
import type { AuditEventType } from './types.js';

/** Which events a query or export selects; every field narrows, absent fields do not. */
export interface AuditFilter {
  agent?: string;
  tool?: string;
  /** One type or any of several. */
  type?: AuditEventType | readonly AuditEventType[];
  /** Events of one held call. */
  approval?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, inclusive. */
  until?: number;
}

/** A predicate over raw stream fields, or undefined when every event in the range matches. */
export function rawMatcher(filter: AuditFilter): ((fields: readonly string[]) => boolean) | undefined {
  const checks: Array<[field: string, accept: (value: string | undefined) => boolean]> = [];
  const equals = (expected: string) => (value: string | undefined) => value === expected;
  if (filter.agent !== undefined) checks.push(['agent', equals(filter.agent)]);
  if (filter.tool !== undefined) checks.push(['tool', equals(filter.tool)]);
  if (filter.approval !== undefined) checks.push(['approvalId', equals(filter.approval)]);
  if (filter.type !== undefined) {
    const types = new Set<string>(typeof filter.type === 'string' ? [filter.type] : filter.type);
    checks.push(['type', (value) => value !== undefined && types.has(value)]);
  }
  if (checks.length === 0) return undefined;
  return (fields) => checks.every(([field, accept]) => accept(rawField(fields, field)));
}

/** XRANGE start for `since` (`-` for the beginning). */
export function lowerBound(filter: AuditFilter): string {
  return filter.since === undefined ? '-' : String(Math.max(0, Math.floor(filter.since)));
}

/** XRANGE end for `until` (`+` for the end); a bare ms id means every entry of that millisecond. */
export function upperBound(filter: AuditFilter): string {
  return filter.until === undefined ? '+' : String(Math.max(0, Math.floor(filter.until)));
}
