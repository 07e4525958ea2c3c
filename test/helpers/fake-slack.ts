/**
 * The one fake in the Slack tests: a local HTTP server standing in for the Slack Web API (the
 * WebClient is pointed at it with SLACK_API_URL), recording every call and answering like Slack —
 * including 429 with Retry-After and `{ok:false}` refusals on demand. Also signs interaction
 * payloads with the signing secret and builds them exactly as Slack posts them (form-encoded
 * `payload=<json>`), so tests drive /slack/events the way Slack does.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import supertest from 'supertest';
import type { ApprovalService } from '../../src/approvals/approval-service.js';
import { createApp } from '../../src/http/app.js';
import { createLogger } from '../../src/log.js';
import { createSlackChannel, type SlackChannel } from '../../src/slack/slack-channel.js';

export interface SlackCall {
  method: string;
  /** Form fields or JSON body; JSON-looking form values (blocks, view …) are parsed. */
  args: Record<string, unknown>;
  /** Whether the fake answered `{ok: true}`. */
  ok: boolean;
  status: number;
  at: number;
}

type Fault = { kind: 'rate_limited'; retryAfterSec: number } | { kind: 'error'; error: string };

export interface FakeSlack {
  /** Base URL for the WebClient, ending with `/api/`. */
  url: string;
  /** Every call of `method` (all when omitted), answered ok or not, in arrival order. */
  calls(method?: string): SlackCall[];
  /** Only the calls answered `{ok: true}`. */
  delivered(method: string): SlackCall[];
  /** Resolves once `count` calls of `method` were answered ok; rejects after `timeoutMs`. */
  waitFor(method: string, count: number, timeoutMs?: number): Promise<SlackCall[]>;
  /** Answers the next `count` calls of `method` with HTTP 429 + Retry-After. */
  rateLimitNext(method: string, count: number, retryAfterSec?: number): void;
  /** Answers the next `count` calls of `method` with `{ok: false, error}`. */
  failNext(method: string, count: number, error: string): void;
  /** Members of user groups for `usergroups.users.list`. */
  setGroup(groupId: string, members: string[]): void;
  close(): Promise<void>;
}

