/**
 * Which Slack credentials the environment holds, checked without loading Slack's libraries: the
 * gateway decides with this whether to load the Slack channel at all (Bolt is a large part of the
 * start-up time, and most quick starts have no Slack).
 */
import type { EnvSettings } from '../config/load.js';
import { AirlockError } from '../errors.js';

/** The credentials of one of the two modes. */
export type SlackCredentials = { botToken: string } & ({ mode: 'http'; signingSecret: string } | { mode: 'socket'; appToken: string });

/**
 * Reads the Slack settings from the environment. Returns undefined when none is set; throws
 * `config_invalid`, saying what to set, when they are set halfway.
 */
export function slackCredentials(env: EnvSettings): SlackCredentials | undefined {
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
