/**
 * The MCP server one agent session talks to. Built on the SDK's low-level `Server` (not `McpServer`)
 * so upstream JSON Schemas pass through untouched. tools/list and tools/call go through the call
 * pipeline; resources and prompts pass through to the upstreams that offer them.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  type ServerCapabilities,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { Agent } from '../identity/tokens.js';
import type { UpstreamPool } from '../upstream/upstream-pool.js';
import type { UpstreamRequestOptions } from '../upstream/upstream-connection.js';
import type { CallContext } from './call-context.js';
import type { CallPipeline } from './call-pipeline.js';
import type { InflightRequests } from './inflight-requests.js';
import { toMcpError } from './wire.js';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface SessionServerDeps {
  pipeline: CallPipeline;
  pool: UpstreamPool;
  inflight: InflightRequests;
  agent: Agent;
  /** Session id when the transport does not report one (stdio). */
  fallbackSessionId: string;
}

export const serverInfo = { name: 'airlock', version: '0.1.0' };

const instructions =
  'Airlock is an approval gateway in front of these tools. Some calls are denied by policy, rate-limited, ' +
  'or held until a person approves them; such answers say why and when a retry can help.';

export function createSessionServer(deps: SessionServerDeps): Server {
  const { pipeline, pool, inflight, agent } = deps;
  const capabilities: ServerCapabilities = { tools: { listChanged: true } };
  if (pool.hasCapability('resources')) capabilities.resources = {};
  if (pool.hasCapability('prompts')) capabilities.prompts = {};
  const server = new Server(serverInfo, { capabilities, instructions });

  const passthroughOptions = (extra: Extra): UpstreamRequestOptions => ({ signal: extra.signal });

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [...pipeline.listTools(agent)] }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const sessionId = extra.sessionId ?? deps.fallbackSessionId;
    const { signal, release } = inflight.register(sessionId, extra.requestId, extra.signal);
    const progressToken = request.params._meta?.progressToken;
    const ctx: CallContext = {
      agent,
      sessionId,
      requestId: extra.requestId,
      progressToken,
      signal,
      traceparent: traceparentOf(extra, request.params._meta),
      canWaitLong: progressToken !== undefined,
      sendProgress: async (update) => {
        if (progressToken === undefined || signal.aborted) return;
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, ...update } });
      },
    };
    try {
      return await pipeline.callTool(ctx, request.params.name, request.params.arguments ?? {});
    } finally {
      release();
    }
  });

  if (capabilities.resources) {
    server.setRequestHandler(ListResourcesRequestSchema, async (_request, extra) =>
      wrap(async () => ({ resources: await pool.listResources(passthroughOptions(extra)) })),
    );
    server.setRequestHandler(ListResourceTemplatesRequestSchema, async (_request, extra) =>
      wrap(async () => ({ resourceTemplates: await pool.listResourceTemplates(passthroughOptions(extra)) })),
    );
    server.setRequestHandler(ReadResourceRequestSchema, async (request, extra) =>
      wrap(() => pool.readResource(request.params.uri, passthroughOptions(extra))),
    );
  }
  if (capabilities.prompts) {
    server.setRequestHandler(ListPromptsRequestSchema, async (_request, extra) =>
      wrap(async () => ({ prompts: await pool.listPrompts(passthroughOptions(extra)) })),
    );
    server.setRequestHandler(GetPromptRequestSchema, async (request, extra) =>
      wrap(() => pool.getPrompt(request.params.name, request.params.arguments, passthroughOptions(extra))),
    );
  }
  return server;
}

async function wrap<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toMcpError(error);
  }
}

const traceparentPattern = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/;

/** W3C `traceparent` from the HTTP request or the request's `_meta`, when well-formed. */
function traceparentOf(extra: Extra, meta: Record<string, unknown> | undefined): string | undefined {
  const header = extra.requestInfo?.headers['traceparent'];
  const candidate = typeof header === 'string' ? header : meta?.['traceparent'];
  return typeof candidate === 'string' && traceparentPattern.test(candidate) ? candidate : undefined;
}
