/**
 * The Block Kit an approver sees, built by pure functions from the display-safe ApprovalView (full
 * arguments never reach Slack; redacted paths stay masked). One function renders a held call in
 * any state — pending with buttons, quorum progress, approved, denied, expired, withdrawn — so
 * `chat.update` simply re-renders the record. Every text is cut to Slack's limits with a pointer
 * to `airlock approvals show ID`, so a large call can never make the Slack API refuse a message.
 */
import type { types } from '@slack/bolt';
import type { ApprovalView } from '../approvals/approval-view.js';
import { formatDurationMs } from '../util/duration.js';
import { anyApprover } from '../policy/types.js';
import { grantButton } from './grant-blocks.js';
import { contextTexts, previousText } from './previous-blocks.js';
import { approverMention, codeBlock, cut, escapeMrkdwn, formatJson, inlineCode, listOf, plainText, slackDate, slackLimits, who } from './mrkdwn.js';

export type KnownBlock = types.KnownBlock;

/** Interaction ids; interactions.ts routes on them. */
export const slackIds = {
  approve: 'airlock_approve',
  rerun: 'airlock_rerun',
  deny: 'airlock_deny',
  edit: 'airlock_edit',
  editModal: 'airlock_edit_values',
  decisionBlock: 'airlock_decision',
  denyModal: 'airlock_deny_reason',
  reasonBlock: 'reason',
  reasonInput: 'reason_input',
} as const;

/** A message body for chat.postMessage / chat.update. */
export interface SlackMessage {
  /** Notification and screen-reader fallback. */
  text: string;
  blocks: KnownBlock[];
}

export interface MessageOptions {
  /** How to name the upstream (defaults to its config name). */
  upstreamLabel?: string;
}

const statusHeading: Record<ApprovalView['status'], string> = {
  pending: '⏸️ Approval needed',
  approved: '✅ Approved',
  executing: '▶️ Running',
  executed: '✅ Executed',
  failed: '❌ Failed',
  outcome_unknown: '❓ Outcome unknown',
  denied: '⛔ Denied',
  expired: '⌛ Expired',
  withdrawn: '↩️ Withdrawn',
};

/** Renders a held call as a Slack message, in whatever state the record is. */
export function approvalMessage(view: ApprovalView, options: MessageOptions = {}): SlackMessage {
  const upstream = options.upstreamLabel ?? view.upstream;
  const blocks: KnownBlock[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: cut(`${statusHeading[view.status]}: ${plainText(view.tool)} on ${plainText(upstream)}`, slackLimits.headerText),
        emoji: true,
      },
    },
    { type: 'section', fields: summaryFields(view) },
  ];
  const shown = highlightsText(view);
  if (shown) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: shown } });
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: argumentsText(view) } });
  if (view.status === 'pending') for (const text of contextTexts(view)) blocks.push({ type: 'section', text: { type: 'mrkdwn', text } });
  const previous = view.status === 'pending' ? previousText(view) : undefined;
  if (previous) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: previous } });
  if (view.edit) {
    const changes = view.edit.changes.map(
      (c) => `• ${inlineCode(c.path)}: ${inlineCode(formatJson(c.before, false))} → ${inlineCode(formatJson(c.after, false))}`,
    );
    const text = `✏️ *Edited before approval* by ${who(view.edit.editor)}; it runs with:\n${changes.join('\n')}`;
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cut(text, slackLimits.sectionText) } });
  }
  const state = stateText(view);
  if (state) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cut(state, slackLimits.sectionText) } });
  if (view.status === 'pending') blocks.push(decisionButtons(view));
  if (view.rerunnable) blocks.push(rerunButton(view));
  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: cut(`Approval \`${view.id}\` · policy \`${escapeMrkdwn(view.policyVersion)}\` · \`airlock approvals show ${view.id}\``, slackLimits.contextText),
      },
    ],
  });
  const text = cut(
    `${statusHeading[view.status]}: ${inlineCode(view.tool)} on ${escapeMrkdwn(upstream)} for ${escapeMrkdwn(view.agent)} (${view.id})`,
    slackLimits.fallbackText,
  );
  return { text, blocks: blocks.slice(0, slackLimits.blocks) };
}

function summaryFields(view: ApprovalView): Array<{ type: 'mrkdwn'; text: string }> {
  const agent = escapeMrkdwn(view.agent) + (view.owner ? ` (owner <@${view.owner}>)` : '');
  const quorum = view.quorum > 1 ? ` · ${view.quorum} needed` : '';
  const fields = [
    `*Agent*\n${agent}`,
    `*Held by rule*\n\`${escapeMrkdwn(view.rule)}\`${view.holdReason ? `\n${escapeMrkdwn(view.holdReason)}` : ''}`,
    `*Asked*\n${slackDate(Date.parse(view.createdAt))}`,
    `*Expires*\n${slackDate(Date.parse(view.expiresAt))}`,
    `*Approvers*\n${approversText(view.approvers)}${quorum}`,
  ];
  return fields.slice(0, slackLimits.fields).map((text) => ({ type: 'mrkdwn', text: cut(text, slackLimits.fieldText) }));
}

