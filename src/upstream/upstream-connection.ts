/**
 * One upstream MCP server, seen from the gateway as a client: the last step of a tool call.
 * Connects over stdio (child process) or Streamable HTTP, caches the tool catalog, refreshes it on
 * `notifications/tools/list_changed`, and reconnects with backoff when the child dies or the HTTP
 * server drops. A call during an outage fails at once with a retry hint; every call has a deadline.
 */
import { EventEmitter } from 'node:events';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode as McpErrorCode, McpError, ToolListChangedNotificationSchema, type ServerCapabilities, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { UpstreamSpec } from '../config/schema.js';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { formatDurationMs } from '../util/duration.js';
import { classifyStartFailure, upstreamNotConnectedError } from './start-failure.js';

export type UpstreamState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface UpstreamRequestOptions {
  signal?: AbortSignal;
  /** Called with upstream progress so it can be relayed under the agent's own progress token. */
  onprogress?: (progress: { progress: number; total?: number; message?: string }) => void;
  timeoutMs?: number;
  /** Extra `_meta` for the upstream request (e.g. a W3C traceparent). */
  meta?: Record<string, unknown>;
}

const minBackoffMs = 250;
const maxBackoffMs = 30_000;
const clientInfo = { name: 'airlock', version: '0.1.0' };

/**
 * Lifecycle: `start()` connects (and keeps retrying in the background if it cannot),
 * `close()` stops retrying and closes the transport (terminating a stdio child).
 * Emits `toolsChanged` after every catalog (re)load and `stateChanged` on connect/disconnect.
 */
export class UpstreamConnection extends EventEmitter {
  readonly name: string;
  readonly spec: UpstreamSpec;
  private readonly log: Logger;
  private client: Client | undefined;
  private transport: Transport | undefined;
  private stateValue: UpstreamState = 'disconnected';
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private nextRetryAt = 0;
  private lastErrorText = 'not connected yet';
  /** The last failure needs a config change, not a retry (see start-failure.ts). */
  private misconfiguredValue = false;
  /** The stdio child's last stderr lines, for the reason when it exits during start-up. */
  private stderrTail: string[] = [];
  private toolsValue: Tool[] = [];
  private capabilitiesValue: ServerCapabilities = {};
  private connecting: Promise<void> | undefined;

  constructor(name: string, spec: UpstreamSpec, log: Logger) {
    super();
    this.name = name;
    this.spec = spec;
    this.log = log.child({ upstream: name });
  }

  private isClosed(): boolean {
    return this.stateValue === 'closed';
  }

  get state(): UpstreamState {
    return this.stateValue;
  }

  get tools(): readonly Tool[] {
    return this.toolsValue;
  }

  get capabilities(): ServerCapabilities {
    return this.capabilitiesValue;
  }

  get lastError(): string {
    return this.lastErrorText;
  }

  /** Whether the upstream cannot start as configured (then retrying does not help; an operator must act). */
  get misconfigured(): boolean {
    return this.misconfiguredValue;
  }

  /** PID of the stdio child while connected (tests kill it to simulate a crash). */
  get pid(): number | undefined {
    return this.transport instanceof StdioClientTransport ? (this.transport.pid ?? undefined) : undefined;
  }

