/**
 * The composition root: builds every long-lived part from the config, starts them in dependency
 * order and closes them in reverse. `airlock serve`, `airlock stdio` and the tests all go through
 * this class, so what the tests start is what production runs.
 *
 *   identity → policy → limits → approvals (hold queue, channels) → upstream, and all → audit.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type RequestListener, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express, Router } from 'express';
import { ApprovalService } from './approvals/approval-service.js';
import { AuditStore } from './audit/audit-store.js';
import { AuditBacklog } from './audit/audit-backlog.js';
import { operatorLogSink } from './audit/operator-log.js';
import type { AuditSink } from './audit/types.js';
import type { ApprovalChannelPlugin } from './channel-plugin.js';
import { channelFactories } from './channel-registry.js';
import type { EnvSettings, LoadedConfig } from './config/load.js';
import { CallPipeline } from './front/call-pipeline.js';
import { createHostGuard } from './front/host-guard.js';
import { HttpFront } from './front/http-front.js';
import { RelayMethods } from './front/relay-methods.js';
import { SessionRelay } from './front/session-relay.js';
import { serveStdioSession } from './front/stdio-front.js';
import { RedisTaskStore } from './front/task-store.js';
import { approvalsRouter } from './http/api/approvals-router.js';
import { auditRouter } from './http/api/audit-router.js';
import { grantsRouter } from './http/api/grants-router.js';
import { policyRouter } from './http/api/policy-router.js';
import { createApp } from './http/app.js';
import { healthRouter, readiness, type HealthDeps } from './http/health.js';
import { metricsRouter } from './http/metrics-router.js';
import { dashboardRouter } from './dashboard/dashboard-router.js';
import { resolveOidcDeps } from './dashboard/oidc-deps.js';
import { dashboardPolicyPort } from './dashboard/gateway-ports.js';
import { protectedResourceRouter, resourceMetadataUrl } from './http/protected-resource.js';
import { createRequestAuthenticator } from './identity/request-authenticator.js';
import { SessionLimits } from './identity/session-limits.js';
import { createAuthenticator, demoTokenSha256, type Agent, type Authenticator } from './identity/tokens.js';
import { RedisRateLimiter } from './limits/redis-limiter.js';
import type { Logger } from './log.js';
import { Metrics, meteredAuditSink } from './metrics/metrics.js';
import { PolicyEngine, policyEngineOptionsFromConfig } from './policy/engine.js';
import { ArgumentsHasher } from './state/arguments-hasher.js';
import { redisOnceStore } from './state/once-store.js';
import { McpSessionStore } from './state/mcp-sessions.js';
import { createPostingSlots } from './state/posting-slots.js';
import { RedisAvailability } from './state/redis-availability.js';
import { createRedis, pingRedis, redisAnswersSoon, type Redis } from './state/redis.js';
import { UpstreamPool } from './upstream/upstream-pool.js';
import { settlesWithin } from './util/settles-within.js';

/** Options of `start()`. */
export interface GatewayStartOptions {
  /**
   * Runs once the policy has loaded, before upstreams and Redis are waited for: `airlock serve`
   * listens here, so HTTP (health, readiness) is up at once whatever Redis and the upstreams do.
   */
  afterPolicyLoaded?: () => Promise<unknown>;
}

export interface GatewayOptions {
  config: LoadedConfig;
  env: EnvSettings;
  log: Logger;
  /** Injected clock for expiry and windows in tests; Date.now otherwise. */
  now?: () => number;
}

