/**
 * MCP tasks, the third way of keeping a held call alive: a tools/call that asks for a task is
 * answered at once with the task; the call runs in the background and its result (or its denial)
 * is stored on the task in Redis, where `tasks/get`, `tasks/result` and `tasks/list` read it from
 * any replica. `tasks/cancel` aborts the call, which withdraws a pending approval. Progress
 * becomes the task's status message.
 */
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { JsonRpcRequest } from '../mcp/jsonrpc.js';
import type { CallContext } from './call-context.js';
import type { CallPipeline } from './call-pipeline.js';
import type { InflightRequest, SessionRelay } from './session-relay.js';
import type { RedisTaskStore } from './task-store.js';
import { toErrorObject } from './wire.js';

const relatedTaskKey = 'io.modelcontextprotocol/related-task';
const terminal = new Set(['completed', 'failed', 'cancelled']);

export class TaskMethods {
  constructor(
    private readonly store: RedisTaskStore,
    private readonly pipeline: CallPipeline,
    private readonly log: Logger,
  ) {}

  /** Creates the task, starts the call in the background, and answers with the task. */
  async runAsTask(
    relay: SessionRelay,
    ctx: CallContext,
    name: string,
    args: Record<string, unknown>,
    task: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const ttl = typeof task['ttl'] === 'number' && task['ttl'] > 0 ? task['ttl'] : undefined;
    const created = await this.store.createTask(
      { ...(ttl !== undefined ? { ttl } : {}), pollInterval: 1_000 },
      ctx.requestId,
      { method: 'tools/call' },
      relay.sessionId,
    );
    const controller = new AbortController();
    const onCancelled = (taskId: string) => {
      if (taskId === created.taskId) controller.abort(new Error('the client cancelled the task'));
    };
    this.store.on('cancelled', onCancelled);
    const background: CallContext = {
      ...ctx,
      progressToken: undefined,
      signal: controller.signal,
      canWaitLong: true,
      sendProgress: async (update) => {
        if (update.message && !controller.signal.aborted)
          await this.store.updateTaskStatus(created.taskId, 'working', update.message, relay.sessionId).catch(() => undefined);
      },
      // The task outlives the request that created it: nothing streams back on that request.
      forward: (upstream, method, params, rawArguments) =>
        relay.forward(upstream, method, params, { signal: controller.signal, channel: undefined, rawArguments }),
    };
    void this.pipeline
      .callTool(background, name, args)
      .then(
        (result) => this.store.storeTaskResult(created.taskId, 'completed', result, relay.sessionId),
        (error: unknown) =>
          this.store.storeTaskResult(
            created.taskId,
            'failed',
            { isError: true, content: [{ type: 'text', text: toErrorObject(error).message }] },
            relay.sessionId,
          ),
      )
      .catch((error: unknown) =>
        this.log.debug({ err: error instanceof Error ? error.message : String(error) }, 'task result not stored (cancelled meanwhile)'),
      )
      .finally(() => this.store.off('cancelled', onCancelled));
    return { task: created };
  }

  async get(relay: SessionRelay, request: JsonRpcRequest): Promise<Record<string, unknown>> {
    return { ...(await this.require(relay, request)) };
  }

  /** Waits until the task ends (polling Redis, so any replica's result is seen), then returns its result. */
  async result(relay: SessionRelay, request: JsonRpcRequest, entry: InflightRequest): Promise<Record<string, unknown>> {
    const taskId = taskIdOf(request);
    for (;;) {
      const task = await this.require(relay, request);
      if (terminal.has(task.status)) {
        const result = await this.store.getTaskResult(taskId, relay.sessionId).catch(() => undefined);
        if (result === undefined) {
          throw new AirlockError('not_found', `Task ${taskId} ended (${task.status}) without a result.`);
        }
        const meta = result._meta !== null && typeof result._meta === 'object' ? result._meta : {};
        return { ...result, _meta: { ...meta, [relatedTaskKey]: { taskId } } };
      }
      await sleep(Math.max(250, task.pollInterval ?? 1_000), entry.controller.signal);
    }
  }

  async list(relay: SessionRelay, request: JsonRpcRequest): Promise<Record<string, unknown>> {
    const cursor = request.params?.['cursor'];
    try {
      const page = await this.store.listTasks(typeof cursor === 'string' ? cursor : undefined, relay.sessionId);
      return { ...page };
    } catch (error) {
      throw new AirlockError('invalid_request', `Failed to list tasks: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async cancel(relay: SessionRelay, request: JsonRpcRequest): Promise<Record<string, unknown>> {
    const task = await this.require(relay, request);
    if (terminal.has(task.status)) throw new AirlockError('invalid_request', `Cannot cancel task ${task.taskId}: it is already ${task.status}.`);
    await this.store.updateTaskStatus(task.taskId, 'cancelled', 'Client cancelled task execution.', relay.sessionId);
    return { ...(await this.require(relay, request)) };
  }

  private async require(relay: SessionRelay, request: JsonRpcRequest) {
    const taskId = taskIdOf(request);
    const task = await this.store.getTask(taskId, relay.sessionId);
    if (!task) throw new AirlockError('not_found', `Task not found: ${taskId}. Tasks are visible only to the session that created them.`);
    return task;
  }
}

function taskIdOf(request: JsonRpcRequest): string {
  const taskId = request.params?.['taskId'];
  if (typeof taskId !== 'string' || taskId === '') throw new AirlockError('invalid_request', `${request.method} needs params.taskId (a string).`);
  return taskId;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new AirlockError('cancelled', 'The request was cancelled by the client.'));
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AirlockError('cancelled', 'The request was cancelled by the client.'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
