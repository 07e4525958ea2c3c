/**
 * Standing grants from Slack: "Approve for 1 h" approves the call with a grant (pinned to every
 * path the policy allows, for an hour or the policy's longest if shorter) through the approvals
 * core's `decide()`, then posts the grant in the message's thread with a Revoke button; Revoke
 * goes through `revokeGrant()` — the same functions the API, CLI and dashboard use — and the
 * thread reply is re-rendered to say who revoked it. Refusals go to the clicking user alone.
 */
import type { App } from '@slack/bolt';
import { toApprovalView } from '../approvals/approval-view.js';
import { toGrantView } from '../approvals/grant-view.js';
import type { ApprovalChannels } from '../approvals/ports.js';
import type { Actor } from '../approvals/types.js';
import { isAirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { grantIds, grantThreadMessage, slackGrantDurationMs } from './grant-blocks.js';
import { inlineCode } from './mrkdwn.js';
import { parseButtonClick, type ButtonClick } from './payloads.js';
import { decisionReply, failureReply, notFoundReply } from './replies.js';
import { slackCall, type WebClient } from './web-client.js';

export interface GrantInteractionDeps {
  approvals: Pick<ApprovalChannels, 'get' | 'decide' | 'revokeGrant'>;
  client: WebClient;
  log: Logger;
}

export function registerGrantInteractions(app: App, deps: GrantInteractionDeps): void {
  const { approvals, client, log } = deps;
  const actorOf = (user: ButtonClick['user']): Actor =>
    user.name === undefined ? { kind: 'slack', id: user.id } : { kind: 'slack', id: user.id, name: user.name };
  const tell = async (click: ButtonClick, text: string): Promise<void> => {
    if (!click.channel) return;
    try {
      await slackCall('chat.postEphemeral', () => client.chat.postEphemeral({ channel: click.channel ?? '', user: click.user.id, text }));
    } catch (error) {
      log.warn({ user: click.user.id, err: (error as Error).message }, 'could not post an ephemeral reply in Slack');
    }
  };

  app.action({ type: 'block_actions', action_id: grantIds.approveGrant }, async ({ ack, body }) => {
    await ack();
    const click = parseButtonClick(body, grantIds.approveGrant);
    if (!click) return log.warn('ignored a Slack "Approve for" click whose payload did not parse');
    const id = click.value;
    try {
      const record = await approvals.get(id);
      if (!record) return tell(click, notFoundReply(id));
      const durationMs = slackGrantDurationMs(toApprovalView(record));
      if (durationMs === undefined)
        return tell(click, `The policy no longer allows standing grants for ${inlineCode(record.tool)}; use Approve to approve this call once.`);
      const result = await approvals.decide(id, actorOf(click.user), 'approve', undefined, { grant: { durationMs } });
      log.info(
        { approval: id, user: click.user.id, result: result.kind, grant: result.kind === 'decided' ? result.grant?.id : undefined },
        'Slack approve-with-grant click',
      );
      const text = decisionReply(result, id, 'approve');
      if (text) await tell(click, text);
      if (result.kind === 'decided' && result.grant && click.channel && click.ts) {
        const message = grantThreadMessage(toGrantView(result.grant));
        await slackCall('chat.postMessage', () => client.chat.postMessage({ channel: click.channel ?? '', thread_ts: click.ts, ...message }));
      }
    } catch (error) {
      if (isAirlockError(error) && error.fault === 'client') return tell(click, `Nothing recorded: ${error.message}`);
      log.error({ approval: id, user: click.user.id, err: (error as Error).message }, 'could not record a Slack approval with a grant');
      await tell(click, failureReply(id));
    }
  });

  app.action({ type: 'block_actions', action_id: grantIds.revokeGrant }, async ({ ack, body }) => {
    await ack();
    const click = parseButtonClick(body, grantIds.revokeGrant);
    if (!click) return log.warn('ignored a Slack Revoke click whose payload did not parse');
    const id = click.value;
    try {
      const result = await approvals.revokeGrant(id, actorOf(click.user), undefined);
      log.info({ grant: id, user: click.user.id, result: result.kind }, 'Slack revoke click');
      switch (result.kind) {
        case 'revoked':
          if (click.channel && click.ts) {
            const message = grantThreadMessage(toGrantView(result.grant), click.user);
            await slackCall('chat.update', () => client.chat.update({ channel: click.channel ?? '', ts: click.ts ?? '', ...message }));
          }
          return;
        case 'not_authorized':
          return tell(click, `Not revoked: ${result.why}.`);
        case 'not_found':
          return tell(click, `Grant ${inlineCode(id)} is no longer live (it expired or was revoked already); nothing to revoke.`);
      }
    } catch (error) {
      log.error({ grant: id, user: click.user.id, err: (error as Error).message }, 'could not revoke a grant from Slack');
      await tell(click, `Airlock could not revoke ${inlineCode(id)} just now; try again, or use \`airlock grants revoke ${id}\`.`);
    }
  });
}
