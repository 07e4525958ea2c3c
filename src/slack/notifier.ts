/**
 * Slack's implementation of the ApprovalNotifier port. The notification queue's worker calls it
 * once per approval event (requested, vote, decided, expired, withdrawn, executed,
 * outcome_unknown, rerun_approved, reminded, escalated), with retries; it posts the approval message, stores where it
 * went (channel + ts) on the record, re-renders that message in place with `chat.update` on every
 * change, and replies in its thread with each execution's outcome (or that it is unknown), each
 * reminder (mentioning the approvers) and each escalation step (whose channel also gets the
 * message, kept up to date with the original). Each
 * step is idempotent: a retried or repeated event never posts a second message or a second reply
 * for the same attempt and state. Posting is paced per Slack channel.
 */
import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import type { ApprovalChannels } from '../approvals/ports.js';
import { toApprovalView } from '../approvals/approval-view.js';
import type { ApprovalEventKind, ApprovalNotifier, ApprovalRecord } from '../approvals/types.js';
import type { Logger } from '../log.js';
import { approvalMessage, outcomeKey, outcomeReply, type SlackMessage } from './blocks.js';
import { escalationReply, reminderReply } from './nudge-replies.js';
import type { Pacer } from './pacing.js';
import { PostedMessageSchema, slackCall, type WebClient } from './web-client.js';

/** Where the approval message lives in Slack, kept on the record as `channelRefs.slack`. */
export const SlackRefSchema = z.object({
  channel: z.string(),
  ts: z.string(),
  /** The latest outcome reply in the thread, and which attempt and state it told (`2:executed`). */
  outcomeTs: z.string().optional(),
  outcomeFor: z.string().optional(),
  /** Reminders replied in the thread (indexes into the policy's `remind`). */
  reminded: z.array(z.number()).optional(),
  /** Escalation steps announced in the thread. */
  escalated: z.array(z.number()).optional(),
  /** Copies of the approval message posted to escalation channels; updated with the original. */
  escalationPosts: z.array(z.object({ step: z.number(), channel: z.string(), ts: z.string() })).optional(),
  /** Direct messages to named approvers (policy `direct_message`); updated with the original. */
  directMessages: z.array(z.object({ user: z.string(), channel: z.string(), ts: z.string() })).optional(),
});
export type SlackRef = z.infer<typeof SlackRefSchema>;

/** The record's Slack message reference, if it was posted. */
export function slackRef(record: ApprovalRecord): SlackRef | undefined {
  const parsed = SlackRefSchema.safeParse(record.channelRefs['slack']);
  return parsed.success ? parsed.data : undefined;
}

/** Delivery counters for /readyz and metrics. */
export interface SlackHealth {
  /** False when the latest delivery attempt failed. */
  ok: boolean;
  delivered: number;
  failedAttempts: number;
  lastDeliveredAt: string | undefined;
  lastFailure: { at: string; message: string } | undefined;
}

export interface SlackNotifierOptions {
  approvals: Pick<ApprovalChannels, 'get' | 'setChannelRef'>;
  client: WebClient;
  pacer: Pacer;
  defaultChannel: string | undefined;
  log: Logger;
  upstreamLabel?: (upstream: string) => string | undefined;
  now?: () => number;
}

/** The Slack notifier plus its delivery health. */
export interface SlackNotifier extends ApprovalNotifier {
  health(): SlackHealth;
}

