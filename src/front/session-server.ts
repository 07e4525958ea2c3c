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
import type { RequestTaskStore } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Agent } from '../identity/tokens.js';
import type { UpstreamPool } from '../upstream/upstream-pool.js';
import type { UpstreamRequestOptions } from '../upstream/upstream-connection.js';
import type { CallContext } from './call-context.js';
import type { CallPipeline } from './call-pipeline.js';
import type { InflightRequests } from './inflight-requests.js';
import type { RedisTaskStore } from './task-store.js';
import { toMcpError } from './wire.js';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface SessionServerDeps {
  pipeline: CallPipeline;
  pool: UpstreamPool;
  inflight: InflightRequests;
  agent: Agent;
  /** Session id when the transport does not report one (stdio). */
  fallbackSessionId: string;
  /** MCP tasks kept in Redis; when set, clients that ask for a task get one for any tools/call. */
  taskStore?: RedisTaskStore;
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
  if (deps.taskStore) capabilities.tasks = { list: {}, cancel: {}, requests: { tools: { call: {} } } };
  const server = new Server(serverInfo, { capabilities, instructions, ...(deps.taskStore ? { taskStore: deps.taskStore } : {}) });

  const passthroughOptions = (extra: Extra): UpstreamRequestOptions => ({ signal: extra.signal });

  server.setRequestHandler(ListToolsRequestSchema, () => {
    const tools = pipeline.listTools(agent);
    // With tasks on, every call may run as a task: a held call then outlives any client timeout.
    return { tools: deps.taskStore ? tools.map((t) => ({ ...t, execution: { taskSupport: 'optional' as const, ...t.execution } })) : [...tools] };
  });

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const sessionId = extra.sessionId ?? deps.fallbackSessionId;
    if (request.params.task && deps.taskStore && extra.taskStore) {
      return runAsTask({ taskStore: deps.taskStore, requestStore: extra.taskStore, pipeline, agent, sessionId, extra, request: request.params });
    }
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
    server.setRequestHandler(ReadResourceRequestSchema, async (request, extra) => wrap(() => pool.readResource(request.params.uri, passthroughOptions(extra))));
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

interface TaskRun {
  taskStore: RedisTaskStore;
  requestStore: RequestTaskStore;
  pipeline: CallPipeline;
  agent: Agent;
  sessionId: string;
  extra: Extra;
  request: {
    name: string;
    arguments?: Record<string, unknown> | undefined;
    task?: { ttl?: number | undefined } | undefined;
    _meta?: Record<string, unknown> | undefined;
  };
}

/**
 * The MCP-tasks way of keeping a call alive: answer at once with a task (state in Redis), run the
 * call in the background, and store its result (or its denial) on the task. `tasks/cancel`
 * aborts the call, which withdraws a pending approval. Progress becomes the task's status message.
 */
async function runAsTask(run: TaskRun): Promise<{ task: Awaited<ReturnType<RequestTaskStore['createTask']>> }> {
  const { requestStore, taskStore } = run;
  const task = await requestStore.createTask({ ...(run.request.task?.ttl !== undefined ? { ttl: run.request.task.ttl } : {}), pollInterval: 1_000 });
  const controller = new AbortController();
  const onCancelled = (taskId: string) => {
    if (taskId === task.taskId) controller.abort(new Error('the client cancelled the task'));
  };
  taskStore.on('cancelled', onCancelled);
  const ctx: CallContext = {
    agent: run.agent,
    sessionId: run.sessionId,
    requestId: run.extra.requestId,
    progressToken: undefined,
    signal: controller.signal,
    traceparent: traceparentOf(run.extra, run.request._meta),
    canWaitLong: true,
    sendProgress: async (update) => {
      if (update.message && !controller.signal.aborted) await requestStore.updateTaskStatus(task.taskId, 'working', update.message).catch(() => undefined);
    },
  };
  void run.pipeline
    .callTool(ctx, run.request.name, run.request.arguments ?? {})
    .then(
      (result) => requestStore.storeTaskResult(task.taskId, 'completed', result),
      (error: unknown) => requestStore.storeTaskResult(task.taskId, 'failed', { isError: true, content: [{ type: 'text', text: toMcpError(error).message }] }),
    )
    .catch(() => undefined) // the task was cancelled meanwhile: a terminal task takes no result
    .finally(() => taskStore.off('cancelled', onCancelled));
  return { task };
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
