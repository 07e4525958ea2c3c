/**
 * One configured upstream MCP server: the gateway's own "catalog" session with it (tool catalog,
 * capabilities, instructions, readiness), and the factory for the per-agent sessions the relay
 * opens. Reconnects the catalog with backoff when the upstream goes away, refreshes the tool
 * catalog on `notifications/tools/list_changed`, and fails fast with a retry hint while down.
 */
import { EventEmitter } from 'node:events';
import { Agent as UndiciAgent, type Dispatcher } from 'undici';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamSpec } from '../config/schema.js';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { ClientCredentialsTokens } from './client-credentials.js';
import { type HttpUpstreamSession, openHttpUpstreamSession } from './http-upstream.js';
import { latestProtocolVersion, SharedStdioUpstream, StdioUpstreamSession } from './stdio-upstream.js';
import { classifyStartFailure, upstreamNotConnectedError } from './start-failure.js';
import type { InitializeParams, UpstreamInit, UpstreamSession } from './upstream-session.js';

export type UpstreamState = 'connecting' | 'connected' | 'disconnected' | 'closed';

const minBackoffMs = 250;
const maxBackoffMs = 30_000;
const connectTimeoutMs = 15_000;
const catalogPingMs = 30_000;
export const gatewayClientInfo = { name: 'airlock', version: '0.1.0' };

/**
 * Lifecycle: `start()` connects the catalog (and keeps retrying in the background if it cannot),
 * `close()` stops retrying and closes it. Emits `toolsChanged` after every catalog (re)load and
 * `stateChanged` on connect/disconnect.
 */
export class UpstreamConnection extends EventEmitter {
  readonly name: string;
  readonly spec: UpstreamSpec;
  private readonly log: Logger;
  private readonly dispatcher: Dispatcher | undefined;
  /** Airlock's own tokens for an HTTP upstream with `auth` (shared by all its sessions). */
  private readonly tokens: ClientCredentialsTokens | undefined;
  private catalog: UpstreamSession | undefined;
  private shared: SharedStdioUpstream | undefined;
  private stateValue: UpstreamState = 'disconnected';
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private nextRetryAt = 0;
  private lastErrorText = 'not connected yet';
  private toolsValue: Tool[] = [];
  private initValue: UpstreamInit | undefined;
  private connecting: Promise<void> | undefined;
  private probing = false;
  /** The last failure needs a config change, not a retry (see start-failure.ts). */
  private misconfiguredValue = false;

  constructor(name: string, spec: UpstreamSpec, log: Logger) {
    super();
    this.name = name;
    this.spec = spec;
    this.log = log.child({ upstream: name });
    // One keep-alive pool per HTTP upstream, unbounded: each session's event stream holds a connection.
    if (spec.kind === 'http') this.dispatcher = new UndiciAgent({ keepAliveTimeout: 30_000, connections: null, pipelining: 1 });
    if (spec.kind === 'http' && spec.auth) {
      this.tokens = new ClientCredentialsTokens({
        upstream: name,
        spec: spec.auth,
        log: this.log,
        // A token that cannot be refreshed makes the upstream not ready now, with the reason, rather than at the next call.
        onRefreshFailed: (reason) => {
          if (this.stateValue === 'connected') this.lost(reason);
        },
      });
    }
  }

  get state(): UpstreamState {
    return this.stateValue;
  }

  get tools(): readonly Tool[] {
    return this.toolsValue;
  }

  /** What the upstream declared to the gateway's own session; `{}` while not connected. */
  get capabilities(): Record<string, unknown> {
    return this.initValue?.capabilities ?? {};
  }

  get init(): UpstreamInit | undefined {
    return this.initValue;
  }

  get lastError(): string {
    return this.lastErrorText;
  }

  /** Whether the upstream cannot start as configured (then retrying does not help; an operator must act). */
  get misconfigured(): boolean {
    return this.misconfiguredValue;
  }

  /** PID of the catalog's (or shared) stdio child while connected (tests kill it to simulate a crash). */
  get pid(): number | undefined {
    return this.shared?.pid;
  }

