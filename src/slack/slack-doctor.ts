/**
 * The Slack part of `airlock doctor` (registered in channel-registry.ts): the bot token works (auth.test) and each approval channel
 * is reachable (conversations.info), through the same Web API client the gateway uses
 * (SLACK_API_URL honoured), with the fix for each problem.
 */
import type { LoadedConfig } from '../config/load.js';
import { readEnvSettings } from '../config/load.js';
import type { Logger } from '../log.js';
import type { DoctorFinding as Finding } from '../channel-plugin.js';
import type { WebClient } from './web-client.js';

/** Slack: the bot token works (auth.test) and the approval channels are reachable (conversations.info). */
export async function checkSlack(config: LoadedConfig, channels: string[], log: Logger): Promise<Finding[]> {
  const subject = 'slack';
  const { slackCredentials } = await import('./credentials.js');
  const env = readEnvSettings();
  let credentials;
  try {
    credentials = slackCredentials(env);
  } catch (error) {
    return [{ severity: 'fail', subject, message: (error as Error).message }];
  }
  if (credentials === undefined) {
    return [{ severity: 'info', subject, message: 'not configured (no SLACK_BOT_TOKEN): approvals go through the dashboard, the REST API and the CLI' }];
  }
  const { createSlackClient } = await import('./web-client.js');
  const client = createSlackClient({ token: credentials.botToken, apiUrl: env.slackApiUrl, log, timeoutMs: 5_000 });
  let bot: string;
  try {
    const auth = await client.auth.test();
    bot = `${auth.user ?? 'the bot'}${auth.team ? ` in ${auth.team}` : ''}`;
  } catch (error) {
    const code = slackError(error);
    return [
      {
        severity: 'fail',
        subject,
        message: `Slack refused SLACK_BOT_TOKEN (auth.test: ${code})`,
        fix:
          code === 'invalid_auth' || code === 'not_authed' || code === 'token_revoked' || code === 'account_inactive'
            ? 'set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…) from the Slack app\'s "OAuth & Permissions" page (reinstall the app if it was revoked)'
            : `check that ${env.slackApiUrl ?? 'https://slack.com/api/'} is reachable from here`,
      },
    ];
  }
  const findings: Finding[] = [
    {
      severity: 'ok',
      subject,
      message: `the bot token works (${bot}), ${credentials.mode === 'http' ? 'HTTP mode: Slack must reach POST /slack/events' : 'Socket Mode'}`,
    },
  ];
  const wanted = [...new Set([config.slack.defaultChannel, ...channels].filter((c): c is string => c !== undefined))];
  if (wanted.length === 0) {
    findings.push({
      severity: 'fail',
      subject,
      message: 'no approval channel: neither slack.defaultChannel nor any policy approval.channel is set, so held calls cannot be posted',
      fix: 'set "slack": {"defaultChannel": "C…"} in the config (or SLACK_APPROVALS_CHANNEL with the shipped config)',
    });
  }
  for (const channel of wanted) findings.push(await checkChannel(client, channel));
  return findings;
}

async function checkChannel(client: WebClient, channel: string): Promise<Finding> {
  const subject = `slack ${channel}`;
  if (!/^[CGD][A-Z0-9]{2,}$/.test(channel)) {
    return {
      severity: 'info',
      subject,
      message: 'named by name: its access can only be checked by ID',
      fix: 'use the channel ID (C…, in the channel details) so doctor can check it',
    };
  }
  try {
    const info = await client.conversations.info({ channel });
    const member = info.channel?.is_member;
    if (member === false) {
      return {
        severity: 'warn',
        subject,
        message: 'the bot is not a member: posting works only with the chat:write.public scope (public channels)',
        fix: "invite it: /invite @airlock (your bot's name) in the channel",
      };
    }
    return { severity: 'ok', subject, message: 'reachable, the bot is a member' };
  } catch (error) {
    const code = slackError(error);
    if (code === 'missing_scope') return { severity: 'info', subject, message: 'cannot check access without the channels:read scope' };
    return {
      severity: 'fail',
      subject,
      message: `not reachable (conversations.info: ${code})`,
      fix:
        code === 'channel_not_found'
          ? 'check the channel ID; for a private channel, invite the bot (/invite @airlock)'
          : "check the channel ID and the bot's scopes",
    };
  }
}

function slackError(error: unknown): string {
  const data = (error as { data?: { error?: unknown } } | null)?.data;
  if (typeof data?.error === 'string') return data.error;
  return error instanceof Error ? error.message : String(error);
}
