/**
 * The release step: sends a tools/call upstream on the agent's own session, with the agent's own
 * progress token (so upstream progress reaches it unchanged), its abort signal, the upstream's
 * deadline and the agent's trace context. It takes only the canonical arguments
 * (`canonicalArguments()`) and sends their RFC 8785 bytes as they are, so what runs is, byte for
 * byte, what the policy judged, an approver approved and the audit recorded.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ExposedTool } from '../upstream/upstream-pool.js';
import type { JsonObject } from '../util/canonical.js';
import type { CallContext } from './call-context.js';

/** A call's arguments in canonical form: the prototype-free value and its RFC 8785 bytes. */
export interface CanonicalCall {
  value: JsonObject;
  json: string;
}

export async function forwardToUpstream(ctx: CallContext, tool: ExposedTool, canonical: CanonicalCall): Promise<CallToolResult> {
  const params: Record<string, unknown> = { name: tool.definition.name };
  if (ctx.progressToken !== undefined || ctx.traceparent) {
    const meta: Record<string, unknown> = {};
    if (ctx.progressToken !== undefined) meta['progressToken'] = ctx.progressToken;
    if (ctx.traceparent) meta['traceparent'] = ctx.traceparent;
    params['_meta'] = meta;
  }
  const result = await ctx.forward(tool.upstream, 'tools/call', params, canonical.json);
  // The upstream's own answer, relayed as it is; the pipeline reads only isError and content.
  return result as CallToolResult;
}