export class Gateway {
  readonly config: LoadedConfig;
  readonly log: Logger;
  readonly authenticator: Authenticator;
  readonly redis: Redis;
  /** Keys argument hashes (`AIRLOCK_HASH_SECRET`, or a secret generated once and kept in Redis). */
  readonly hasher: ArgumentsHasher;
  /** Caps open MCP sessions per agent and in total (`http.maxSessionsPerAgent`, `http.maxSessions`). */
  readonly sessionLimits: SessionLimits;
  readonly metrics: Metrics;
  readonly auditStore: AuditStore;
  readonly audit: AuditSink;
  readonly policy: PolicyEngine;
  readonly limiter: RedisRateLimiter;
  readonly approvals: ApprovalService;
  /** The approval channels that are configured (Slack …), from channel-registry.ts. */
  readonly channels: ApprovalChannelPlugin[];
  readonly pool: UpstreamPool;
  readonly pipeline: CallPipeline;
  readonly methods: RelayMethods;
  readonly taskStore: RedisTaskStore;
  readonly httpFront: HttpFront;
  readonly app: Express;
  /** Every HTTP route: /mcp straight from node:http (the hot path), the rest through express. */
  readonly handler: RequestListener;
  readonly readiness: () => ReturnType<typeof readiness>;
  private httpServer: HttpServer | undefined;
  private shuttingDown = false;
  private closing: Promise<void> | undefined;
  /** Aborted by close(): parts still waiting for Redis stop waiting. */
  private readonly closeSignal = new AbortController();
  private readonly redisState: RedisAvailability;
  /** Why the Redis-backed parts (audit head, hold queue, channels) are not running; undefined once started. */
  private stateProblem: string | undefined = 'waiting for Redis to start them';
  /** The gateway's own audit events (policy loads): written when Redis answers, queued until then. */
  private readonly adminAudit: AuditBacklog;

