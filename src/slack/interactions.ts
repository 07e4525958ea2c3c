/**
 * What happens when an approver clicks in Slack. Bolt has already verified the request's signature
 * and timestamp; each handler acknowledges at once (Slack wants an answer within 3 s), then parses
 * the payload and decides through the approvals core's `decide()` — the same function the API,
 * CLI and dashboard use, so the first valid decision wins however many replicas or channels race.
 * Every refusal is told to the clicking user alone (ephemeral); the shared message is re-rendered
 * by the notifier through the notification queue.
 */
import type { App } from '@slack/bolt';
import type { ApprovalChannels } from '../approvals/ports.js';
import { toApprovalView } from '../approvals/approval-view.js';
import type { Actor, ApproverDirectory } from '../approvals/types.js';
import type { Logger } from '../log.js';
import { denyModal, slackIds } from './blocks.js';
import { editModal, parseEditSubmission } from './edit-modal.js';
import { cut } from './mrkdwn.js';
import { parseDecisionClick, parseDenySubmission, type DecisionClick } from './payloads.js';
import { alreadyDecidedReply, decisionReply, failureReply, notAuthorizedReply, notFoundReply } from './replies.js';
import { slackCall, type WebClient } from './web-client.js';

export interface InteractionDeps {
  approvals: Pick<ApprovalChannels, 'decide' | 'decideEdited' | 'get' | 'check'>;
  directory: ApproverDirectory;
  client: WebClient;
  log: Logger;
}