/** Who may decide, as the card says it. */
function approversText(approvers: readonly string[]): string {
  if (approvers.includes(anyApprover)) return '_anyone who can click here (the policy names no approvers)_';
  return approvers.map(approverMention).join(', ') || '_operators only (API/CLI)_';
}

/** The policy's `show` paths, first and compact; each gets an equal share of the section. */
function highlightsText(view: ApprovalView): string | undefined {
  if (view.highlights.length === 0) return undefined;
  const share = Math.floor((slackLimits.sectionText - 200) / view.highlights.length);
  let truncated = false;
  const parts = view.highlights.map(({ path, value }) => {
    const label = `*${escapeMrkdwn(path)}*`;
    const compact = formatJson(value, false);
    if (compact.length <= 80 && !compact.includes('\n')) return `${label}  \`${escapeMrkdwn(compact).replace(/`/g, 'ˋ')}\``;
    const block = codeBlock(formatJson(value), share - label.length - 1);
    truncated ||= block.truncated;
    return `${label}\n${block.text}`;
  });
  return cut(parts.join('\n') + (truncated ? truncationNote(view.id) : ''), slackLimits.sectionText);
}

function argumentsText(view: ApprovalView): string {
  const title = '*Arguments*';
  const note = truncationNote(view.id);
  const block = codeBlock(formatJson(view.arguments), slackLimits.sectionText - title.length - 1 - note.length);
  return `${title}\n${block.text}${block.truncated ? note : ''}`;
}

function truncationNote(id: string): string {
  return `\n_(truncated — full arguments: \`airlock approvals show ${id}\`)_`;
}

/** What happened to the call, or the quorum progress while it waits. */
function stateText(view: ApprovalView): string | undefined {
  const at = view.decidedAt ? ` · ${slackDate(Date.parse(view.decidedAt))}` : '';
  const voters = view.votes.map((v) => who({ id: v.actor, name: v.name }));
  const approvedBy = voters.length ? listOf(voters) : view.decidedBy ? who(view.decidedBy) : 'an operator';
  const attempt = view.attempt > 1 ? ` (re-run ${view.attempt - 1})` : '';
  const since = view.claim ? ` ${slackDate(Date.parse(view.claim.at))}` : '';
  const rerunVotes = view.quorum > 1 ? `\n*${view.approvals} of ${view.quorum} re-run approvals*` : '';
  switch (view.status) {
    case 'pending':
      return view.quorum > 1 ? `*${view.approvals} of ${view.quorum} approvals*${voters.length ? `: ${voters.join(', ')}` : ''}` : undefined;
    case 'approved':
      return `✅ *Approved*${attempt} by ${approvedBy}${at}. It runs once, when the agent's call is released.`;
    case 'executing':
      return `▶️ *Approved*${attempt} by ${approvedBy}${at}; running upstream since${since}.`;
    case 'executed':
      return `✅ *Approved*${attempt} by ${approvedBy}${at}; executed (outcome in the thread).`;
    case 'failed':
      return `❌ *Approved*${attempt} by ${approvedBy}${at}; the upstream call failed, so it may or may not have acted. It will not run again unless an approver approves a re-run.${rerunVotes}`;
    case 'outcome_unknown':
      return `❓ *Outcome unknown* — approved${attempt} by ${approvedBy} and sent upstream${since}, but the gateway replica running it stopped before recording what happened. It will not run again on its own: check its effect, and approve a re-run only if it did not happen.${rerunVotes}`;
    case 'denied': {
      const by = view.decidedBy ? who(view.decidedBy) : 'an operator';
      return `⛔ *Denied* by ${by}${at}.${view.reason ? `\n${quote(cut(view.reason, 2_500))}` : ''}`;
    }
    case 'expired':
      return `⌛ *Expired* — nobody decided within ${formatDurationMs(Date.parse(view.expiresAt) - Date.parse(view.createdAt))}; the call was refused.`;
    case 'withdrawn':
      return `↩️ *Withdrawn* — the agent cancelled${view.reason ? ` (${escapeMrkdwn(cut(view.reason, 500))})` : ''}${at}. Nothing was run.`;
  }
}

function quote(text: string): string {
  return escapeMrkdwn(text)
    .split('\n')
    .map((line) => `>${line}`)
    .join('\n');
}

