/**
 * Standing grants in Slack, as pure Block Kit builders: the "Approve for 1 h" button beside
 * Approve and Deny (only when the policy allows grants for the call), and the thread reply that
 * announces a grant with its Revoke button (re-rendered once revoked). Values come from the
 * display-safe views; redacted values stay masked.
 */
import type { types } from '@slack/bolt';
import type { ApprovalView } from '../approvals/approval-view.js';
import { pinsText, type GrantView } from '../approvals/grant-view.js';
import { formatDurationMs } from '../util/duration.js';
import { cut, escapeMrkdwn, inlineCode, slackDate, slackLimits, who } from './mrkdwn.js';

/** Interaction ids of the grant buttons; grant-interactions.ts routes on them. */
export const grantIds = {
  approveGrant: 'airlock_approve_grant',
  revokeGrant: 'airlock_revoke_grant',
} as const;

/** The longest grant a Slack click gives: an hour, or less when the policy allows less. */
export const slackGrantMs = 3_600_000;

/** The grant length the button offers for this call. */
export function slackGrantDurationMs(view: ApprovalView): number | undefined {
  return view.grantOptions ? Math.min(slackGrantMs, view.grantOptions.maxDurationMs) : undefined;
}

/** The "Approve for 1 h" button, confirmed first; undefined when the policy allows no grant for this call. */
export function grantButton(view: ApprovalView): types.Button | undefined {
  const durationMs = slackGrantDurationMs(view);
  if (durationMs === undefined || view.grantOptions === undefined) return undefined;
  const span = formatDurationMs(durationMs);
  const pinned = pinsText(view.grantOptions);
  return {
    type: 'button',
    action_id: grantIds.approveGrant,
    text: { type: 'plain_text', text: `Approve for ${span}`, emoji: true },
    value: view.id.slice(0, slackLimits.buttonValue),
    confirm: {
      title: { type: 'plain_text', text: `Approve for ${span}?` },
      text: {
        type: 'mrkdwn',
        text: cut(
          `Airlock releases this call, and for ${span} runs *${escapeMrkdwn(view.agent)}*'s ${inlineCode(view.tool)} calls with ${escapeMrkdwn(pinned)} without asking. Rate limits still apply; anyone who may approve can revoke it.`,
          300,
        ),
      },
      confirm: { type: 'plain_text', text: `Approve for ${span}` },
      deny: { type: 'plain_text', text: 'Cancel' },
    },
  };
}

/** The thread reply announcing a grant, with Revoke while it is live. */
export function grantThreadMessage(view: GrantView, revokedBy?: { id: string; name?: string | undefined }): { text: string; blocks: types.KnownBlock[] } {
  const what = `${inlineCode(view.tool)} for *${escapeMrkdwn(view.agent)}* with ${escapeMrkdwn(pinsText(view))}`;
  const text = revokedBy
    ? `Grant ${inlineCode(view.id)} (${what}) was *revoked* by ${who({ kind: 'slack', ...revokedBy })}: these calls are held for approval again.`
    : `Standing grant ${inlineCode(view.id)}: ${what} run without a new approval until ${slackDate(Date.parse(view.expiresAt))}.`;
  const blocks: types.KnownBlock[] = [{ type: 'section', text: { type: 'mrkdwn', text: cut(text, slackLimits.sectionText) } }];
  if (!revokedBy) {
    blocks.push({
      type: 'actions',
      elements: [
        {
          type: 'button',
          action_id: grantIds.revokeGrant,
          text: { type: 'plain_text', text: 'Revoke', emoji: true },
          style: 'danger',
          value: view.id,
          confirm: {
            title: { type: 'plain_text', text: 'Revoke this grant?' },
            text: { type: 'mrkdwn', text: cut(`From the next call on, ${what} is held for approval again, on every replica.`, 300) },
            confirm: { type: 'plain_text', text: 'Revoke' },
            deny: { type: 'plain_text', text: 'Cancel' },
          },
        },
      ],
    });
  }
  return { text: cut(text, slackLimits.fallbackText), blocks };
}
