/**
 * The release step: sends a call upstream with the agent's abort signal, the upstream's deadline,
 * progress relayed under the agent's own token, and the agent's trace context.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ExposedTool } from '../upstream/upstream-pool.js';
import type { CallContext, ProgressUpdate } from './call-context.js';

export async function forwardToUpstream(ctx: CallContext, tool: ExposedTool, args: Record<string, unknown>): Promise<CallToolResult> {
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
