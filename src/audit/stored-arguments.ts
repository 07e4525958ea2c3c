/**
 * The size cap on arguments kept in the audit history (`audit.maxArgumentsBytes`, per event).
 * Arguments are stored once per event for the whole retention, so one agent sending megabytes
 * per call could fill Redis — and a full Redis refuses every limited or held call for everyone.
 * Over the cap, an event keeps a truncated copy instead:
 *
 *   {"airlock_truncated": {"bytes": <full size>, "limit": <cap>, "preview": "<start of the canonical JSON>"}}
 *
 * The call itself is not affected (allowed calls still run), and the event's `argumentsHash`
 * still covers the full arguments, so an identical call is still recognisable.
 */
import { canonicalJson } from '../util/canonical.js';
import type { AuditContent } from './chain.js';

/** The member a truncated copy is stored under. */
export const truncatedMarker = 'airlock_truncated';

const encoder = new TextEncoder();

/** `content` unchanged when its arguments fit `maxBytes` (or there is no cap), else a copy with them truncated. */
export function capArguments(content: AuditContent, contentJson: string, maxBytes: number | undefined): AuditContent {
  if (maxBytes === undefined || content.arguments === undefined) return content;
  if (contentJson.length * 3 <= maxBytes) return content; // 3 UTF-8 bytes per UTF-16 unit at most: fits for sure
  const json = canonicalJson(content.arguments);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes <= maxBytes) return content;
  return { ...content, arguments: truncatedCopy(json, bytes, maxBytes) };
}

/** The truncated form of arguments whose canonical JSON is `json` (`bytes` long), fitting `maxBytes`. */
export function truncatedCopy(json: string, bytes: number, maxBytes: number): unknown {
  // Escaping inside the preview string can grow it: shrink until the whole copy fits.
  let budget = Math.max(0, maxBytes - 200);
  for (;;) {
    const room = new Uint8Array(budget);
    const { read } = encoder.encodeInto(json, room); // stops at a whole code point
    const copy = { [truncatedMarker]: { bytes, limit: maxBytes, preview: json.slice(0, read) } };
    if (budget === 0 || Buffer.byteLength(canonicalJson(copy), 'utf8') <= maxBytes) return copy;
    budget = Math.floor(budget / 2);
  }
}
