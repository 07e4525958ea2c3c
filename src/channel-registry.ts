/**
 * Every approval channel the gateway can run. Adding one: its own folder (a `ChannelFactory`,
 * see channel-plugin.ts, and its doctor checks), and a line here for each. The gateway starts those that are configured.
 */
import type { ChannelDoctor, ChannelFactory } from './channel-plugin.js';
import { checkSlack } from './slack/slack-doctor.js';
import { slackChannelFactory } from './slack/slack-plugin.js';
import { webhookChannelFactory } from './webhook/webhook-plugin.js';

export const channelFactories: readonly ChannelFactory[] = [slackChannelFactory, webhookChannelFactory];

/** Each channel's checks for `airlock doctor`. */
export const channelDoctors: readonly ChannelDoctor[] = [checkSlack];