export async function startFakeSlack(options: { socketModeUrl?: string } = {}): Promise<FakeSlack> {
  const recorded: SlackCall[] = [];
  const faults = new Map<string, Fault[]>();
  const groups = new Map<string, string[]>();
  const waiters = new Set<() => void>();
  let tsCounter = 0;
  const nextTs = () => `${1_700_000_000 + ++tsCounter}.000100`;

  const answer = (method: string, args: Record<string, unknown>): Record<string, unknown> => {
    switch (method) {
      case 'auth.test':
        return { ok: true, user_id: 'U0AIRLOCKBOT', bot_id: 'B0AIRLOCK', team_id: 'T0TEAM', user: 'airlock' };
      case 'apps.connections.open':
        // Socket Mode: where the fake Socket Mode endpoint (fake-socket-mode.ts) listens.
        return options.socketModeUrl ? { ok: true, url: options.socketModeUrl } : { ok: false, error: 'not_allowed_token_type' };
      case 'chat.postMessage':
        return { ok: true, channel: args['channel'], ts: nextTs(), message: { text: args['text'] } };
      case 'chat.update':
        return { ok: true, channel: args['channel'], ts: args['ts'], text: args['text'] };
      case 'chat.postEphemeral':
        return { ok: true, message_ts: nextTs() };
      case 'views.open':
      case 'views.publish':
        return { ok: true, view: { id: `V${tsCounter}`, ...(typeof args['view'] === 'object' ? args['view'] : {}) } };
      case 'conversations.info':
        // The bot is a member of every channel here; failNext() gives channel_not_found and the like.
        return { ok: true, channel: { id: args['channel'], name: 'approvals', is_channel: true, is_private: false, is_member: true } };
      case 'usergroups.users.list': {
        const members = groups.get(String(args['usergroup']));
        return members ? { ok: true, users: members } : { ok: false, error: 'no_such_subteam' };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0] ?? '';
    const args = parseBody(await readBody(req), req.headers['content-type']);
    const fault = faults.get(method)?.shift();
    let status = 200;
    let body: Record<string, unknown>;
    if (fault?.kind === 'rate_limited') {
      status = 429;
      res.setHeader('Retry-After', String(fault.retryAfterSec));
      body = { ok: false, error: 'ratelimited' };
    } else if (fault?.kind === 'error') {
      body = { ok: false, error: fault.error };
    } else {
      body = answer(method, args);
    }
    recorded.push({ method, args, ok: body['ok'] === true, status, at: Date.now() });
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    for (const wake of waiters) wake();
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo; // listening on TCP, so address() is an AddressInfo

  const calls = (method?: string) => recorded.filter((c) => method === undefined || c.method === method);
  const delivered = (method: string) => calls(method).filter((c) => c.ok);
  const queueFault = (method: string, count: number, fault: Fault) => {
    const list = faults.get(method) ?? [];
    for (let i = 0; i < count; i += 1) list.push(fault);
    faults.set(method, list);
  };

  return {
    url: `http://127.0.0.1:${port}/api/`,
    calls,
    delivered,
    waitFor(method, count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const done = delivered(method);
          if (done.length < count) return;
          cleanup();
          resolve(done);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `fake Slack: expected ${count} ok ${method} within ${timeoutMs} ms, saw ${delivered(method).length}; calls: ${recorded.map((c) => c.method).join(', ')}`,
            ),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    rateLimitNext: (method, count, retryAfterSec = 1) => queueFault(method, count, { kind: 'rate_limited', retryAfterSec }),
    failNext: (method, count, error) => queueFault(method, count, { kind: 'error', error }),
    setGroup: (groupId, members) => void groups.set(groupId, members),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer); // an IncomingMessage yields Buffers
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(text: string, contentType: string | undefined): Record<string, unknown> {
  if (text === '') return {};
  if (contentType?.includes('application/json')) return JSON.parse(text) as Record<string, unknown>; // the WebClient sends JSON objects
  const out: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    out[key] = /^[[{]/.test(value) ? tryJson(value) : value;
  }
  return out;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown; // only widens JSON.parse's any
  } catch {
    return text;
  }
}

/** Headers Slack sends with an interaction: `v0=` + hex HMAC-SHA256 of `v0:{ts}:{body}`. */
export function signSlackRequest(body: string, secret: string, timestampSec = Math.floor(Date.now() / 1_000)): Record<string, string> {
  const signature = createHmac('sha256', secret).update(`v0:${timestampSec}:${body}`).digest('hex');
  return { 'x-slack-signature': `v0=${signature}`, 'x-slack-request-timestamp': String(timestampSec) };
}

/** The form body Slack posts for an interaction. */
export function interactionBody(payload: unknown): string {
  return `payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

export interface ClickOptions {
  action: 'airlock_approve' | 'airlock_deny' | 'airlock_rerun' | 'airlock_edit' | 'airlock_approve_grant' | 'airlock_revoke_grant';
  approvalId: string;
  user: string;
  channel?: string;
  messageTs?: string;
  triggerId?: string;
}

/** A `block_actions` payload for a click on Approve or Deny. */
export function blockActionsPayload(options: ClickOptions): Record<string, unknown> {
  const channel = options.channel ?? 'C0APPROVALS';
  const ts = options.messageTs ?? '1700000001.000100';
  return {
    type: 'block_actions',
    user: { id: options.user, username: options.user.toLowerCase(), name: options.user.toLowerCase(), team_id: 'T0TEAM' },
    api_app_id: 'A0AIRLOCK',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: ts, channel_id: channel, is_ephemeral: false },
    trigger_id: options.triggerId ?? `trigger-${Math.random().toString(36).slice(2)}`,
    team: { id: 'T0TEAM', domain: 'example' },
    channel: { id: channel, name: 'approvals' },
    message: { type: 'message', ts, text: 'Approval needed' },
    response_url: `https://hooks.slack.invalid/actions/T0TEAM/1/${ts}`,
    actions: [{ action_id: options.action, block_id: 'airlock_decision', value: options.approvalId, type: 'button', action_ts: `${Date.now() / 1_000}` }],
  };
}

/** A `view_submission` payload for the Deny modal. */
export function viewSubmissionPayload(options: { user: string; privateMetadata: string; reason: string | null; callbackId?: string }): Record<string, unknown> {
  return {
    type: 'view_submission',
    team: { id: 'T0TEAM', domain: 'example' },
    user: { id: options.user, username: options.user.toLowerCase(), name: options.user.toLowerCase(), team_id: 'T0TEAM' },
    api_app_id: 'A0AIRLOCK',
    token: 'legacy-verification-token',
    trigger_id: `trigger-${Math.random().toString(36).slice(2)}`,
    view: {
      id: 'V0MODAL',
      type: 'modal',
      callback_id: options.callbackId ?? 'airlock_deny_reason',
      private_metadata: options.privateMetadata,
      state: { values: { reason: { reason_input: { type: 'plain_text_input', value: options.reason } } } },
    },
  };
}

export interface SlackHarness {
  channel: SlackChannel;
  /** An express app with the Slack router mounted at /slack, as the gateway mounts it. */
  app: Express;
  secret: string;
  /** Posts an interaction to /slack/events signed as Slack would (or forged / stale / unsigned). */
  send(payload: unknown, options?: { timestampSec?: number; secret?: string; unsigned?: boolean }): Promise<supertest.Response>;
}

/** Builds the Slack channel on `approvals`, pointed at `fake`, and registers it with the core. */
export async function attachSlack(
  approvals: ApprovalService,
  fake: FakeSlack,
  options: { defaultChannel?: string | undefined; postIntervalMs?: number; directoryTtlMs?: number } = {},
): Promise<SlackHarness> {
  const secret = 'test-signing-secret';
  const channel = createSlackChannel({
    approvals,
    env: { slackBotToken: 'xoxb-test-token', slackSigningSecret: secret, slackAppToken: undefined, slackApiUrl: fake.url, adminToken: undefined },
    defaultChannel: 'defaultChannel' in options ? options.defaultChannel : 'C0APPROVALS',
    log: createLogger({ level: 'silent' }),
    postIntervalMs: options.postIntervalMs ?? 20,
    ...(options.directoryTtlMs === undefined ? {} : { directoryTtlMs: options.directoryTtlMs }),
  });
  if (!channel?.router) throw new Error('the Slack channel should be configured in HTTP mode');
  await approvals.addChannel(channel.notifier);
  approvals.setDirectory(channel.directory);
  const app = createApp({ root: [], mounted: [{ path: '/slack', router: channel.router }] });
  return {
    channel,
    app,
    secret,
    send(payload, sendOptions = {}) {
      const body = interactionBody(payload);
      const headers = sendOptions.unsigned ? {} : signSlackRequest(body, sendOptions.secret ?? secret, sendOptions.timestampSec);
      return supertest(app).post('/slack/events').set(headers).set('content-type', 'application/x-www-form-urlencoded').send(body);
    },
  };
}