  constructor(options: GatewayOptions) {
    const { config, log, env } = options;
    const { prefix } = config.redis;
    const redisUrl = concreteRedisUrl(config.redis.url);
    this.config = config;
    this.log = log;
    this.authenticator = createAuthenticator(config.agents);
    this.redis = createRedis(redisUrl, { name: 'airlock:calls', mode: 'fail-fast', log });
    this.redisState = new RedisAvailability(this.redis, redisUrl, log, () => void this.adminAudit.flush());
    this.metrics = new Metrics({
      pendingApprovals: () => this.approvals.pendingCount(),
      callsInFlight: () => this.pipeline.inflightCount,
      pendingOutcomes: () => this.approvals.pendingOutcomes,
    });
    this.metrics.redisErrors.inc({ connection: 'airlock:calls' }, 0);
    this.redis.on('error', () => this.metrics.redisErrors.inc({ connection: 'airlock:calls' }));
    this.hasher = new ArgumentsHasher({ redis: this.redis, prefix, secret: env.hashSecret, log });
    this.sessionLimits = new SessionLimits({
      maxSessionsPerAgent: config.http.maxSessionsPerAgent,
      maxSessions: config.http.maxSessions,
      sessionIdleTimeoutMs: config.http.sessionIdleTimeout,
    });
    this.auditStore = new AuditStore({
      redis: this.redis,
      prefix,
      log,
      maxArgumentsBytes: config.audit.maxArgumentsBytes,
      ...optional('retentionMs', config.audit.retention),
      ...optional('file', config.audit.file),
    });
    // The operator's log line per held call and decision; approvals are read lazily (built below).
    this.audit = operatorLogSink(meteredAuditSink(this.auditStore, this.metrics), {
      log,
      showPaths: async (id) => (await this.approvals.get(id))?.settings.show,
      link: (id) => `${this.publicBaseUrl()}/approvals/${encodeURIComponent(id)}`,
    });
    this.adminAudit = new AuditBacklog({
      sink: this.audit,
      log,
      ready: () => this.redis.status === 'ready',
      knownDown: () => this.redisState.available === false,
    });
    this.policy = new PolicyEngine({
      ...policyEngineOptionsFromConfig(config),
      log,
      onLoaded: ({ file, version }) => void this.recordAdmin({ type: 'policy_loaded', policyVersion: version, details: { file } }),
      onRejected: ({ file, problems }) =>
        void this.recordAdmin({ type: 'policy_rejected', reason: problems.map((p) => `${p.path}: ${p.message}`).join('; '), details: { file, problems } }),
    });
    this.limiter = new RedisRateLimiter({ redis: this.redis, prefix, ...optional('now', options.now) });
    this.approvals = new ApprovalService({
      redis: this.redis,
      redisUrl,
      prefix,
      log,
      audit: this.audit,
      retryValidityMs: config.approvals.retryValidity,
      executionLeaseMs: config.approvals.executionLease,
      maxStoredResultBytes: config.approvals.maxStoredResult,
      pendingOutcomesLimit: config.approvals.pendingOutcomes,
      runWorkers: true,
      onDeliveryFailure: (channel) => this.metrics.deliveryFailures.inc({ channel }),
      onOutcomeAbandoned: () => this.metrics.outcomesAbandoned.inc(),
      ...optional('now', options.now),
    });
    const once = redisOnceStore(this.redis, `${prefix}once:`);
    const postingSlots = createPostingSlots(this.redis, prefix);
    const channelContext = { approvals: this.approvals, config, env, log, once, postingSlots, ...optional('now', options.now) };
    this.channels = channelFactories.flatMap((factory) => factory(channelContext) ?? []);
    this.pool = new UpstreamPool(config.mcpServers, log);
    this.taskStore = new RedisTaskStore(this.redis, prefix);
    this.pipeline = new CallPipeline({
      pool: this.pool,
      hasher: this.hasher,
      argumentLimits: { maxDepth: config.arguments.maxDepth },
      maxHeldArgumentsBytes: config.approvals.maxArgumentsBytes,
      policy: this.policy,
      limiter: this.limiter,
      approvals: this.approvals,
      clientDecisions: this.approvals,
      audit: this.audit,
      metrics: this.metrics,
      held: {
        answerPendingAfterMs: config.approvals.answerPendingAfter,
        progressIntervalMs: config.approvals.progressInterval,
        describeChannel: (channel) => this.describeChannel(channel),
      },
      defaultApprovalTimeoutMs: config.approvals.defaultTimeout,
      log,
    });
    this.approvals.setEditCheck((record, edited) => this.pipeline.checkEdit(this.authenticator.agents.get(record.agent), record, edited));
    this.methods = new RelayMethods({ pool: this.pool, pipeline: this.pipeline, taskStore: this.taskStore, log });
    this.httpFront = new HttpFront({
      authenticator: createRequestAuthenticator({ staticTokens: this.authenticator, oauth: config.oauth, log }),
      resourceMetadataUrl: config.oauth ? resourceMetadataUrl(config.oauth.resource) : undefined,
      resourceScope: config.oauth?.scopes.join(' '),
      methods: this.methods,
      createRelay: (agent, sessionId) => this.createRelay(agent, sessionId),
      hostGuard: createHostGuard({ bindHost: config.host, allowedHosts: config.http.allowedHosts, allowedOrigins: config.http.allowedOrigins }),
      log,
      bodyLimit: config.http.bodyLimit,
      sessionIdleTimeoutMs: config.http.sessionIdleTimeout,
      sessionLimits: this.sessionLimits,
      ...(config.http.resumption.enabled
        ? {
            resumption: {
              store: new McpSessionStore(this.redis, prefix, {
                ttlMs: config.http.sessionIdleTimeout,
                maxEvents: config.http.resumption.maxEventsPerSession,
              }),
              retryMs: config.http.resumption.retry,
              resumeGraceMs: config.http.resumption.resumeGrace,
            },
          }
        : {}),
    });
    this.pool.on('toolsChanged', () => this.httpFront.notifyToolsChanged());
    this.policy.on('changed', () => this.httpFront.notifyToolsChanged());

    const health: HealthDeps = {
      redisReady: () => pingRedis(this.redis),
      stateProblem: () => this.stateProblem,
      redisDetail: () => this.redisState.describeOutage(),
      upstreams: () => this.pool.status(),
      isShuttingDown: () => this.shuttingDown,
      extraChecks: () => [
        {
          name: 'approval channel delivery',
          check: async () => {
            const h = this.approvals.channelHealth;
            return h.failedDeliveries === 0
              ? { ok: true }
              : { ok: false, detail: `${h.failedDeliveries} notification(s) not delivered; last: ${h.lastFailure}` };
          },
        },
      ],
    };
    const admin = env.adminToken;
    const mounted: Array<{ path: string; router: Router }> = [
      { path: '/api/approvals', router: approvalsRouter(this.approvals, admin) },
      { path: '/api/grants', router: grantsRouter(this.approvals, admin) },
      { path: '/api/audit', router: auditRouter(this.auditStore, admin) },
      { path: '/api/policy', router: policyRouter({ policy: this.policy, authenticator: this.authenticator, pool: this.pool }, admin) },
    ];
    for (const channel of this.channels) if (channel.mount) mounted.push(channel.mount);
    const dashboard = dashboardRouter({
      approvals: this.approvals,
      audit: this.auditStore,
      limits: this.limiter,
      policy: dashboardPolicyPort(this.policy, this.authenticator),
      redis: this.redis,
      prefix,
      adminToken: admin,
      users: config.dashboard.users,
      sessionTtlMs: config.dashboard.sessionTtl,
      trustProxyHops: config.dashboard.trustProxy,
      ...optional('secureCookies', config.dashboard.secureCookies),
      oidc: resolveOidcDeps(config, env),
      log,
      ...optional('now', options.now),
    });
    const root = [healthRouter(health), metricsRouter(this.metrics), ...(config.oauth ? [protectedResourceRouter(config.oauth)] : []), dashboard];
    this.app = createApp({ mounted, root });
    this.handler = (req, res) => {
      const url = req.url ?? '/';
      if (url === '/mcp' || url.startsWith('/mcp?')) this.httpFront.handle(req, res);
      else this.app(req, res);
    };
    this.readiness = () => readiness(health);
  }

