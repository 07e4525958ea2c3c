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
import type { ChannelFactory } from '../channel-plugin.js';
import type { EnvSettings } from '../config/load.js';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { boltLogger } from './bolt-logger.js';
import { createSlackDirectory } from './directory.js';
import { registerInteractions } from './interactions.js';
import { createSlackNotifier, type SlackHealth } from './notifier.js';
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

type Credentials = { botToken: string } & ({ mode: 'http'; signingSecret: string } | { mode: 'socket'; appToken: string });

/**
 * Reads the Slack settings from the environment. Returns undefined when none is set; throws
 * `config_invalid`, saying what to set, when they are set halfway.
 */
export function slackCredentials(env: EnvSettings): Credentials | undefined {
  const { slackBotToken: botToken, slackSigningSecret: signingSecret, slackAppToken: appToken } = env;
  if (!botToken && !signingSecret && !appToken) return undefined;
  const fail = (message: string) => new AirlockError('config_invalid', message);
  if (!botToken)
    throw fail(
      'SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not: set the Bot User OAuth Token (xoxb-…) from the Slack app\'s "OAuth & Permissions" page, or unset them all to run without Slack.',
    );
  if (!botToken.startsWith('xoxb-')) throw fail('SLACK_BOT_TOKEN must be a bot token starting with "xoxb-" ("OAuth & Permissions" → Bot User OAuth Token).');
  if (appToken) {
    if (!appToken.startsWith('xapp-'))
      throw fail('SLACK_APP_TOKEN must be an app-level token starting with "xapp-" with the connections:write scope ("Basic Information" → App-Level Tokens).');
    return { botToken, mode: 'socket', appToken };
  }
  if (!signingSecret)
    throw fail(
      'SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP mode, "Basic Information" → Signing Secret) nor SLACK_APP_TOKEN (Socket Mode) is: set one of them.',
    );
  return { botToken, mode: 'http', signingSecret };
}

/** Slack as the gateway registers it (channel-registry.ts): undefined when Slack is not configured. */
export const slackChannelFactory: ChannelFactory = (context) => {
  const defaultChannel = context.config.slack.defaultChannel;
  const channel = createSlackChannel({
    approvals: context.approvals,
    env: context.env,
    defaultChannel,
    log: context.log,
    ...(context.now ? { now: context.now } : {}),
  });
  if (!channel) return undefined;
  return {
    name: channel.notifier.name,
    notifier: channel.notifier,
    directory: channel.directory,
    ...(channel.router ? { mount: { path: '/slack', router: channel.router } } : {}),
    describe: (policyChannel) => {
      const target = policyChannel ?? defaultChannel;
      if (!target) return undefined;
      return `Slack ${target.startsWith('C') ? `channel ${target}` : target.startsWith('#') ? target : `#${target}`}`;
    },
    start: () => channel.start(),
    close: () => channel.close(),
  };
};

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
    pacer: createPacer({ intervalMs: options.postIntervalMs ?? 1_000 }),
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
    router = receiver.router;
  } else {
    app = new App({ ...common, socketMode: true, appToken: credentials.appToken });
  }
  app.error(async (error) => {
    log.error({ err: error.message, code: error.code }, 'Slack interaction failed');
  });
  registerInteractions(app, { approvals: options.approvals, directory, client, log });
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
