/**
 * The release step: sends a call upstream with the agent's abort signal, the upstream's deadline,
 * progress relayed under the agent's own token, and the agent's trace context. It takes only the
 * canonical arguments (`canonicalArguments()`), so what runs is what the policy judged and an
 * approver approved — no member the canonical form dropped or refused can ride along.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ExposedTool } from '../upstream/upstream-pool.js';
import type { JsonObject } from '../util/canonical.js';
import type { CallContext, ProgressUpdate } from './call-context.js';

/** A call's arguments in canonical form: the prototype-free value and its RFC 8785 bytes. */
export interface CanonicalCall {
  value: JsonObject;
  json: string;
}

export async function forwardToUpstream(ctx: CallContext, tool: ExposedTool, canonical: CanonicalCall): Promise<CallToolResult> {
  const args = canonical.value;
  // Progress is relayed in order, and the result waits for the last one: a notification sent
  // after the response would be dropped with the response's stream.
  let relayed = Promise.resolve();
  const onprogress = (p: ProgressUpdate) => {
    relayed = relayed.then(() => ctx.sendProgress(p)).catch(() => undefined);
  };
  const result = await tool.upstream.request('tools/call', { name: tool.definition.name, arguments: args }, CallToolResultSchema, {
    signal: ctx.signal,
    ...(ctx.progressToken !== undefined ? { onprogress } : {}),
    ...(ctx.traceparent ? { meta: { traceparent: ctx.traceparent } } : {}),
  });
  await relayed;
  return result;
}
