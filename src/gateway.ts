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
import type { AuditSink } from './audit/types.js';
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
import { policyRouter } from './http/api/policy-router.js';
import { createApp } from './http/app.js';
import { healthRouter, readiness, type HealthDeps } from './http/health.js';
import { metricsRouter } from './http/metrics-router.js';
import { dashboardRouter } from './dashboard/dashboard-router.js';
import { dashboardPolicyPort } from './dashboard/gateway-ports.js';
import { SessionLimits } from './identity/session-limits.js';
import { createAuthenticator, demoTokenSha256, type Agent, type Authenticator } from './identity/tokens.js';
import { RedisRateLimiter } from './limits/redis-limiter.js';
import type { Logger } from './log.js';
import { Metrics, meteredAuditSink } from './metrics/metrics.js';
import { PolicyEngine, policyEngineOptionsFromConfig } from './policy/engine.js';
import { createSlackChannel, type SlackChannel } from './slack/slack-channel.js';
import { ArgumentsHasher } from './state/arguments-hasher.js';
import { createRedis, pingRedis, waitForRedis, type Redis } from './state/redis.js';
import { UpstreamPool } from './upstream/upstream-pool.js';

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
  readonly slack: SlackChannel | undefined;
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

  constructor(options: GatewayOptions) {
    const { config, log, env } = options;
    const { prefix, url: redisUrl } = config.redis;
    this.config = config;
    this.log = log;
    this.authenticator = createAuthenticator(config.agents);
    this.redis = createRedis(redisUrl, { name: 'airlock:calls', mode: 'fail-fast', log });
    this.metrics = new Metrics({ pendingApprovals: () => this.approvals.pendingCount(), callsInFlight: () => this.pipeline.inflightCount });
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
    this.audit = meteredAuditSink(this.auditStore, this.metrics);
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
      runWorkers: true,
      onDeliveryFailure: (channel) => this.metrics.deliveryFailures.inc({ channel }),
      ...optional('now', options.now),
    });
    this.slack = createSlackChannel({ approvals: this.approvals, env, defaultChannel: config.slack.defaultChannel, log });
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
    this.methods = new RelayMethods({ pool: this.pool, pipeline: this.pipeline, taskStore: this.taskStore, log });
    this.httpFront = new HttpFront({
      authenticator: this.authenticator,
      methods: this.methods,
      createRelay: (agent, sessionId) => this.createRelay(agent, sessionId),
      hostGuard: createHostGuard({ bindHost: config.host, allowedHosts: config.http.allowedHosts, allowedOrigins: config.http.allowedOrigins }),
      log,
      bodyLimit: config.http.bodyLimit,
      sessionIdleTimeoutMs: config.http.sessionIdleTimeout,
      sessionLimits: this.sessionLimits,
    });
    this.pool.on('toolsChanged', () => this.httpFront.notifyToolsChanged());
    this.policy.on('changed', () => this.httpFront.notifyToolsChanged());

    const health: HealthDeps = {
      redisReady: () => pingRedis(this.redis),
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
      { path: '/api/audit', router: auditRouter(this.auditStore, admin) },
      { path: '/api/policy', router: policyRouter({ policy: this.policy, authenticator: this.authenticator, pool: this.pool }, admin) },
    ];
    if (this.slack?.router) mounted.push({ path: '/slack', router: this.slack.router });
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
      log,
    });
    this.app = createApp({ mounted, root: [healthRouter(health), metricsRouter(this.metrics), dashboard] });
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

  /** Where approval requests go, in words an agent can pass on to its user. */
  private describeChannel(channel: string | undefined): string {
    const slackChannel = channel ?? this.config.slack.defaultChannel;
    if (this.slack && slackChannel)
      return `Slack ${slackChannel.startsWith('C') ? `channel ${slackChannel}` : slackChannel.startsWith('#') ? slackChannel : `#${slackChannel}`}`;
    return 'the Airlock approvers (dashboard, API or CLI)';
  }

  /**
   * Starts in dependency order. A broken policy stops the start (the gateway never serves on a
   * policy it could not read); Redis or an upstream being down does not: readiness reports it,
   * and limited or held calls are refused until Redis is back.
   */
  async start(): Promise<void> {
    for (const [name, spec] of Object.entries(this.config.agents)) {
      if (spec.tokenSha256 === demoTokenSha256) this.log.warn({ agent: name }, 'agent accepts the public demo token: delete it before you deploy');
    }
    const redisUp = await waitForRedis(this.redis, 3_000);
    if (!redisUp) this.log.warn({ url: redactUrl(this.config.redis.url) }, 'redis not reachable yet; limited and held calls are refused until it is');
    await this.hasher.start();
    await this.policy.start();
    await this.auditStore.start();
    await this.approvals.start();
    if (this.slack) {
      await this.slack.start();
      await this.approvals.addChannel(this.slack.notifier);
      this.metrics.deliveryFailures.inc({ channel: this.slack.notifier.name }, 0); // exported as 0 until one fails
      this.approvals.setDirectory(this.slack.directory);
    }
    await this.pool.start();
    this.httpFront.start();
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

  /** Graceful shutdown: stop accepting, let calls in flight finish up to the grace period, then close in reverse order. */
  async close(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const server = this.httpServer;
    const stopped = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    await this.pipeline.drain(this.config.shutdownGrace);
    await this.httpFront.close();
    server?.closeAllConnections();
    await stopped;
    await this.pool.close();
    await this.slack?.close();
    await this.approvals.close();
    await this.auditStore.close();
    await this.policy.close();
    this.redis.disconnect();
    this.log.info('airlock stopped');
  }

  /** Audits an administrative act (policy loads); a failure is logged, never thrown at the watcher. */
  private async recordAdmin(event: Parameters<AuditSink['append']>[0]): Promise<void> {
    try {
      await this.audit.append({ ...event, actor: { kind: 'system', id: 'airlock' } });
    } catch (error) {
      this.log.error({ err: (error as Error).message, event: event.type }, 'audit write failed');
    }
  }
}

/** `{key: value}` when value is defined, else `{}` — for exactOptionalPropertyTypes-style options. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V }); // a one-key object of the declared shape
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
