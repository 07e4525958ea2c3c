/**
 * Slack as the approver's home: the App Home tab lists the held calls the viewing user may decide
 * (with Approve and Deny, handled like the message buttons), and the `/airlock` slash command —
 * `pending`, `approve ID`, `deny ID reason`, `show ID` — answers the caller alone (ephemeral).
 * Both decide through the approvals core's `decide()` as the Slack user, so the policy's approvers
 * rule applies exactly as to clicks (a non-approver's `/airlock approve` is refused and audited).
 */
import type { App, types } from '@slack/bolt';
import type { ApprovalChannels } from '../approvals/ports.js';
import { toApprovalView } from '../approvals/approval-view.js';
import type { Actor, ApprovalRecord } from '../approvals/types.js';
import type { Logger } from '../log.js';
import { slackIds, type KnownBlock } from './blocks.js';
import { codeBlock, cut, escapeMrkdwn, formatJson, inlineCode, slackDate, slackLimits } from './mrkdwn.js';
import { decisionReply } from './replies.js';
import { slackCall, type WebClient } from './web-client.js';

export interface HomeDeps {
  approvals: Pick<ApprovalChannels, 'list' | 'get' | 'decide' | 'mayDecide'>;
  client: WebClient;
  log: Logger;
}

/** Most calls the Home tab and `/airlock pending` list. */
const listLimit = 25;

/** The pending calls `actor` may decide, newest first. */
async function decidableBy(deps: HomeDeps, actor: Actor): Promise<ApprovalRecord[]> {
  const pending = await deps.approvals.list({ status: 'pending', limit: 200 });
  const out: ApprovalRecord[] = [];
  for (const record of pending) if (await deps.approvals.mayDecide(record, actor)) out.push(record);
  return out.slice(0, listLimit);
}

function line(record: ApprovalRecord): string {
  return `${inlineCode(record.id)} ${inlineCode(record.tool)} from ${escapeMrkdwn(record.agent)} — expires ${slackDate(record.expiresAt)}`;
}

/** The Home tab for one user: what waits for them, each with Approve and Deny…. */
export function homeView(records: readonly ApprovalRecord[]): types.HomeView {
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: 'Waiting for your decision' } },
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: records.length === 0 ? 'Nothing waits for you right now.' : `${records.length} held call(s) you may decide.` }],
    },
  ];
  for (const record of records) {
    const value = record.id.slice(0, slackLimits.buttonValue);
    blocks.push(
      { type: 'section', text: { type: 'mrkdwn', text: cut(line(record), slackLimits.sectionText) } },
      {
        type: 'actions',
        block_id: `${slackIds.decisionBlock}_${record.id}`.slice(0, 255),
        elements: [
          { type: 'button', action_id: slackIds.approve, text: { type: 'plain_text', text: 'Approve' }, style: 'primary', value },
          { type: 'button', action_id: slackIds.deny, text: { type: 'plain_text', text: 'Deny…' }, style: 'danger', value },
        ],
      },
    );
  }
  return { type: 'home', blocks: blocks.slice(0, slackLimits.blocks) };
}

const usage = 'Usage: `/airlock pending` · `/airlock show ID` · `/airlock approve ID` · `/airlock deny ID reason`';

/** The ephemeral answer to `/airlock <text>` from `actor`. */
export async function answerCommand(deps: HomeDeps, actor: Actor, text: string): Promise<string> {
  const [verb = '', id = '', ...rest] = text.trim().split(/\s+/);
  switch (verb.toLowerCase()) {
    case 'pending': {
      const records = await decidableBy(deps, actor);
      return records.length === 0 ? 'Nothing waits for your decision.' : `Waiting for your decision:\n${records.map(line).join('\n')}`;
    }
    case 'show': {
      const record = id ? await deps.approvals.get(id) : undefined;
      if (!record) return `No approval ${inlineCode(id || '(none given)')}. ${usage}`;
      const view = toApprovalView(record);
      return cut(`${line(record)} — *${view.status}*\n${codeBlock(formatJson(view.arguments), 2_500).text}`, slackLimits.sectionText);
    }
    case 'approve':
    case 'deny': {
      if (!id) return usage;
      const reason = rest.join(' ').trim();
      if (verb.toLowerCase() === 'deny' && reason === '') return 'Say why: `/airlock deny ID reason` — the agent reads the reason.';
      const verdict = verb.toLowerCase() === 'deny' ? 'deny' : 'approve';
      const result = await deps.approvals.decide(id, actor, verdict, verdict === 'deny' ? reason : undefined);
      deps.log.info({ approval: id, user: actor.id, verdict, result: result.kind }, 'Slack /airlock decision');
      if (result.kind === 'decided') return `${verdict === 'deny' ? 'Denied' : 'Approved'} ${inlineCode(result.record.tool)} (${inlineCode(id)}).`;
      return decisionReply(result, id, verdict) ?? 'Done.';
    }
    default:
      return usage;
  }
}

/** Registers the Home tab and the `/airlock` command on a Bolt app. */
export function registerHomeAndCommand(app: App, deps: HomeDeps): void {
  app.command('/airlock', async ({ command, ack }) => {
    const actor: Actor = { kind: 'slack', id: command.user_id, name: command.user_name };
    try {
      await ack({ response_type: 'ephemeral', text: await answerCommand(deps, actor, command.text) });
    } catch (error) {
      deps.log.error({ user: command.user_id, err: (error as Error).message }, 'could not answer /airlock');
      await ack({ response_type: 'ephemeral', text: 'Airlock could not answer right now; nothing changed. Try again in a moment.' });
    }
  });

  app.event('app_home_opened', async ({ event }) => {
    if (event.tab !== 'home') return;
    const actor: Actor = { kind: 'slack', id: event.user };
    try {
      const view = homeView(await decidableBy(deps, actor));
      await slackCall('views.publish', () => deps.client.views.publish({ user_id: event.user, view }));
    } catch (error) {
      deps.log.warn({ user: event.user, err: (error as Error).message }, 'could not publish the Airlock Home tab');
    }
  });
}
