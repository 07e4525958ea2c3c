/**
 * The composition root: builds every long-lived part from the config, starts them in dependency
 * order and closes them in reverse. `airlock serve`, `airlock stdio` and the tests all go through
 * this class, so what the tests start is what production runs.
 *
 *   identity → policy → limits → approvals (hold queue, channels) → upstream, and all → audit.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Express, Router } from 'express';
import { ApprovalService } from './approvals/approval-service.js';
import { AuditStore } from './audit/audit-store.js';
import type { AuditSink } from './audit/types.js';
import type { ApprovalChannelPlugin } from './channel-plugin.js';
import { channelFactories } from './channel-registry.js';
import type { EnvSettings, LoadedConfig } from './config/load.js';
import { CallPipeline } from './front/call-pipeline.js';
import { HttpFront } from './front/http-front.js';
import { InflightRequests } from './front/inflight-requests.js';
import { createSessionServer } from './front/session-server.js';
import { RedisTaskStore } from './front/task-store.js';
import { approvalsRouter } from './http/api/approvals-router.js';
import { auditRouter } from './http/api/audit-router.js';
import { policyRouter } from './http/api/policy-router.js';
import { createApp } from './http/app.js';
import { healthRouter, readiness, type HealthDeps } from './http/health.js';
import { metricsRouter } from './http/metrics-router.js';
import { dashboardRouter } from './dashboard/dashboard-router.js';
import { dashboardPolicyPort } from './dashboard/gateway-ports.js';
import { createAuthenticator, demoTokenSha256, type Agent, type Authenticator } from './identity/tokens.js';
import { RedisRateLimiter } from './limits/redis-limiter.js';
import type { Logger } from './log.js';
import { Metrics, meteredAuditSink } from './metrics/metrics.js';
import { PolicyEngine, policyEngineOptionsFromConfig } from './policy/engine.js';
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
  readonly inflight = new InflightRequests();
  readonly taskStore: RedisTaskStore;
  readonly httpFront: HttpFront;
  readonly app: Express;
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
    this.metrics = new Metrics({
      pendingApprovals: () => this.approvals.pendingCount(),
      callsInFlight: () => this.pipeline.inflightCount,
      pendingOutcomes: () => this.approvals.pendingOutcomes,
    });
    this.metrics.redisErrors.inc({ connection: 'airlock:calls' }, 0);
    this.redis.on('error', () => this.metrics.redisErrors.inc({ connection: 'airlock:calls' }));
    this.auditStore = new AuditStore({
      redis: this.redis,
      prefix,
      log,
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
      executionLeaseMs: config.approvals.executionLease,
      maxStoredResultBytes: config.approvals.maxStoredResult,
      pendingOutcomesLimit: config.approvals.pendingOutcomes,
      runWorkers: true,
      onDeliveryFailure: (channel) => this.metrics.deliveryFailures.inc({ channel }),
      onOutcomeAbandoned: () => this.metrics.outcomesAbandoned.inc(),
      ...optional('now', options.now),
    });
    const channelContext = { approvals: this.approvals, config, env, log, ...optional('now', options.now) };
    this.channels = channelFactories.flatMap((factory) => factory(channelContext) ?? []);
    this.pool = new UpstreamPool(config.mcpServers, log);
    this.taskStore = new RedisTaskStore(this.redis, prefix);
    this.pipeline = new CallPipeline({
      pool: this.pool,
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
    this.httpFront = new HttpFront({
      authenticator: this.authenticator,
      inflight: this.inflight,
      createServer: (agent, sessionId) => this.createSessionServer(agent, sessionId),
      log,
      bodyLimit: config.http.bodyLimit,
      sessionIdleTimeoutMs: config.http.sessionIdleTimeout,
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
      { path: '/mcp', router: this.httpFront.router() },
      { path: '/api/approvals', router: approvalsRouter(this.approvals, admin) },
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
      ...optional('secureCookies', config.dashboard.secureCookies),
      log,
    });
    this.app = createApp({ mounted, root: [healthRouter(health), metricsRouter(this.metrics), dashboard] });
    this.readiness = () => readiness(health);
  }

  private createSessionServer(agent: Agent, sessionId: string) {
    return createSessionServer({
      pipeline: this.pipeline,
      pool: this.pool,
      inflight: this.inflight,
      agent,
      fallbackSessionId: sessionId,
      taskStore: this.taskStore,
    });
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
   * and limited or held calls are refused until Redis is back.
   */
  async start(): Promise<void> {
    for (const [name, spec] of Object.entries(this.config.agents)) {
      if (spec.tokenSha256 === demoTokenSha256) this.log.warn({ agent: name }, 'agent accepts the public demo token: delete it before you deploy');
    }
    const redisUp = await waitForRedis(this.redis, 3_000);
    if (!redisUp) this.log.warn({ url: redactUrl(this.config.redis.url) }, 'redis not reachable yet; limited and held calls are refused until it is');
    await this.policy.start();
    await this.auditStore.start();
    await this.approvals.start();
    for (const channel of this.channels) {
      await channel.start();
      await this.approvals.addChannel(channel.notifier);
      this.metrics.deliveryFailures.inc({ channel: channel.name }, 0); // exported as 0 until one fails
      if (channel.directory) this.approvals.setDirectory(channel.directory);
    }
    await this.pool.start();
    this.httpFront.start();
  }

  /** Serves HTTP on the configured port (0 picks a free one); resolves with the bound address. */
  async listen(port = this.config.port, host = this.config.host): Promise<AddressInfo> {
    const server = createServer(this.app);
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
    const sessionId = randomUUID();
    const server = this.createSessionServer(agent, sessionId);
    const transport = new StdioServerTransport();
    const notify = () => void server.sendToolListChanged().catch(() => undefined);
    this.pool.on('toolsChanged', notify);
    this.policy.on('changed', notify);
    await server.connect(transport);
    await new Promise<void>((resolve) => {
      transport.onclose = () => resolve();
      process.stdin.once('end', () => resolve());
    });
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
    for (const channel of this.channels) await channel.close();
    await this.approvals.close(this.config.shutdownGrace);
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
