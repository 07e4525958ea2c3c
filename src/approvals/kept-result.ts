/**
 * The copy of an executed call's result that is kept for identical retries: the result itself
 * when it fits `approvals.maxStoredResult`, else a truncated copy that says so — in its text, for
 * the model, and in `_meta["airlock/result"]`, for programs — so nobody mistakes it for the whole.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/** Key under a replayed result's `_meta`: `{approvalId, executedAt, truncated, originalBytes?}`. */
export const resultMetaKey = 'airlock/result';

export interface KeptResult {
  json: string;
  truncated: boolean;
  /** Size of the whole result as JSON (UTF-8 bytes). */
  originalBytes: number;
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** The result as JSON when it fits `maxBytes`, else a truncated copy flagged as such (always ≤ maxBytes). */
export function keepResult(result: CallToolResult, maxBytes: number): KeptResult {
  const whole = JSON.stringify(result);
  const originalBytes = bytes(whole);
  if (originalBytes <= maxBytes) return { json: whole, truncated: false, originalBytes };
  const texts = result.content.flatMap((c) => (c.type === 'text' ? [c.text] : [`[${c.type} content left out]`]));
  let budget = maxBytes;
  for (;;) {
    const note = `[Airlock: stored copy of the result, truncated from ${originalBytes} bytes to fit approvals.maxStoredResult (${maxBytes} bytes); only the request that ran the call received it whole.]`;
    const copy: CallToolResult = {
      content: [
        { type: 'text', text: cutText(texts.join('\n'), Math.max(0, budget - bytes(note) - 300)) },
        { type: 'text', text: note },
      ],
      ...(result.isError ? { isError: true } : {}),
      _meta: { [resultMetaKey]: { truncated: true, originalBytes } },
    };
    const json = JSON.stringify(copy);
    if (bytes(json) <= maxBytes || budget <= 0) return { json, truncated: true, originalBytes };
    budget -= bytes(json) - maxBytes + 16;
  }
}

/** Reads a kept result back, adding where it came from to `_meta` so an agent can tell a replay. */
export function replayResult(json: string, facts: { approvalId: string; executedAt: number }): CallToolResult {
  const result = CallToolResultSchema.parse(JSON.parse(json));
  const previous = result._meta?.[resultMetaKey];
  const meta = {
    truncated: false,
    ...(previous !== null && typeof previous === 'object' ? previous : {}),
    approvalId: facts.approvalId,
    executedAt: new Date(facts.executedAt).toISOString(),
  };
  return { ...result, _meta: { ...result._meta, [resultMetaKey]: meta } };
}

/** The longest prefix of `text` within `maxBytes` UTF-8 bytes, never splitting a character. */
function cutText(text: string, maxBytes: number): string {
  if (bytes(text) <= maxBytes) return text;
  let end = Math.min(text.length, maxBytes);
  while (end > 0 && bytes(text.slice(0, end)) > maxBytes) end = Math.floor(end * 0.9);
  if (end > 0 && /[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end -= 1;
  return `${text.slice(0, end)}…`;
}
