/**
 * Canonical JSON (object keys sorted, no whitespace) and its SHA-256. Two calls with the same
 * arguments in a different key order hash the same, which is what dedup of retried calls and
 * the audit's argument hashes rely on.
 */
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const child = (value as Record<string, unknown>)[key];
      if (child !== undefined) out[key] = sortKeys(child);
    }
    return out;
  }
  return value;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** `sha256:<hex>` of the canonical JSON of a call's arguments. */
export function argumentsHash(args: unknown): string {
  return `sha256:${sha256Hex(canonicalJson(args ?? {}))}`;
}