export function createSlackNotifier(options: SlackNotifierOptions): SlackNotifier {
  const { client, pacer, log } = options;
  const now = options.now ?? Date.now;
  const health: SlackHealth = { ok: true, delivered: 0, failedAttempts: 0, lastDeliveredAt: undefined, lastFailure: undefined };

  const render = (record: ApprovalRecord): SlackMessage => {
    const label = options.upstreamLabel?.(record.upstream);
    return approvalMessage(toApprovalView(record), label === undefined ? {} : { upstreamLabel: label });
  };

  const update = async (ref: SlackRef, record: ApprovalRecord): Promise<void> => {
    const message = render(record);
    await slackCall('chat.update', () => client.chat.update({ channel: ref.channel, ts: ref.ts, ...message }));
    for (const copy of [...(ref.escalationPosts ?? []), ...(ref.directMessages ?? [])]) {
      await slackCall('chat.update', () => client.chat.update({ channel: copy.channel, ts: copy.ts, ...message }));
    }
  };

  /** With `direct_message`: the message to each approver named by user ID (besides the channel post), once each, while the call is pending. */
  const directMessage = async (start: SlackRef, record: ApprovalRecord, users: readonly string[]): Promise<SlackRef> => {
    let ref = start;
    if (!record.settings.directMessage || record.status !== 'pending') return ref;
    for (const user of users) {
      if (!/^[UW][A-Z0-9]{2,}$/.test(user) || ref.directMessages?.some((dm) => dm.user === user)) continue;
      const response = await pacer.run(user, () =>
        slackCall('chat.postMessage', () => client.chat.postMessage({ channel: user, ...render(record), unfurl_links: false, unfurl_media: false })),
      );
      const posted = PostedMessageSchema.parse(response);
      ref = { ...ref, directMessages: [...(ref.directMessages ?? []), { user, channel: posted.channel, ts: posted.ts }] };
      await options.approvals.setChannelRef(record.id, 'slack', ref);
    }
    return ref;
  };

  const replyInThread = async (ref: SlackRef, message: SlackMessage): Promise<void> => {
    await pacer.run(ref.channel, () =>
      slackCall('chat.postMessage', () =>
        client.chat.postMessage({ channel: ref.channel, thread_ts: ref.ts, ...message, unfurl_links: false, unfurl_media: false }),
      ),
    );
  };

  /** A thread reply mentioning the approvers, once per reminder. */
  const remind = async (ref: SlackRef, record: ApprovalRecord): Promise<void> => {
    const index = record.reminded.at(-1);
    if (index === undefined || record.status !== 'pending' || ref.reminded?.includes(index)) return;
    await replyInThread(ref, reminderReply(toApprovalView(record)));
    await options.approvals.setChannelRef(record.id, 'slack', { ...ref, reminded: [...(ref.reminded ?? []), index] });
  };

  /** Each escalation step taken: the message posted to its channel too, and a thread reply saying what it did. */
  const escalate = async (start: SlackRef, record: ApprovalRecord): Promise<void> => {
    let ref = start;
    for (const index of record.escalated) {
      const step = record.settings.escalate?.[index];
      if (!step || ref.escalated?.includes(index)) continue;
      const target = step.channel;
      if (target && !ref.escalationPosts?.some((copy) => copy.step === index)) {
        const response = await pacer.run(target, () =>
          slackCall('chat.postMessage', () => client.chat.postMessage({ channel: target, ...render(record), unfurl_links: false, unfurl_media: false })),
        );
        const posted = PostedMessageSchema.parse(response);
        ref = { ...ref, escalationPosts: [...(ref.escalationPosts ?? []), { step: index, channel: posted.channel, ts: posted.ts }] };
        await options.approvals.setChannelRef(record.id, 'slack', ref);
        log.info({ approval: record.id, channel: posted.channel, step: index }, 'approval escalated to another Slack channel');
      }
      ref = await directMessage(ref, record, step.approvers);
      await replyInThread(ref, escalationReply(toApprovalView(record), { channel: step.channel, approvers: step.approvers }));
      ref = { ...ref, escalated: [...(ref.escalated ?? []), index] };
      await options.approvals.setChannelRef(record.id, 'slack', ref);
    }
  };

  const replyOutcome = async (ref: SlackRef, record: ApprovalRecord): Promise<void> => {
    const view = toApprovalView(record);
    const key = outcomeKey(view);
    // A reference written before `outcomeFor` existed told the first execution's outcome.
    if (key === undefined || key === (ref.outcomeFor ?? (ref.outcomeTs ? key : undefined))) return;
    const reply = outcomeReply(view);
    if (!reply) return;
    const response = await pacer.run(ref.channel, () =>
      slackCall('chat.postMessage', () =>
        client.chat.postMessage({ channel: ref.channel, thread_ts: ref.ts, ...reply, unfurl_links: false, unfurl_media: false }),
      ),
    );
    const posted = PostedMessageSchema.parse(response);
    await options.approvals.setChannelRef(record.id, 'slack', { ...ref, outcomeTs: posted.ts, outcomeFor: key });
  };

  const post = async (record: ApprovalRecord): Promise<SlackRef> => {
    const channel = record.settings.channel ?? options.defaultChannel;
    if (!channel) {
      const message = `no Slack channel for approval ${record.id}: set approval.channel in the policy or slack.defaultChannel in the config; decide it meanwhile with \`airlock approvals approve|deny ${record.id}\``;
      log.error({ approval: record.id, tool: record.tool }, message);
      throw new UnrecoverableError(message);
    }
    const response = await pacer.run(channel, () =>
      slackCall('chat.postMessage', () => client.chat.postMessage({ channel, ...render(record), unfurl_links: false, unfurl_media: false })),
    );
    const posted = PostedMessageSchema.parse(response);
    const ref: SlackRef = { channel: posted.channel, ts: posted.ts };
    await options.approvals.setChannelRef(record.id, 'slack', ref);
    log.info({ approval: record.id, channel: ref.channel, ts: ref.ts }, 'approval request posted to Slack');
    // Events that arrived before the message existed were skipped: catch up with them now.
    const fresh = await options.approvals.get(record.id);
    if (!fresh) return ref;
    if (fresh.status !== record.status || fresh.votes.length !== record.votes.length) await update(ref, fresh);
    await replyOutcome(ref, fresh);
    return slackRef(fresh) ?? ref;
  };

  const deliver = async (kind: ApprovalEventKind, record: ApprovalRecord): Promise<void> => {
    const ref = slackRef(record);
    if (kind === 'requested') {
      // A retried delivery finishes the direct messages a failed attempt left unsent.
      await directMessage(ref ?? (await post(record)), record, record.settings.approvers);
      return;
    }
    if (!ref) {
      // The request message is not posted yet (or never will be); its delivery catches up.
      log.debug({ approval: record.id, kind }, 'no Slack message to update yet');
      return;
    }
    if (kind === 'reminded') return remind(ref, record);
    await update(ref, record);
    if (kind === 'escalated') await escalate(ref, record);
    if (kind === 'executed' || kind === 'outcome_unknown') await replyOutcome(ref, record);
  };

  return {
    name: 'slack',
    async notify(kind, record) {
      try {
        await deliver(kind, record);
        health.ok = true;
        health.delivered += 1;
        health.lastDeliveredAt = new Date(now()).toISOString();
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        health.ok = false;
        health.failedAttempts += 1;
        health.lastFailure = { at: new Date(now()).toISOString(), message };
        log.warn({ approval: record.id, kind, err: message }, 'Slack delivery attempt failed');
        throw error;
      }
    },
    health: () => ({ ...health }),
  };
}