  private createRelay(agent: Agent, sessionId: string): SessionRelay {
    return new SessionRelay({ agent, sessionId, pool: this.pool, log: this.log });
  }

  /** The gateway's address as people reach it: `publicUrl`, else this host and the port it listens on. */
  private publicBaseUrl(): string {
    if (this.config.publicUrl) return this.config.publicUrl.replace(/\/+$/, '');
    const address = this.httpServer?.address();
    const port = typeof address === 'object' && address !== null ? address.port : this.config.port;
    const host = ['0.0.0.0', '::', '127.0.0.1', '::1', ''].includes(this.config.host) ? 'localhost' : this.config.host;
    return `http://${host}:${port}`;
  }

  /** Where approval requests go, in words an agent can pass on to its user. */
  private describeChannel(channel: string | undefined): string {
    for (const plugin of this.channels) {
      const where = plugin.describe?.(channel);
      if (where) return where;
    }
    return 'the Airlock approvers (dashboard, API or CLI)';
  }

  /**
   * Starts in dependency order. A broken policy stops the start (the gateway never serves on a
   * policy it could not read); Redis or an upstream being down does not: readiness reports it,
   * limited and held calls are refused until Redis is back, and the parts that need Redis start
   * by themselves when it answers. Never waits on an absent Redis.
   */
  async start(options: GatewayStartOptions = {}): Promise<void> {
    for (const [name, spec] of Object.entries(this.config.agents)) {
      if (spec.tokenSha256 === demoTokenSha256) this.log.warn({ agent: name }, 'agent accepts the public demo token: delete it before you deploy');
    }
    await this.policy.start();
    warnOpenApprovals(this.policy, this.log);
    await options.afterPolicyLoaded?.();
    this.httpFront.start();
    const redisUp = redisAnswersSoon(this.redis, 2_000);
    const stateParts = this.startStateParts().catch((error: unknown) => {
      if (this.closeSignal.signal.aborted) return;
      this.stateProblem = `failed to start (${(error as Error).message}); restart the gateway`;
      this.log.error({ err: (error as Error).message }, 'approvals, audit or channels failed to start');
    });
    await this.pool.start();
    if (await redisUp) {
      await stateParts;
      await this.adminAudit.flush();
    }
  }

  /**
   * The parts that need Redis: BullMQ objects exist at once (so a hold during an outage fails
   * with `state_store_unavailable`, not "not started"); the audit head is read, and channels are
   * registered, once Redis answers.
   */
  private async startStateParts(): Promise<void> {
    const approvals = this.approvals.start();
    await this.redisState.untilReady(this.closeSignal.signal);
    await this.hasher.start();
    await this.auditStore.start();
    await approvals;
    for (const channel of this.channels) {
      const started = await channel.start();
      for (const notifier of started.notifiers) {
        await this.approvals.addChannel(notifier);
        this.metrics.deliveryFailures.inc({ channel: notifier.name }, 0); // exported as 0 until one fails
      }
      if (started.directory) this.approvals.setDirectory(started.directory);
    }
    this.stateProblem = undefined;
  }

  /** Serves HTTP on the configured port (0 picks a free one); resolves with the bound address. */
  async listen(port = this.config.port, host = this.config.host): Promise<AddressInfo> {
    const server = createServer(this.handler);
    server.keepAliveTimeout = 65_000;
    this.httpServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo; // listening on TCP, so never a pipe name
    this.log.info({ port: address.port, host: address.address }, 'airlock listening');
    return address;
  }

