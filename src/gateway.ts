/**
 * The composition root: builds every long-lived part from the config, starts them in dependency
 * order and closes them in reverse. `airlock serve`, `airlock stdio` and the tests all go through
 * this class, so what the tests start is what production runs.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Express } from 'express';
import type { EnvSettings, LoadedConfig } from './config/load.js';
import { CallPipeline } from './front/call-pipeline.js';
import { HttpFront } from './front/http-front.js';
import { InflightRequests } from './front/inflight-requests.js';
import { createSessionServer } from './front/session-server.js';
import { createApp } from './http/app.js';
import { healthRouter, readiness } from './http/health.js';
import { createAuthenticator, demoTokenSha256, type Agent, type Authenticator } from './identity/tokens.js';
import type { Logger } from './log.js';
import { createRedis, pingRedis, waitForRedis, type Redis } from './state/redis.js';
import { UpstreamPool } from './upstream/upstream-pool.js';

export interface GatewayOptions {
  config: LoadedConfig;
  env: EnvSettings;
  log: Logger;
}

export class Gateway {
  readonly config: LoadedConfig;
  readonly log: Logger;
  readonly authenticator: Authenticator;
  readonly redis: Redis;
  readonly pool: UpstreamPool;
  readonly pipeline: CallPipeline;
  readonly inflight = new InflightRequests();
  readonly httpFront: HttpFront;
  readonly app: Express;
  private httpServer: HttpServer | undefined;
  private shuttingDown = false;

  constructor(options: GatewayOptions) {
    const { config, log } = options;
    this.config = config;
    this.log = log;
    this.authenticator = createAuthenticator(config.agents);
    this.redis = createRedis(config.redis.url, { name: 'airlock:calls', mode: 'fail-fast', log });
    this.pool = new UpstreamPool(config.mcpServers, log);
    this.pipeline = new CallPipeline({ pool: this.pool, log });
    this.httpFront = new HttpFront({
      authenticator: this.authenticator,
      inflight: this.inflight,
      createServer: (agent, sessionId) => this.createSessionServer(agent, sessionId),
      log,
      bodyLimit: config.http.bodyLimit,
      sessionIdleTimeoutMs: config.http.sessionIdleTimeout,
    });
    this.pool.on('toolsChanged', () => this.httpFront.notifyToolsChanged());
    const health = {
      redisReady: () => pingRedis(this.redis),
      upstreams: () => this.pool.status(),
      isShuttingDown: () => this.shuttingDown,
    };
    this.app = createApp({ mounted: [{ path: '/mcp', router: this.httpFront.router() }], root: [healthRouter(health)] });
    this.readiness = () => readiness(health);
  }

  readonly readiness: () => ReturnType<typeof readiness>;

  private createSessionServer(agent: Agent, sessionId: string) {
    return createSessionServer({ pipeline: this.pipeline, pool: this.pool, inflight: this.inflight, agent, fallbackSessionId: sessionId });
  }

  /** Connects Redis and the upstreams. Neither being down stops the start: readiness reports it. */
  async start(): Promise<void> {
    for (const [name, spec] of Object.entries(this.config.agents)) {
      if (spec.tokenSha256 === demoTokenSha256) this.log.warn({ agent: name }, 'agent accepts the public demo token: delete it before you deploy');
    }
    const redisUp = await waitForRedis(this.redis, 3_000);
    if (!redisUp) this.log.warn({ url: redactUrl(this.config.redis.url) }, 'redis not reachable yet; limited and held calls are refused until it is');
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
    this.pool.on('toolsChanged', () => void server.sendToolListChanged().catch(() => undefined));
    await server.connect(transport);
    await new Promise<void>((resolve) => {
      transport.onclose = () => resolve();
      process.stdin.once('end', () => resolve());
    });
  }

  /** Graceful shutdown: stop accepting, let calls in flight finish up to the grace period, then close. */
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
    this.redis.disconnect();
    this.log.info('airlock stopped');
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
