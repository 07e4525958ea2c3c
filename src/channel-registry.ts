/**
 * Every approval channel the gateway can run. Adding one: its own folder (a `ChannelFactory`,
 * see channel-plugin.ts), and one line here. The gateway starts those that are configured.
 */
import type { ChannelFactory } from './channel-plugin.js';
import { slackChannelFactory } from './slack/slack-plugin.js';

export const channelFactories: readonly ChannelFactory[] = [slackChannelFactory];