/** Registers the Approve / Deny / Deny-reason handlers on a Bolt app. */
export function registerInteractions(app: App, deps: InteractionDeps): void {
  const { approvals, client, log } = deps;

  const tell = async (channel: string | undefined, user: string, text: string): Promise<void> => {
    if (!channel) {
      log.warn({ user }, 'cannot tell a Slack user why their click did nothing: the payload names no channel');
      return;
    }
    try {
      await slackCall('chat.postEphemeral', () => client.chat.postEphemeral({ channel, user, text }));
    } catch (error) {
      log.warn({ user, channel, err: messageOf(error) }, 'could not post an ephemeral reply in Slack');
    }
  };

  const actorOf = (user: DecisionClick['user']): Actor =>
    user.name === undefined ? { kind: 'slack', id: user.id } : { kind: 'slack', id: user.id, name: user.name };

  app.action({ type: 'block_actions', action_id: slackIds.approve }, async ({ ack, body }) => {
    await ack();
    const click = parseDecisionClick(body);
    if (!click) return log.warn('ignored a Slack Approve click whose payload did not parse');
    try {
      const result = await approvals.decide(click.approvalId, actorOf(click.user), 'approve', undefined);
      log.info({ approval: click.approvalId, user: click.user.id, result: result.kind }, 'Slack approve click');
      const text = decisionReply(result, click.approvalId, 'approve');
      if (text) await tell(click.channel, click.user.id, text);
    } catch (error) {
      log.error({ approval: click.approvalId, user: click.user.id, err: messageOf(error) }, 'could not record a Slack approval');
      await tell(click.channel, click.user.id, failureReply(click.approvalId));
    }
  });

  // A re-run of a failed or outcome_unknown call: confirmed in Slack before the click is sent.
  app.action({ type: 'block_actions', action_id: slackIds.rerun }, async ({ ack, body }) => {
    await ack();
    const click = parseDecisionClick(body);
    if (!click) return log.warn('ignored a Slack re-run click whose payload did not parse');
    try {
      const result = await approvals.decide(click.approvalId, actorOf(click.user), 'rerun', undefined);
      log.info({ approval: click.approvalId, user: click.user.id, result: result.kind }, 'Slack re-run click');
      const text = decisionReply(result, click.approvalId, 'rerun');
      if (text) await tell(click.channel, click.user.id, text);
    } catch (error) {
      log.error({ approval: click.approvalId, user: click.user.id, err: messageOf(error) }, 'could not record a Slack re-run approval');
      await tell(click.channel, click.user.id, failureReply(click.approvalId));
    }
  });

  app.action({ type: 'block_actions', action_id: slackIds.deny }, async ({ ack, body }) => {
    await ack();
    const click = parseDecisionClick(body);
    if (!click) return log.warn('ignored a Slack Deny click whose payload did not parse');
    try {
      await openDenyModal(click);
    } catch (error) {
      log.error({ approval: click.approvalId, user: click.user.id, err: messageOf(error) }, 'could not open the Deny modal');
      await tell(click.channel, click.user.id, failureReply(click.approvalId));
    }
  });

  /** Only a user who may deny a still-pending call gets the modal; everyone else is told why not. */
  const openDenyModal = async (click: DecisionClick): Promise<void> => {
    const check = await approvals.check(click.approvalId, actorOf(click.user), 'deny');
    if (check.kind === 'not_found') return tell(click.channel, click.user.id, notFoundReply(click.approvalId));
    if (check.kind === 'already_decided') return tell(click.channel, click.user.id, alreadyDecidedReply(check.record));
    if (check.kind === 'not_authorized') {
      log.warn({ approval: check.record.id, user: click.user.id, why: check.why }, 'Slack Deny click by someone who may not decide');
      return tell(click.channel, click.user.id, notAuthorizedReply(check.record, check.why, 'deny'));
    }
    const record = check.record;
    const view = denyModal(toApprovalView(record), { id: record.id, channel: click.channel, ts: click.ts });
    await slackCall('views.open', () => client.views.open({ trigger_id: click.triggerId, view }));
  };

  // Edit, then approve: the modal opens only for someone who may approve the still-pending call.
  app.action({ type: 'block_actions', action_id: slackIds.edit }, async ({ ack, body }) => {
    await ack();
    const click = parseDecisionClick(body, slackIds.edit);
    if (!click) return log.warn('ignored a Slack Edit click whose payload did not parse');
    try {
      const check = await approvals.check(click.approvalId, actorOf(click.user), 'approve');
      if (check.kind === 'not_found') return tell(click.channel, click.user.id, notFoundReply(click.approvalId));
      if (check.kind === 'already_decided') return tell(click.channel, click.user.id, alreadyDecidedReply(check.record));
      if (check.kind === 'not_authorized') return tell(click.channel, click.user.id, notAuthorizedReply(check.record, check.why, 'approve'));
      if (check.kind !== 'allowed') return;
      const view = editModal(toApprovalView(check.record), { channel: click.channel, ts: click.ts });
      if (!view)
        return tell(
          click.channel,
          click.user.id,
          `The editable values of \`${click.approvalId}\` are too large to edit in Slack; use the dashboard or the API.`,
        );
      await slackCall('views.open', () => client.views.open({ trigger_id: click.triggerId, view }));
    } catch (error) {
      log.error({ approval: click.approvalId, user: click.user.id, err: messageOf(error) }, 'could not open the Edit modal');
      await tell(click.channel, click.user.id, failureReply(click.approvalId));
    }
  });

  // The edited values are checked before the modal closes, so a refusal shows in the modal itself.
  app.view({ type: 'view_submission', callback_id: slackIds.editModal }, async ({ ack, body }) => {
    const submission = parseEditSubmission(body);
    if (!submission) {
      await ack();
      return log.warn('ignored an Edit modal submission whose payload did not parse');
    }
    if (!submission.ok) return ack({ response_action: 'errors', errors: submission.errors });
    const { approvalId, user, channel } = submission;
    try {
      const result = await approvals.decideEdited(approvalId, actorOf(user), submission.edits, undefined);
      log.info({ approval: approvalId, user: user.id, result: result.kind }, 'Slack edit and approve');
      if (result.kind === 'edit_refused') {
        return ack({ response_action: 'errors', errors: { [submission.firstBlock]: cut(`Not approved: ${result.why}.`, 2_000) } });
      }
      await ack();
      const text = decisionReply(result, approvalId, 'approve');
      if (text) await tell(channel, user.id, text);
    } catch (error) {
      await ack();
      log.error({ approval: approvalId, user: user.id, err: messageOf(error) }, 'could not record a Slack edit and approve');
      await tell(channel, user.id, failureReply(approvalId));
    }
  });

  app.view({ type: 'view_submission', callback_id: slackIds.denyModal }, async ({ ack, body }) => {
    const submission = parseDenySubmission(body);
    if (!submission) {
      await ack();
      return log.warn('ignored a Deny modal submission whose payload did not parse');
    }
    if (submission.reason.trim() === '') {
      await ack({ response_action: 'errors', errors: { [slackIds.reasonBlock]: 'Say why: the agent reads this reason.' } });
      return;
    }
    await ack();
    const { approvalId, user, channel } = submission;
    try {
      const result = await approvals.decide(approvalId, actorOf(user), 'deny', submission.reason);
      log.info({ approval: approvalId, user: user.id, result: result.kind }, 'Slack deny submission');
      const text = decisionReply(result, approvalId, 'deny');
      if (text) await tell(channel, user.id, text);
    } catch (error) {
      log.error({ approval: approvalId, user: user.id, err: messageOf(error) }, 'could not record a Slack denial');
      await tell(channel, user.id, failureReply(approvalId));
    }
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
