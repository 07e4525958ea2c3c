/**
 * MCP tasks (experimental in the SDK) kept in Redis, for clients that declare task support: a
 * held tools/call is answered at once with a task, and `tasks/get` / `tasks/result` are served
 * from Redis, so the state survives the request and any replica holding the session can answer.
 * Implements the SDK's TaskStore; a task created in one session is invisible to others.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { CreateTaskOptions, TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import type { Request, RequestId, Result, Task } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Redis } from '../state/redis.js';

const defaultTtlMs = 60 * 60_000;
const terminal = new Set(['completed', 'failed', 'cancelled']);

const TaskSchema = z.looseObject({
  taskId: z.string(),
  status: z.enum(['working', 'input_required', 'completed', 'failed', 'cancelled']),
  ttl: z.number().nullable(),
  createdAt: z.string(),
  lastUpdatedAt: z.string(),
  pollInterval: z.number().optional(),
  statusMessage: z.string().optional(),
});

export class RedisTaskStore extends EventEmitter implements TaskStore {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
    super();
    this.redis = redis;
    this.prefix = prefix;
  }

  private key = (taskId: string) => `${this.prefix}task:${taskId}`;
  private sessionKey = (sessionId: string | undefined) => `${this.prefix}tasks:${sessionId ?? '-'}`;

  async createTask(options: CreateTaskOptions, _requestId: RequestId, _request: Request, sessionId?: string): Promise<Task> {
    const now = new Date().toISOString();
    const ttl = options.ttl ?? defaultTtlMs;
    const task: Task = {
      taskId: `tsk_${randomBytes(12).toString('hex')}`,
      status: 'working',
      ttl,
      createdAt: now,
      lastUpdatedAt: now,
      pollInterval: options.pollInterval ?? 2_000,
    };
    await this.redis
      .multi()
      .hset(this.key(task.taskId), 'task', JSON.stringify(task), 'session', sessionId ?? '')
      .pexpire(this.key(task.taskId), ttl)
      .zadd(this.sessionKey(sessionId), Date.now(), task.taskId)
      .pexpire(this.sessionKey(sessionId), ttl)
      .exec();
    return task;
  }

  async getTask(taskId: string, sessionId?: string): Promise<Task | null> {
    const stored = await this.load(taskId, sessionId);
    return stored?.task ?? null;
  }

  async storeTaskResult(taskId: string, status: 'completed' | 'failed', result: Result, sessionId?: string): Promise<void> {
    const stored = await this.require(taskId, sessionId);
    if (terminal.has(stored.task.status)) throw new Error(`Task ${taskId} is already ${stored.task.status}; its result was stored once.`);
    const task = { ...stored.task, status, lastUpdatedAt: new Date().toISOString() };
    await this.redis.hset(this.key(taskId), 'task', JSON.stringify(task), 'result', JSON.stringify(result));
  }

  async getTaskResult(taskId: string, sessionId?: string): Promise<Result> {
    await this.require(taskId, sessionId);
    const text = await this.redis.hget(this.key(taskId), 'result');
    if (text === null) throw new Error(`Task ${taskId} has no result yet.`);
    return JSON.parse(text) as Result; // written by storeTaskResult from a Result
  }

  async updateTaskStatus(taskId: string, status: Task['status'], statusMessage?: string, sessionId?: string): Promise<void> {
    const stored = await this.require(taskId, sessionId);
    if (terminal.has(stored.task.status)) throw new Error(`Task ${taskId} is already ${stored.task.status}.`);
    const task: Task = { ...stored.task, status, lastUpdatedAt: new Date().toISOString(), ...(statusMessage ? { statusMessage } : {}) };
    await this.redis.hset(this.key(taskId), 'task', JSON.stringify(task));
    if (status === 'cancelled') this.emit('cancelled', taskId);
  }

  async listTasks(cursor?: string, sessionId?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    const start = cursor === undefined ? 0 : Number(cursor);
    if (!Number.isInteger(start) || start < 0) throw new Error(`Invalid cursor: ${cursor}`);
    const pageSize = 50;
    const ids = await this.redis.zrange(this.sessionKey(sessionId), start, start + pageSize - 1);
    const tasks = (await Promise.all(ids.map((id) => this.getTask(id, sessionId)))).filter((t): t is Task => t !== null);
    return ids.length === pageSize ? { tasks, nextCursor: String(start + pageSize) } : { tasks };
  }

  private async load(taskId: string, sessionId: string | undefined): Promise<{ task: Task } | undefined> {
    const [taskText, owner] = await this.redis.hmget(this.key(taskId), 'task', 'session');
    if (!taskText) return undefined;
    if (sessionId !== undefined && owner && owner !== sessionId) return undefined;
    return { task: TaskSchema.parse(JSON.parse(taskText)) }; // TaskSchema mirrors the SDK's Task shape
  }

  private async require(taskId: string, sessionId: string | undefined): Promise<{ task: Task }> {
    const stored = await this.load(taskId, sessionId);
    if (!stored) throw new Error(`Task ${taskId} not found.`);
    return stored;
  }
}
