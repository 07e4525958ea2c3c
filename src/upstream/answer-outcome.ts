/**
 * What an upstream's answer to tools/call says about the call, decided in one place for every
 * path (allowed calls and released approvals alike): a success, or a tool error. Servers such as
 * Databricks' report errors as plain JSON text `{"error": …}` without `isError` (sometimes encoded
 * twice), so the text is looked at too. Also a one-line summary for approvers.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

export type AnswerOutcome = 'success' | 'tool_error';

/** `tool_error` when the upstream flagged `isError` or answered with an `{"error": …}` JSON text. */
export function classifyAnswer(result: CallToolResult): AnswerOutcome {
  return result.isError === true || errorText(result) ? 'tool_error' : 'success';
}

/** A one-line summary for channels: the run id when the result has one, else the start of the text. */
export function summarizeAnswer(result: CallToolResult): string {
  const text = result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join(' ');
  const runId = /"run_id"\s*:\s*(\d+)/.exec(text)?.[1];
  return runId ? `run_id ${runId}` : text.slice(0, 300);
}

function errorText(result: CallToolResult): boolean {
  const first = result.content[0];
  if (first?.type !== 'text') return false;
  let value: unknown = first.text;
  // JSON text, possibly encoded twice ("\"{\\\"error\\\": …}\"").
  for (let depth = 0; depth < 2 && typeof value === 'string'; depth++) {
    try {
      value = JSON.parse(value);
    } catch {
      return false;
    }
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) && 'error' in value;
}
