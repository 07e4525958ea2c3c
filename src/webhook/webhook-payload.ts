/**
 * What a webhook receiver gets: one JSON document per approval event, carrying the approval's
 * current state (the display-safe view every channel shares: redacted arguments only) and, while
 * it is still pending, where to send a signed decision. Pure; the notifier signs and sends it.
 */
import { createHash } from 'node:crypto';
import { toApprovalView, type ApprovalView } from '../approvals/approval-view.js';
import type { ApprovalEventKind, ApprovalRecord } from '../approvals/types.js';

/** Where decisions are accepted, relative to the gateway's address. */
export const decisionPath = '/webhooks/decisions';

export interface WebhookPayload {
  /** `approval.requested` for a new held call (or one just escalated to this endpoint); `approval.updated` for every later event on it. */
  type: 'approval.requested' | 'approval.updated';
  /** Which event: requested, vote, decided, expired, withdrawn, executed, outcome_unknown, rerun_approved, reminded, escalated. */
  event: ApprovalEventKind;
  /** Stable across retries of the same delivery: receivers drop one they have seen. */
  deliveryId: string;
  sentAt: string;
  approval: ApprovalView;
  /** Present while the call waits for a decision: how to decide it (see the README, "Webhook approvals"). */
  decide?: { url: string | undefined; path: string; approvalId: string; verdicts: Array<'approve' | 'deny'> };
}

export interface PayloadOptions {
  /** The endpoint's name: part of the delivery id. */
  endpoint: string;
  /** `publicUrl` from the config, when set: the decision URL is absolute then. */
  publicUrl: string | undefined;
  nowMs: number;
  /** This event is the endpoint's first sight of the call (an escalation to its channel): sent as `approval.requested`. */
  firstSight?: boolean;
}

/** The payload for one event on one approval, as it is now. */
export function webhookPayload(kind: ApprovalEventKind, record: ApprovalRecord, options: PayloadOptions): WebhookPayload {
  const view = toApprovalView(record);
  const pending = record.status === 'pending';
  return {
    type: kind === 'requested' || options.firstSight === true ? 'approval.requested' : 'approval.updated',
    event: kind,
    deliveryId: deliveryId(options.endpoint, kind, record),
    sentAt: new Date(options.nowMs).toISOString(),
    approval: view,
    ...(pending
      ? {
          decide: {
            url: options.publicUrl === undefined ? undefined : `${options.publicUrl.replace(/\/+$/, '')}${decisionPath}`,
            path: decisionPath,
            approvalId: record.id,
            verdicts: ['approve', 'deny'],
          },
        }
      : {}),
  };
}

/** Derived from the endpoint, the event and the state it tells, so a retried delivery repeats its id. */
function deliveryId(endpoint: string, kind: ApprovalEventKind, record: ApprovalRecord): string {
  const state = [endpoint, record.id, kind, record.status, record.attempt, record.votes.length, record.reminded.length, record.escalated.length].join(':');
  return `dlv_${createHash('sha256').update(state).digest('hex').slice(0, 24)}`;
}
