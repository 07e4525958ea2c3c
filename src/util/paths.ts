/**
 * Dotted paths into tool arguments, as policies write them: `params.job_id`,
 * `params.notebook_params.env`. Numeric segments index arrays (`params.tags.0`).
 * Used by constraints (read), `show` (read) and `redact` (remove or mask).
 */

export type PathSegments = readonly string[];

export function parsePath(path: string): PathSegments {
  return path.split('.');
}

/** The value at a path, or undefined when any step is missing. */
export function getPath(value: unknown, segments: PathSegments): unknown {
  let node: unknown = value;
  for (const segment of segments) {
    if (node === null || typeof node !== 'object') return undefined;
    if (!Object.prototype.hasOwnProperty.call(node, segment)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

export const redactedMarker = '[redacted]';

/**
 * A deep copy of `value` with each path replaced by `replacement` (mask) — or removed when
 * `replacement` is undefined. The input is never modified.
 */
export function redactPaths(value: unknown, paths: readonly PathSegments[], replacement: string | undefined = redactedMarker): unknown {
  if (paths.length === 0) return value;
  const copy = structuredClone(value);
  for (const segments of paths) {
    const parent = getPath(copy, segments.slice(0, -1));
    const last = segments.at(-1);
    if (last === undefined || parent === null || typeof parent !== 'object') continue;
    if (!Object.prototype.hasOwnProperty.call(parent, last)) continue;
    if (replacement === undefined) {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete (parent as Record<string, unknown>)[last];
    } else {
      (parent as Record<string, unknown>)[last] = replacement;
    }
  }
  return copy;
}
