/**
 * What the clicking user alone is told (ephemeral messages) after a click: every DecisionResult
 * the core can return has a sentence here. Pure functions; interactions.ts posts them. A decision
 * that took effect gets no ephemeral: the message itself is updated for everyone.
 */
import type { ApprovalRecord, DecisionResult, Verdict } from '../approvals/types.js';
import { approverMention, escapeMrkdwn, inlineCode, slackDate, who } from './mrkdwn.js';

/** The ephemeral text for a decision attempt, or undefined when the message update says it all. */
export function decisionReply(result: DecisionResult, id: string, verdict: Verdict): string | undefined {
  switch (result.kind) {
    case 'decided':
      return undefined;
    case 'vote_recorded':
      if (verdict === 'rerun')
        return `Your approval of a re-run of ${inlineCode(result.record.tool)} is recorded: *${result.approvals} of ${result.quorum}*. It waits for ${result.quorum - result.approvals} more approver${result.quorum - result.approvals === 1 ? '' : 's'}.`;
      return `Your approval of ${inlineCode(result.record.tool)} is recorded: *${result.approvals} of ${result.quorum}*. The call waits for ${result.quorum - result.approvals} more approver${result.quorum - result.approvals === 1 ? '' : 's'}.`;
    case 'duplicate_vote':
      return `You already approved this call; *${result.approvals} of ${result.quorum}* approvals so far. It needs another approver, not a second click.`;
    case 'already_decided':
      return alreadyDecidedReply(result.record);
    case 'not_rerunnable':
      return notRerunnableReply(result.record);
    case 'not_authorized':
      return notAuthorizedReply(result.record, result.why, verdict);
    case 'not_found':
      return notFoundReply(id);
  }
}

/** Told to whoever clicks a call that is no longer pending. */
export function alreadyDecidedReply(record: ApprovalRecord): string {
  const at = record.decidedAt === undefined ? '' : ` ${slackDate(record.decidedAt)}`;
  const by = record.decidedBy ? who(record.decidedBy) : 'someone';
  switch (record.status) {
    case 'approved':
      return `Nothing recorded: this call was already *approved* by ${by}${at}.`;
    case 'denied':
      return `Nothing recorded: this call was already *denied* by ${by}${at}${record.reason ? ` (“${escapeMrkdwn(record.reason.slice(0, 500))}”)` : ''}.`;
    case 'expired':
      return `Nothing recorded: this call *expired*${at} — nobody decided in time, so it was refused.`;
    case 'withdrawn':
      return `Nothing recorded: this call was *withdrawn*${at} — the agent cancelled it.`;
    case 'executing':
    case 'executed':
      return `Nothing recorded: this call was already *approved* by ${by}${at} and has run or is running.`;
    case 'failed':
    case 'outcome_unknown':
      return `Nothing recorded: this call was already *approved* by ${by}${at}, and its outcome is ${record.status === 'failed' ? '*failed*' : '*unknown*'}. To run it again, use *Approve re-run*.`;
    case 'pending':
      return 'Nothing recorded: the call changed while you clicked; try again.';
  }
}

/** Told to whoever asks a re-run of a call that did not fail and whose outcome is known. */
export function notRerunnableReply(record: ApprovalRecord): string {
  return `Nothing recorded: a re-run is only for a call that failed or whose outcome is unknown; this call is *${record.status.replace('_', ' ')}*.`;
}

/** Told to a user who may not decide this call (the core has audited the refusal). */
export function notAuthorizedReply(record: ApprovalRecord, why: string, verdict: Verdict): string {
  const approvers = record.settings.approvers.map(approverMention).join(', ');
  const sentence = why.charAt(0).toUpperCase() + why.slice(1);
  return `${escapeMrkdwn(sentence)}: your ${verdict === 'approve' ? 'approval' : 'denial'} was not recorded.${approvers ? ` Approvers for ${inlineCode(record.tool)}: ${approvers}.` : ''}`;
}

/** Told when the approval id from the button no longer exists. */
export function notFoundReply(id: string): string {
  return `Approval \`${escapeMrkdwn(id)}\` does not exist any more; nothing was recorded.`;
}

/** Told when recording the click failed (Redis down …); the approver can simply click again. */
export function failureReply(id: string): string {
  return `Airlock could not record your click right now; nothing changed. Try again in a moment, or use \`airlock approvals approve|deny ${escapeMrkdwn(id)}\`.`;
}