  /** Connects once; on failure schedules retries and resolves anyway (readiness reports the outage). */
  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.setState('closed');
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    this.transport = undefined;
    await client?.close().catch(() => undefined);
  }

  private connect(): Promise<void> {
    this.connecting ??= this.connectOnce().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectOnce(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.setState('connecting');
    const transport = this.createTransport();
    const client = new Client(clientInfo, { capabilities: {} });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      void this.refreshTools().catch((error: unknown) => this.log.warn({ err: error }, 'tool catalog refresh failed'));
    });
    client.onclose = () => this.onTransportClosed(client);
    client.onerror = (error) => this.log.debug({ err: error }, 'upstream transport error');
    try {
      await client.connect(transport, { timeout: 15_000 });
      if (this.isClosed()) {
        await client.close();
        return;
      }
      this.client = client;
      this.transport = transport;
      this.capabilitiesValue = client.getServerCapabilities() ?? {};
      await this.refreshTools();
      this.attempt = 0;
      this.misconfiguredValue = false;
      this.setState('connected');
      this.log.info({ tools: this.toolsValue.length }, 'upstream connected');
    } catch (error) {
      this.client = undefined;
      this.transport = undefined;
      client.onclose = undefined;
      await client.close().catch(() => undefined);
      const failure = classifyStartFailure(error, this.spec, this.stderrTail);
      // One warning per distinct reason, not one per retry.
      const level = failure.reason === this.lastErrorText ? 'debug' : 'warn';
      this.lastErrorText = failure.reason;
      this.misconfiguredValue = failure.misconfigured;
      this.log[level]({ err: failure.reason, misconfigured: failure.misconfigured, attempt: this.attempt }, 'upstream connection failed');
      this.scheduleReconnect();
    }
  }

  private createTransport(): Transport {
    if (this.spec.kind === 'stdio') {
      const transport = new StdioClientTransport({
        command: this.spec.command,
        args: this.spec.args,
        // The SDK passes only HOME, PATH, USER … by default: merge the upstream's own env explicitly.
        env: { ...getDefaultEnvironment(), ...this.spec.env },
        ...(this.spec.cwd === undefined ? {} : { cwd: this.spec.cwd }),
        stderr: 'pipe',
      });
      this.stderrTail = [];
      transport.stderr?.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (line.trim() === '') continue;
          this.log.info({ stderr: line.slice(0, 2_000) }, 'upstream stderr');
          this.stderrTail = [...this.stderrTail.slice(-19), line.trim().slice(0, 300)];
        }
      });
      return transport;
    }
    return new StreamableHTTPClientTransport(new URL(this.spec.url), { requestInit: { headers: this.spec.headers }, fetch: fetchWithOwnSignal });
  }

  private onTransportClosed(client: Client): void {
    if (client !== this.client) return; // an old client closing after we replaced it
    this.client = undefined;
    this.transport = undefined;
    if (this.stateValue === 'closed') return;
    this.lastErrorText = 'connection closed';
    this.log.warn('upstream disconnected; reconnecting');
    this.setState('disconnected');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stateValue === 'closed') return;
    this.setState('disconnected');
    const base = Math.min(maxBackoffMs, minBackoffMs * 2 ** this.attempt);
    const delayMs = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.nextRetryAt = Date.now() + delayMs;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), delayMs);
    this.retryTimer.unref();
  }

  private async refreshTools(): Promise<void> {
    const client = this.client;
    if (!client || !this.capabilitiesValue.tools) {
      this.toolsValue = [];
    } else {
      const tools: Tool[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor }, { timeout: 15_000 });
        tools.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      this.toolsValue = tools;
    }
    this.emit('toolsChanged');
  }

  private setState(state: UpstreamState): void {
    if (this.stateValue === state || this.stateValue === 'closed') return;
    this.stateValue = state;
    this.emit('stateChanged', state);
  }

  /** The connected client, or a clear `upstream_unavailable` error with when to retry. */
  private requireClient(): Client {
    if (this.client && this.stateValue === 'connected') return this.client;
    throw this.notConnectedError('This request');
  }

  /** Why a request for `subject` cannot run now: a configuration problem, or an outage with when to retry. */
  notConnectedError(subject: string): AirlockError {
    const retryAfterSec = Math.max(1, Math.ceil((this.nextRetryAt - Date.now()) / 1_000));
    return upstreamNotConnectedError(this.name, subject, { misconfigured: this.misconfiguredValue, reason: this.lastErrorText, retryAfterSec });
  }

  /**
   * Sends one request upstream with a deadline, the agent's abort signal and progress relay.
   * Connection faults become `upstream_*` errors; JSON-RPC errors from the upstream pass through.
   */
  async request<S extends z.ZodType>(method: string, params: Record<string, unknown>, schema: S, options: UpstreamRequestOptions = {}): Promise<z.output<S>> {
    const client = this.requireClient();
    const timeoutMs = options.timeoutMs ?? this.spec.callTimeout;
    const withMeta = options.meta ? { ...params, _meta: { ...(params['_meta'] as object | undefined), ...options.meta } } : params;
    try {
      return await client.request({ method, params: withMeta }, schema, {
        timeout: timeoutMs,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onprogress ? { onprogress: options.onprogress, resetTimeoutOnProgress: true, maxTotalTimeout: timeoutMs * 10 } : {}),
      });
    } catch (error) {
      throw this.translateError(error, method, timeoutMs, options.signal);
    }
  }

  private translateError(error: unknown, method: string, timeoutMs: number, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) {
      return new AirlockError('cancelled', `The ${method} request was cancelled by the client.`, { cause: error });
    }
    if (error instanceof McpError) {
      if (error.code === (McpErrorCode.RequestTimeout as number)) {
        return new AirlockError(
          'upstream_timeout',
          `Upstream "${this.name}" did not answer ${method} within ${formatDurationMs(timeoutMs)}. The call may still have run upstream: check its effect before retrying.`,
          { cause: error, details: { upstream: this.name } },
        );
      }
      if (error.code === (McpErrorCode.ConnectionClosed as number)) {
        return new AirlockError(
          'upstream_failed',
          `Upstream "${this.name}" disconnected during ${method}; the call may or may not have run. Airlock is reconnecting: check its effect, then retry in a few seconds.`,
          { cause: error, retryAfterSec: 2, details: { upstream: this.name } },
        );
      }
      return error; // the upstream's own JSON-RPC error: relayed as it is
    }
    // Anything else is a transport fault (HTTP upstream gone, session lost): reconnect.
    this.lastErrorText = describe(error);
    if (this.spec.kind === 'http' && this.client) {
      const client = this.client;
      this.client = undefined;
      this.transport = undefined;
      client.onclose = undefined;
      void client.close().catch(() => undefined);
      this.scheduleReconnect();
    }
    return new AirlockError(
      'upstream_unavailable',
      `Upstream "${this.name}" could not be reached for ${method} (${this.lastErrorText}). Airlock is reconnecting; retry in a few seconds.`,
      { cause: error, retryAfterSec: 2, details: { upstream: this.name } },
    );
  }
}

/**
 * fetch for the SDK's HTTP client transport. The transport passes one long-lived signal to every
 * request, and undici only drops its abort listener when the request is garbage collected, so
 * under load thousands of listeners pile up on that one signal (each add then costs O(listeners)).
 * A derived signal per request (AbortSignal.any holds its source weakly) keeps the transport's
 * abort-on-close behaviour without the pile-up.
 */
export const fetchWithOwnSignal = (url: string | URL, init?: RequestInit): Promise<Response> =>
  fetch(url, init?.signal ? { ...init, signal: AbortSignal.any([init.signal]) } : init);

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    const causeText = cause instanceof Error ? `: ${cause.message}` : '';
    return `${error.message}${causeText}`.slice(0, 500);
  }
  return String(error).slice(0, 500);
}