  /** Serves one agent over this process's stdin/stdout (the `airlock stdio` front). */
  async serveStdio(agent: Agent): Promise<void> {
    const relay = this.createRelay(agent, randomUUID());
    const notify = () => relay.notify('notifications/tools/list_changed');
    this.pool.on('toolsChanged', notify);
    this.policy.on('changed', notify);
    try {
      await serveStdioSession({ relay, methods: this.methods, input: process.stdin, output: process.stdout, log: this.log });
    } finally {
      this.pool.off('toolsChanged', notify);
      this.policy.off('changed', notify);
      await relay.close();
    }
  }

  /**
   * Graceful shutdown within `shutdownGrace`, whatever Redis or an upstream is doing: stop
   * accepting, let calls in flight finish (most of the grace), then close in reverse order, each
   * step bounded by what is left. A step that does not finish in time is named in the log.
   */
  close(): Promise<void> {
    this.closing ??= this.closeWithin(this.config.shutdownGrace);
    return this.closing;
  }

  private async closeWithin(graceMs: number): Promise<void> {
    this.shuttingDown = true;
    this.closeSignal.abort();
    this.redisState.close();
    const deadline = Date.now() + graceMs;
    const left = () => Math.max(0, deadline - Date.now());
    const stuck: string[] = [];
    const step = async (name: string, run: () => Promise<unknown>, budgetMs = left()) => {
      if (!(await settlesWithin(run(), budgetMs))) stuck.push(name);
    };
    // With Redis away, the parts that talk to it have nothing to flush and would only wait out their retries.
    const redisBudget = () => (this.redisState.available === false ? Math.min(left(), 1_000) : left());
    const server = this.httpServer;
    const stopped = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    if (this.config.http.resumption.enabled && this.config.http.resumption.handOverOnShutdown) {
      const handed = this.httpFront.handOverHeld();
      if (handed > 0) this.log.info({ calls: handed }, 'held calls left to another replica: their agents resume there');
    }
    // Calls in flight get the grace minus a reserve for closing everything else.
    await this.pipeline.drain(Math.max(0, graceMs - Math.min(2_000, graceMs / 4)));
    await step('sessions', () => this.httpFront.close());
    server?.closeAllConnections();
    await step('http server', () => stopped);
    await step('upstreams', () => this.pool.close());
    for (const channel of this.channels) await step(`channel ${channel.name}`, () => channel.close());
    await step('approvals', () => this.approvals.close(redisBudget()), redisBudget());
    await step('audit', () => this.auditStore.close(), redisBudget());
    await step('policy watcher', () => this.policy.close());
    this.redis.disconnect();
    this.adminAudit.close();
    if (stuck.length > 0) this.log.warn({ parts: stuck, shutdownGraceMs: graceMs }, 'shutdown grace ran out; stopped waiting for these parts');
    this.log.info('airlock stopped');
  }

  /** Audits an administrative act (policy loads); queued while Redis is away, never thrown at the watcher. */
  private recordAdmin(event: Parameters<AuditSink['append']>[0]): Promise<void> {
    return this.adminAudit.record({ ...event, actor: { kind: 'system', id: 'airlock' } });
  }
}

/** Warns once at start for each policy file that holds calls without naming approvers. */
function warnOpenApprovals(policy: PolicyEngine, log: Logger): void {
  for (const info of policy.info()) {
    if (info.openApprovals.length === 0) continue;
    log.warn(
      { file: info.file, rules: info.openApprovals },
      'this policy holds calls without naming approvers: any signed-in approver (every dashboard user, anyone who can click in the Slack channel) may decide them; name "approvers" in its approval settings to restrict who decides',
    );
  }
}

/** The Redis URL the gateway connects to; the CLI resolves "embedded" or an unset one before building a Gateway. */
function concreteRedisUrl(url: string | undefined): string {
  if (url === undefined || url === 'embedded') {
    throw new Error('Gateway needs a Redis URL: resolve redis.url first (resolveRedisForServer starts the embedded redis-server)');
  }
  return url;
}

/** `{key: value}` when value is defined, else `{}` — for exactOptionalPropertyTypes-style options. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V }); // a one-key object of the declared shape
}
