/**
 * The release step: sends a tools/call upstream on the agent's own session, with the agent's own
 * progress token (so upstream progress reaches it unchanged), its abort signal, the upstream's
 * deadline and the agent's trace context.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ExposedTool } from '../upstream/upstream-pool.js';
import type { CallContext } from './call-context.js';

export async function forwardToUpstream(ctx: CallContext, tool: ExposedTool, args: Record<string, unknown>): Promise<CallToolResult> {
  const meta: Record<string, unknown> = {};
  if (ctx.progressToken !== undefined) meta['progressToken'] = ctx.progressToken;
  if (ctx.traceparent) meta['traceparent'] = ctx.traceparent;
  const params: Record<string, unknown> = { name: tool.definition.name, arguments: args };
  if (ctx.progressToken !== undefined || ctx.traceparent) params['_meta'] = meta;
  const result = await ctx.forward(tool.upstream, 'tools/call', params);
  // The upstream's own answer, relayed as it is; the pipeline reads only isError and content.
  return result as CallToolResult;
}
