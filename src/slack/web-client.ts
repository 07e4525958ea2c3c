/**
 * The Slack Web API client Airlock uses, and how its errors become delivery outcomes. The client
 * itself never retries (retries are the notification queue's job, which survives restarts):
 * a 429 becomes RetryLaterError with Slack's Retry-After, a refusal that retrying cannot fix
 * (bad token, unknown channel …) becomes non-retryable, anything else is retried with backoff.
 */
import { webApi } from '@slack/bolt';
import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import { RetryLaterError } from '../approvals/notification-queue.js';
import type { Logger } from '../log.js';
import { boltLogger } from './bolt-logger.js';

export type WebClient = webApi.WebClient;

export interface SlackClientOptions {
  token: string;
  /** SLACK_API_URL; real Slack when undefined. */
  apiUrl: string | undefined;
  log: Logger;
  /** Per-request timeout; a hung Slack must not hold the delivery worker. */
  timeoutMs?: number;
}

export const defaultSlackApiUrl = 'https://slack.com/api/';

/** The WebClient joins method names onto the URL, so it must end with "/". */
export function normaliseApiUrl(url: string | undefined): string {
  if (url === undefined || url.trim() === '') return defaultSlackApiUrl;
  const trimmed = url.trim();
  return trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

/** The options Airlock gives every WebClient (ours and Bolt's). */
export function webClientOptions(options: Omit<SlackClientOptions, 'token'>): webApi.WebClientOptions {
  return {
    slackApiUrl: normaliseApiUrl(options.apiUrl),
    // No client-side retries: the default retries for ~30 minutes inside one queue job.
    retryConfig: { retries: 0 },
    // Without this the client sleeps Retry-After itself and then throws a plain Error.
    rejectRateLimitedCalls: true,
    timeout: options.timeoutMs ?? 10_000,
    logger: boltLogger(options.log),
  };
}

export function createSlackClient(options: SlackClientOptions): WebClient {
  return new webApi.WebClient(options.token, webClientOptions(options));
}

const RateLimited = z.object({ code: z.literal(webApi.ErrorCode.RateLimitedError), retryAfter: z.number() });
const PlatformRefusal = z.object({ code: z.literal(webApi.ErrorCode.PlatformError), data: z.object({ error: z.string() }) });

/** Slack refusals that the same request will meet again, however often it is retried. */
const permanent: Record<string, string> = {
  invalid_auth: 'SLACK_BOT_TOKEN is not valid: copy the Bot User OAuth Token (xoxb-…) again',
  not_authed: 'SLACK_BOT_TOKEN is missing',
  account_inactive: 'the Slack app was uninstalled or its token revoked: reinstall it',
  token_revoked: 'the Slack token was revoked: reinstall the app',
  token_expired: 'the Slack token expired: reinstall the app',
  missing_scope: 'the Slack app lacks a scope: add chat:write and usergroups:read (see slack-app-manifest.yaml) and reinstall',
  no_permission: 'the Slack app may not do this: check its scopes',
  channel_not_found:
    'the channel does not exist or the bot cannot see it: check approval.channel / slack.defaultChannel (a channel ID such as C0123ABC) and invite the bot',
  is_archived: 'the channel is archived: point approval.channel / slack.defaultChannel elsewhere',
  msg_too_long: 'the message is too long',
  invalid_blocks: 'Slack refused the message layout',
  invalid_arguments: 'Slack refused the request arguments',
  message_not_found: 'the approval message was deleted in Slack',
  cant_update_message: 'the approval message can no longer be edited',
};

/** A Slack API failure as a delivery outcome: RetryLaterError, non-retryable, or retryable. */
export function toDeliveryError(method: string, error: unknown): Error {
  const limited = RateLimited.safeParse(error);
  if (limited.success) return new RetryLaterError(`Slack rate-limited ${method}; retrying in ${limited.data.retryAfter}s`, limited.data.retryAfter * 1_000);
  const refusal = PlatformRefusal.safeParse(error);
  if (refusal.success) {
    const code = refusal.data.data.error;
    const hint = permanent[code];
    if (hint) return new UnrecoverableError(`Slack refused ${method}: ${code} — ${hint}`);
    const extra = code === 'not_in_channel' ? ' — invite the bot to the channel (/invite @Airlock) or grant chat:write.public' : '';
    return new Error(`Slack refused ${method}: ${code}${extra}`);
  }
  return new Error(`Slack ${method} failed: ${error instanceof Error ? error.message : String(error)}`);
}

/** Runs one Web API call and turns its failure into a delivery outcome (see toDeliveryError). */
export async function slackCall<T>(method: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toDeliveryError(method, error);
  }
}

/** The `{channel, ts}` Slack answers chat.postMessage with. */
export const PostedMessageSchema = z.object({ channel: z.string().min(1), ts: z.string().min(1) });
