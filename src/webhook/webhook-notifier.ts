/**
 * One webhook endpoint as an ApprovalNotifier: each approval event is POSTed as signed JSON
 * (signature.ts) to the endpoint's URL. It has a notification queue of its own (named
 * `webhook-<endpoint>`; an endpoint limited to some `channels` also hears of calls escalated to
 * one of them), so a receiver that is down delays only its own deliveries: a failed
 * attempt (network error, timeout, 5xx, 408, 429) is retried with exponential backoff by that
 * queue, a 429 or 503 with `Retry-After` waits that long, and an answer no retry can fix (another
 * 4xx) is given up at once, logged and counted. Each attempt is signed with a fresh timestamp.
 */
import { UnrecoverableError } from 'bullmq';
import { RetryLaterError } from '../approvals/notification-queue.js';
import type { ApprovalEventKind, ApprovalNotifier, ApprovalRecord } from '../approvals/types.js';
import type { Logger } from '../log.js';
import { deliveryHeader, eventHeader, signedHeaders } from './signature.js';
import { webhookPayload } from './webhook-payload.js';

export interface WebhookEndpoint {
  name: string;
  url: string;
  secret: string;
  /** Only approvals whose policy `approval.channel` is listed; undefined: all. */
  channels: readonly string[] | undefined;
  timeoutMs: number;
}

export interface WebhookNotifierOptions {
  endpoint: WebhookEndpoint;
  publicUrl: string | undefined;
  log: Logger;
  now?: () => number;
}

/** The notifier's (and its queue's) name for an endpoint. */
export function notifierName(endpoint: string): string {
  return `webhook-${endpoint}`;
}

export function createWebhookNotifier(options: WebhookNotifierOptions): ApprovalNotifier {
  const { endpoint, log } = options;
  const now = options.now ?? Date.now;
  return {
    name: notifierName(endpoint.name),
    async notify(kind, record) {
      const reach = reachOf(endpoint, kind, record);
      if (reach === 'none') return;
      const nowMs = now();
      const payload = webhookPayload(kind, record, { endpoint: endpoint.name, publicUrl: options.publicUrl, nowMs, firstSight: reach === 'first' });
      const body = JSON.stringify(payload);
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'Airlock-Webhook/1',
        [deliveryHeader]: payload.deliveryId,
        [eventHeader]: kind,
        ...signedHeaders(endpoint.secret, Math.floor(nowMs / 1_000), body),
      };
      let response: Response;
      try {
        response = await fetch(endpoint.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(endpoint.timeoutMs) });
      } catch (error) {
        const why = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${endpoint.timeoutMs} ms` : messageOf(error);
        log.warn({ endpoint: endpoint.name, approval: record.id, kind, err: why }, 'webhook delivery attempt failed; retrying with backoff');
        throw new Error(`webhook ${endpoint.name}: ${why}`);
      }
      await response.body?.cancel().catch(() => undefined);
      if (response.ok) {
        log.debug({ endpoint: endpoint.name, approval: record.id, kind, status: response.status }, 'webhook delivered');
        return;
      }
      throw failure(endpoint.name, response);
    },
  };
}

/**
 * Whether this endpoint hears of this event: every event, without `channels`; with them, events
 * on approvals whose policy channel is listed, or — from the escalation step that posted it to a
 * listed channel on — those too; that step's event is the endpoint's first sight of the call.
 */
function reachOf(endpoint: WebhookEndpoint, kind: ApprovalEventKind, record: ApprovalRecord): 'all' | 'first' | 'none' {
  const listed = endpoint.channels;
  if (!listed || listed.includes(record.settings.channel ?? '')) return 'all';
  const reachedAt = record.escalated.find((index) => listed.includes(record.settings.escalate?.[index]?.channel ?? ''));
  if (reachedAt === undefined) return 'none';
  return kind === 'escalated' && record.escalated.at(-1) === reachedAt ? 'first' : 'all';
}

/** What a non-2xx answer means for the delivery: wait as told, retry with backoff, or give up. */
function failure(name: string, response: Response): Error {
  const status = response.status;
  const message = `webhook ${name} answered HTTP ${status}`;
  const retryAfterSec = Number(response.headers.get('retry-after'));
  if ((status === 429 || status === 503) && Number.isFinite(retryAfterSec) && retryAfterSec > 0) {
    return new RetryLaterError(`${message}; retrying in ${retryAfterSec}s as it asked`, Math.min(retryAfterSec, 3_600) * 1_000);
  }
  if (status >= 500 || status === 408 || status === 425 || status === 429) return new Error(`${message}; retrying with backoff`);
  // 3xx (redirects are not followed: a signed request goes only where it was configured to) and other 4xx.
  return new UnrecoverableError(`${message}, which retrying cannot fix: check the receiver and webhooks.endpoints.${name} in the config`);
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
  return String(error);
}
