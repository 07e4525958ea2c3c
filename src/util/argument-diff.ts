/**
 * What changed between two argument sets, path by path, for approvers ("notebook_params.date
 * changed from 2026-11-01 to 2026-11-02"). Objects are walked; any other value (arrays included)
 * is compared whole by its canonical JSON, so key order and number spelling never show as changes.
 * Works on display-safe (redacted) arguments: a masked value compares as the mask.
 */
import { canonicalJson } from './canonical.js';

export interface ArgumentChange {
  /** Dotted path, e.g. `params.notebook_params.date`. */
  path: string;
  /** Absent: the path is new in the later call. */
  from?: unknown;
  /** Absent: the path is gone in the later call. */
  to?: unknown;
}

/** Changes from `before` to `after`, in path order, at most `max` of them (`more` counts the rest). */
export function argumentChanges(before: unknown, after: unknown, max = 20): { changes: ArgumentChange[]; more: number } {
  const all: ArgumentChange[] = [];
  walk(before, after, [], all);
  all.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { changes: all.slice(0, max), more: Math.max(0, all.length - max) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function walk(before: unknown, after: unknown, path: string[], out: ArgumentChange[]): void {
  if (isObject(before) && isObject(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    for (const key of keys) {
      const inBefore = Object.prototype.hasOwnProperty.call(before, key);
      const inAfter = Object.prototype.hasOwnProperty.call(after, key);
      const at = [...path, key];
      if (inBefore && inAfter) walk(before[key], after[key], at, out);
      else if (inBefore) out.push({ path: at.join('.'), from: before[key] });
      else out.push({ path: at.join('.'), to: after[key] });
    }
    return;
  }
  if (canonicalJson(before) !== canonicalJson(after)) out.push({ path: path.join('.') || '(arguments)', from: before, to: after });
}
