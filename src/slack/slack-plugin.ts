/**
 * Slack as an approval channel, registered in channel-registry.ts. Built from the environment
 * without loading Slack's libraries: Bolt and the Web API client (a large part of the gateway's
 * start-up time) load in `start()`, and only when Slack credentials are set. Until then,
 * `/slack/events` answers 503, which Slack retries.
 */
import express from 'express';
import type { ChannelFactory } from '../channel-plugin.js';
import { slackCredentials } from './credentials.js';
import type { SlackChannel } from './slack-channel.js';

export const slackChannelFactory: ChannelFactory = (context) => {
  const credentials = slackCredentials(context.env); // half-set credentials stop the start here, saying what to set
  if (!credentials) {
    context.log.info('Slack not configured: approvals via API/CLI/dashboard');
    return undefined;
  }
  const defaultChannel = context.config.slack.defaultChannel;
  let channel: SlackChannel | undefined;
  const router = express.Router().use((req, res, next) => {
    const loaded = channel?.router;
    if (loaded) return loaded(req, res, next);
    res.status(503).json({ error: { code: 'starting', message: 'Airlock is starting; retry in a few seconds.' } });
  });
  return {
    name: 'slack',
    ...(credentials.mode === 'http' ? { mount: { path: '/slack', router } } : {}),
    describe: (policyChannel) => {
      const target = policyChannel ?? defaultChannel;
      if (!target) return undefined;
      return `Slack ${target.startsWith('C') ? `channel ${target}` : target.startsWith('#') ? target : `#${target}`}`;
    },
    async start() {
      const { createSlackChannel } = await import('./slack-channel.js');
      channel ??= createSlackChannel({
        approvals: context.approvals,
        env: context.env,
        defaultChannel,
        log: context.log,
        postIntervalMs: context.config.slack.postInterval,
        ...(context.postingSlots ? { postingSlots: context.postingSlots } : {}),
        ...(context.now ? { now: context.now } : {}),
      });
      if (!channel) throw new Error('unreachable: Slack credentials were checked when the channel was built');
      await channel.start();
      return { notifiers: [channel.notifier], directory: channel.directory };
    },
    close: async () => {
      await channel?.close();
    },
  };
};
