/**
 * The thread replies for reminders and escalation steps of a still-pending call: a reminder
 * mentions whoever may decide now; an escalation says where the call was posted too and whom it
 * added. Pure functions; the notifier posts them.
 */
import type { ApprovalView } from '../approvals/approval-view.js';
import { anyApprover } from '../policy/types.js';
import type { SlackMessage } from './blocks.js';
import { approverMention, cut, escapeMrkdwn, inlineCode, listOf, slackDate, slackLimits } from './mrkdwn.js';

function mentions(approvers: readonly string[]): string {
  if (approvers.includes(anyApprover)) return 'anyone who can decide';
  return approvers.length === 0 ? 'the operators (API/CLI)' : listOf(approvers.map(approverMention));
}

function reply(text: string): SlackMessage {
  const cutText = cut(text, slackLimits.sectionText);
  return { text: cutText, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: cutText, verbatim: true } }] };
}

/** "Still waiting" with the approvers mentioned, and when the call expires. */
export function reminderReply(view: ApprovalView): SlackMessage {
  return reply(
    `⏰ Reminder: ${inlineCode(view.tool)} from ${escapeMrkdwn(view.agent)} still waits for a decision (${view.approvals} of ${view.quorum} approvals). ${mentions(view.approvers)}, please approve or deny — it is refused as expired ${slackDate(Date.parse(view.expiresAt))}.`,
  );
}

/** What escalation step `step` did. */
export function escalationReply(view: ApprovalView, step: { channel: string | undefined; approvers: string[] }): SlackMessage {
  const parts: string[] = [];
  if (step.channel) parts.push(`posted to ${step.channel.startsWith('C') ? `<#${step.channel}>` : escapeMrkdwn(step.channel)}`);
  if (step.approvers.length > 0) parts.push(`${listOf(step.approvers.map(approverMention))} may now decide too`);
  return reply(
    `🔺 Escalated: nobody has decided on ${inlineCode(view.tool)} yet, so it was ${parts.join(', and ')}. ${mentions(view.approvers)}: it is refused as expired ${slackDate(Date.parse(view.expiresAt))}.`,
  );
}