  /** Whether each agent session gets its own upstream session (HTTP, stdio `per-agent`). */
  get perAgent(): boolean {
    return this.spec.kind === 'http' || this.spec.session === 'per-agent';
  }

  /** Connects once; on failure schedules retries and resolves anyway (readiness reports the outage). */
  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.setState('closed');
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.tokens?.close();
    const catalog = this.catalog;
    this.catalog = undefined;
    await catalog?.close().catch(() => undefined);
    await this.shared?.close().catch(() => undefined);
    this.shared = undefined;
    await this.dispatcher?.close().catch(() => undefined);
  }

  /**
   * Opens an upstream session for one agent session: with the agent's own initialize params for
   * per-agent upstreams, or a view on the shared child. Fails with `upstream_unavailable` when the
   * upstream cannot be reached.
   */
  async openSession(params: InitializeParams): Promise<UpstreamSession> {
    if (this.stateValue === 'closed' || this.misconfiguredValue) throw this.unavailable();
    const spec = this.spec;
    try {
      if (spec.kind === 'http') return await openHttpUpstreamSession(this.httpOptions(spec.url, spec.headers), params);
      if (spec.session === 'per-agent') return await StdioUpstreamSession.open(this.name, spec, this.log, params, connectTimeoutMs);
    } catch (error) {
      this.suspect(); // the catalog may not know yet that the upstream is gone
      const failure = classifyStartFailure(error, spec);
      if (failure.misconfigured) throw upstreamNotConnectedError(this.name, 'This request', { ...failure, retryAfterSec: 0 });
      throw error;
    }
    if (!this.shared?.alive) throw this.unavailable();
    return this.shared.session();
  }

  /** A request on the gateway's own session (catalog refresh, `policy init`); a JSON-RPC error becomes `upstream_failed`. */
  async request(method: string, params: Record<string, unknown> | undefined, timeoutMs = this.spec.callTimeout): Promise<Record<string, unknown>> {
    const catalog = this.catalog;
    if (!catalog || this.stateValue !== 'connected') throw this.unavailable();
    const response = await catalog.request(method, params, { timeoutMs });
    if ('error' in response) {
      throw new AirlockError('upstream_failed', `Upstream "${this.name}" answered ${method} with an error: ${response.error.message}`, {
        details: { upstream: this.name, rpcCode: response.error.code },
      });
    }
    return response.result;
  }

  /**
   * A session request could not reach the upstream: check the catalog now instead of at the next
   * periodic ping, so readiness and new sessions learn of the outage at once.
   */
  suspect(): void {
    const catalog = this.catalog;
    if (!catalog || this.stateValue !== 'connected' || this.probing) return;
    this.probing = true;
    catalog
      .request('ping', undefined, { timeoutMs: 5_000 })
      .catch((error: unknown) => {
        if (catalog === this.catalog) this.lost(describe(error));
      })
      .finally(() => {
        this.probing = false;
      });
  }

  /** Why a request cannot reach this upstream now: `upstream_misconfigured`, or `upstream_unavailable` with when to retry. */
  unavailable(subject = 'This request'): AirlockError {
    return this.notConnectedError(subject);
  }

  /** Why a request for `subject` cannot run now: a configuration problem, or an outage with when to retry. */
  notConnectedError(subject: string): AirlockError {
    const retryAfterSec = Math.max(1, Math.ceil((this.nextRetryAt - Date.now()) / 1_000));
    return upstreamNotConnectedError(this.name, subject, { misconfigured: this.misconfiguredValue, reason: this.lastErrorText, retryAfterSec });
  }

  private httpOptions(url: string, headers: Record<string, string>) {
    if (!this.dispatcher) throw new Error('unreachable: HTTP upstreams have a dispatcher');
    return { name: this.name, url: new URL(url), headers, dispatcher: this.dispatcher, log: this.log, connectTimeoutMs, tokens: this.tokens };
  }

  private connect(): Promise<void> {
    this.connecting ??= this.connectOnce().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectOnce(): Promise<void> {
    if (this.stateValue === 'closed' || this.stateValue === 'connected') return;
    this.setState('connecting');
    const spec = this.spec;
    try {
      let catalog: UpstreamSession;
      const params: InitializeParams = { protocolVersion: latestProtocolVersion, capabilities: {}, clientInfo: gatewayClientInfo };
      if (spec.kind === 'http') {
        const session = await openHttpUpstreamSession(this.httpOptions(spec.url, spec.headers), params);
        session.listen();
        catalog = session;
      } else {
        const shared = await SharedStdioUpstream.start(this.name, spec, this.log, gatewayClientInfo, connectTimeoutMs);
        shared.onClosed = (reason) => this.lost(reason);
        this.shared = shared;
        catalog = shared.session();
      }
      if (this.isClosed()) {
        await catalog.close();
        await this.shared?.close();
        return;
      }
      catalog.onUnrelated = (message) => {
        if (message.method === 'notifications/tools/list_changed')
          void this.refreshTools().catch((error: unknown) => this.log.warn({ err: error }, 'tool catalog refresh failed'));
      };
      catalog.onClosed = (reason) => this.lost(reason);
      this.catalog = catalog;
      this.initValue = catalog.init;
      await this.refreshTools();
      this.attempt = 0;
      this.misconfiguredValue = false;
      this.setState('connected');
      if (spec.kind === 'http') this.startPing();
      this.log.info({ tools: this.toolsValue.length, session: this.perAgent ? 'per-agent' : 'shared' }, 'upstream connected');
    } catch (error) {
      this.catalog = undefined;
      await this.shared?.close().catch(() => undefined);
      this.shared = undefined;
      const failure = classifyStartFailure(error, this.spec);
      // One warning per distinct reason, not one per retry.
      const level = failure.reason === this.lastErrorText ? 'debug' : 'warn';
      this.lastErrorText = failure.reason;
      this.misconfiguredValue = failure.misconfigured;
      this.log[level]({ err: failure.reason, misconfigured: failure.misconfigured, attempt: this.attempt }, 'upstream connection failed');
      this.scheduleReconnect();
    }
  }

  private isClosed(): boolean {
    return this.stateValue === 'closed';
  }

  /** HTTP upstreams can restart without telling us: a periodic ping on the catalog notices. */
  private startPing(): void {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      const catalog = this.catalog;
      if (!catalog) return;
      catalog.request('ping', undefined, { timeoutMs: 10_000 }).catch((error: unknown) => {
        if (catalog === this.catalog) this.lost(describe(error));
      });
    }, catalogPingMs);
    this.pingTimer.unref();
  }

  private lost(reason: string): void {
    if (this.stateValue === 'closed') return;
    clearInterval(this.pingTimer);
    const catalog = this.catalog;
    this.catalog = undefined;
    void catalog?.close().catch(() => undefined);
    const shared = this.shared;
    this.shared = undefined;
    void shared?.close().catch(() => undefined);
    this.lastErrorText = reason;
    this.log.warn({ reason }, 'upstream disconnected; reconnecting');
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
    const catalog = this.catalog;
    if (!catalog || this.initValue?.capabilities['tools'] === undefined) {
      this.toolsValue = [];
    } else {
      const tools: Tool[] = [];
      let cursor: string | undefined;
      do {
        const response = await catalog.request('tools/list', cursor === undefined ? undefined : { cursor }, { timeoutMs: connectTimeoutMs });
        if ('error' in response) throw new Error(`tools/list failed: ${response.error.message}`);
        const page = response.result as { tools?: unknown; nextCursor?: unknown }; // checked field by field below
        if (!Array.isArray(page.tools)) throw new Error('tools/list answered without a "tools" array');
        tools.push(...(page.tools as Tool[])); // the upstream's own definitions, relayed as they are
        cursor = typeof page.nextCursor === 'string' ? page.nextCursor : undefined;
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
}

/** The catalog session as an HTTP session, for tests that look at it. */
export type { HttpUpstreamSession };

/** One line for a failure, for the log and readiness. */
function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    const causeText = cause instanceof Error ? `: ${cause.message}` : '';
    return `${error.message}${causeText}`.slice(0, 500);
  }
  return String(error).slice(0, 500);
}