function decisionButtons(view: ApprovalView): KnownBlock {
  const value = view.id.slice(0, slackLimits.buttonValue);
  const grant = grantButton(view);
  return {
    type: 'actions',
    block_id: slackIds.decisionBlock,
    elements: [
      {
        type: 'button',
        action_id: slackIds.approve,
        text: { type: 'plain_text', text: 'Approve', emoji: true },
        style: 'primary',
        value,
        confirm: {
          title: { type: 'plain_text', text: 'Approve this call?' },
          text: {
            type: 'mrkdwn',
            text: cut(`Airlock will release ${inlineCode(view.tool)} for *${escapeMrkdwn(view.agent)}* to ${escapeMrkdwn(view.upstream)}.`, 300),
          },
          confirm: { type: 'plain_text', text: 'Approve' },
          deny: { type: 'plain_text', text: 'Cancel' },
        },
      },
      ...(grant ? [grant] : []),
      // Edit, then approve: only where the policy lists editable paths, and before anyone approved the call as asked.
      ...(view.editable.length > 0 && view.approvals === 0
        ? [{ type: 'button' as const, action_id: slackIds.edit, text: { type: 'plain_text' as const, text: 'Edit & approve…', emoji: true }, value }]
        : []),
      { type: 'button', action_id: slackIds.deny, text: { type: 'plain_text', text: 'Deny…', emoji: true }, style: 'danger', value },
    ],
  };
}

/** After `failed` or `outcome_unknown`: run the same call once more, a new decision (confirmed first). */
function rerunButton(view: ApprovalView): KnownBlock {
  return {
    type: 'actions',
    block_id: slackIds.decisionBlock,
    elements: [
      {
        type: 'button',
        action_id: slackIds.rerun,
        text: { type: 'plain_text', text: 'Approve re-run', emoji: true },
        value: view.id.slice(0, slackLimits.buttonValue),
        confirm: {
          title: { type: 'plain_text', text: 'Run it again?' },
          text: {
            type: 'mrkdwn',
            text: cut(
              `\`${view.tool}\` may already have acted. Approve a re-run only after checking it did not; it runs once more when ${escapeMrkdwn(view.agent)} retries the call.`,
              300,
            ),
          },
          confirm: { type: 'plain_text', text: 'Approve re-run' },
          deny: { type: 'plain_text', text: 'Cancel' },
        },
      },
    ],
  };
}

/** Where the Deny modal came from, carried in its `private_metadata`. */
export interface DenyModalContext {
  id: string;
  channel: string | undefined;
  ts: string | undefined;
}

/** The Deny modal: asks for a reason (required — the agent reads it, and so does the audit). */
export function denyModal(view: ApprovalView, context: DenyModalContext): types.ModalView {
  return {
    type: 'modal',
    callback_id: slackIds.denyModal,
    private_metadata: JSON.stringify(context).slice(0, slackLimits.privateMetadata),
    title: { type: 'plain_text', text: cut(`Deny ${plainText(view.tool)}`, slackLimits.modalTitle) },
    submit: { type: 'plain_text', text: 'Deny' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: cut(
            `Deny ${inlineCode(view.tool)} for *${escapeMrkdwn(view.agent)}* (\`${view.id}\`)? The agent receives your reason word for word.`,
            slackLimits.sectionText,
          ),
        },
      },
      {
        type: 'input',
        block_id: slackIds.reasonBlock,
        optional: false,
        label: { type: 'plain_text', text: 'Reason' },
        element: {
          type: 'plain_text_input',
          action_id: slackIds.reasonInput,
          multiline: true,
          max_length: 2_000,
          placeholder: { type: 'plain_text', text: 'e.g. not during the release freeze; retry after 18:00' },
        },
      },
    ],
  };
}

const outcomeWords: Record<string, string> = {
  success: '✅ Executed',
  tool_error: '⚠️ The tool reported an error',
  upstream_failure: '❌ The upstream failed',
};

/** Which outcome a thread reply told: one reply per attempt and state, however often the event comes. */
export function outcomeKey(view: ApprovalView): string | undefined {
  if (view.status === 'outcome_unknown' || (view.execution && (view.status === 'executed' || view.status === 'failed')))
    return `${view.attempt}:${view.status}`;
  return undefined;
}

/**
 * The thread reply telling approvers how the released call went (or that nobody knows). The
 * summary is the upstream's own text (a run id, or an error that may echo the agent's input), so
 * it goes in a code block: no live formatting, no links, invisible characters shown.
 */
export function outcomeReply(view: ApprovalView): SlackMessage | undefined {
  const attempt = view.attempt > 1 ? ` (re-run ${view.attempt - 1})` : '';
  let text: string;
  if (view.status === 'outcome_unknown') {
    const since = view.claim ? ` ${slackDate(Date.parse(view.claim.at))}` : '';
    text = `❓ Outcome unknown${attempt}: ${inlineCode(view.tool)} was sent to the upstream${since}, and the gateway replica running it stopped before recording the result. Airlock will not run it again on its own; approve a re-run only after checking it did not happen.`;
  } else {
    const execution = view.execution;
    if (!execution) return undefined;
    const headline = `${outcomeWords[execution.outcome] ?? execution.outcome}${attempt} in ${formatDurationMs(execution.durationMs)}`;
    const summary = execution.summary ? `\n${codeBlock(execution.summary, 2_500).text}` : '';
    text = `${headline}${execution.truncated ? ' _(the kept copy of the result is truncated)_' : ''}${summary}`;
  }
  text = cut(text, slackLimits.sectionText);
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text, verbatim: true } }] };
}
