/**
 * Slack as an approval channel: the one place that reads Slack credentials and assembles the
 * parts — the Web API client, the notifier the approvals core delivers events to, the user-group
 * directory it authorizes with, and the Bolt app that receives clicks (HTTP mode: an express
 * router for `/slack/events`; Socket Mode: an outbound WebSocket, no public URL). Nothing here
 * calls Slack while the gateway boots. Without credentials there is no Slack channel, and
 * approvals go through the API, the CLI and the dashboard.
 */
import { App, ExpressReceiver, type Authorize } from '@slack/bolt';
import express, { type Router } from 'express';
import type { ApprovalChannels } from '../approvals/ports.js';
import type { ApprovalNotifier, ApproverDirectory } from '../approvals/types.js';
import type { EnvSettings } from '../config/load.js';
import type { Logger } from '../log.js';
import { boltLogger } from './bolt-logger.js';
import { slackCredentials } from './credentials.js';
import { createSlackDirectory } from './directory.js';
import { registerGrantInteractions } from './grant-interactions.js';
import { registerHomeAndCommand } from './home-and-command.js';
import { registerInteractions } from './interactions.js';
import { refuseFutureTimestamps } from './request-freshness.js';
import { createSlackNotifier, type SlackHealth } from './notifier.js';
import type { PostingSlots } from '../state/posting-slots.js';
import { createPacer } from './pacing.js';
import { createSlackClient, webClientOptions } from './web-client.js';

export interface SlackChannelOptions {
  approvals: ApprovalChannels;
  env: EnvSettings;
  /** `slack.defaultChannel` from the config: used when a policy names no `approval.channel`. */
  defaultChannel: string | undefined;
  log: Logger;
  /** Display name of an upstream in messages (defaults to its config name). */
  upstreamLabel?: (upstream: string) => string | undefined;
  now?: () => number;
  /** Least time between two messages posted to one Slack channel (Slack allows ~1/s). */
  postIntervalMs?: number;
  /** Posting slots shared by every replica (Redis), so replicas together keep that pace. */
  postingSlots?: PostingSlots;
  /** How long user-group members are cached (default 60 s). */
  directoryTtlMs?: number;
  webClientOptions?: { timeoutMs?: number };
}

/** Delivery health plus how Slack is connected. */
export interface SlackChannelHealth extends SlackHealth {
  mode: 'http' | 'socket';
}

export interface SlackChannel {
  readonly mode: 'http' | 'socket';
  /** HTTP mode: mount at `/slack` (serves POST /slack/events) with no body parser before it. */
  readonly router: Router | undefined;
  /** Register with `approvals.addChannel()`. */
  readonly notifier: ApprovalNotifier;
  /** Register with `approvals.setDirectory()`. */
  readonly directory: ApproverDirectory;
  /** Socket Mode connects here; HTTP mode has nothing to start. */
  start(): Promise<void>;
  close(): Promise<void>;
  /** The latest delivery outcome and counters, for /readyz and metrics. */
  health(): SlackChannelHealth;
}

export { slackCredentials };

/** Slack as the gateway registers it (channel-registry.ts): undefined when Slack is not configured. */
/** Builds the Slack channel, or returns undefined (and says so) when Slack is not configured. */
export function createSlackChannel(options: SlackChannelOptions): SlackChannel | undefined {
  const credentials = slackCredentials(options.env);
  const log = options.log.child({ component: 'slack' });
  if (!credentials) {
    options.log.info('Slack not configured: approvals via API/CLI/dashboard');
    return undefined;
  }
  const clientSettings = {
    apiUrl: options.env.slackApiUrl,
    log,
    ...(options.webClientOptions?.timeoutMs ? { timeoutMs: options.webClientOptions.timeoutMs } : {}),
  };
  const client = createSlackClient({ token: credentials.botToken, ...clientSettings });
  const now = options.now ?? Date.now;
  const directory = createSlackDirectory({ client, log, now, ...(options.directoryTtlMs === undefined ? {} : { ttlMs: options.directoryTtlMs }) });
  const notifier = createSlackNotifier({
    approvals: options.approvals,
    client,
    pacer: createPacer({
      intervalMs: options.postIntervalMs ?? 1_000,
      ...(options.postingSlots ? { shared: options.postingSlots } : {}),
      onSharedError: (error) => log.warn({ err: (error as Error).message }, 'shared Slack pacing unavailable (Redis); posting at this replica’s own pace'),
    }),
    defaultChannel: options.defaultChannel,
    log,
    now,
    ...(options.upstreamLabel ? { upstreamLabel: options.upstreamLabel } : {}),
  });

  // A fixed bot token, with no auth.test: nothing may call Slack while the gateway boots.
  const authorize: Authorize<boolean> = async () => ({ botToken: credentials.botToken });
  const logger = boltLogger(log);
  const common = { authorize, logger, clientOptions: webClientOptions(clientSettings), ignoreSelf: false, convoStore: false as const };
  let app: App;
  let router: Router | undefined;
  if (credentials.mode === 'http') {
    const receiver = new ExpressReceiver({
      signingSecret: credentials.signingSecret,
      endpoints: '/events',
      processBeforeResponse: false,
      logger,
      router: express.Router(),
    });
    app = new App({ ...common, receiver });
    // Our check for future timestamps runs first (it reads a header only; Bolt keeps the raw body).
    router = express.Router();
    router.post('/events', refuseFutureTimestamps({ now, log }));
    router.use(receiver.router);
  } else {
    // The Socket Mode client has a Web API client of its own (for apps.connections.open): it must
    // use the same base URL and settings, or SLACK_API_URL would be ignored for the connection.
    app = new App({ ...common, socketMode: true, appToken: credentials.appToken, installerOptions: { clientOptions: webClientOptions(clientSettings) } });
  }
  app.error(async (error) => {
    log.error({ err: error.message, code: error.code }, 'Slack interaction failed');
  });
  registerInteractions(app, { approvals: options.approvals, directory, client, log });
  registerGrantInteractions(app, { approvals: options.approvals, client, log });
  registerHomeAndCommand(app, { approvals: options.approvals, client, log });
  log.info({ mode: credentials.mode, defaultChannel: options.defaultChannel }, 'Slack approvals enabled');

  let started = false;
  return {
    mode: credentials.mode,
    router,
    notifier,
    directory,
    async start() {
      if (credentials.mode !== 'socket' || started) return;
      await app.start();
      started = true;
    },
    async close() {
      if (!started) return;
      started = false;
      await app.stop();
    },
    health: () => ({ mode: credentials.mode, ...notifier.health() }),
  };
}
