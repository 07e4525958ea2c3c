/**
 * The context lines of an approval message — the policy's context calls' answers (or "loading",
 * or "context unavailable"), and the "last approved" line: when the same tool (with the same pinned
 * values) was last approved, by whom, and what changed in the arguments since — so an approver
 * reads the difference instead of re-reading the whole call. Pure; values are the display-safe
 * (redacted) ones, escaped and cut to Slack's limits.
 */
import type { ApprovalView } from '../approvals/approval-view.js';
import type { ArgumentChange } from '../util/argument-diff.js';
import { codeBlock, cut, escapeMrkdwn, formatJson, inlineCode, slackDate, slackLimits, who } from './mrkdwn.js';

/** One change in words: "`params.notebook_params.date` changed from `2026-11-01` to `2026-11-02`". */
export function changeText(change: ArgumentChange): string {
  const value = (v: unknown) => inlineCode(cut(formatJson(v, false), 200));
  if (!('from' in change)) return `${inlineCode(change.path)} added: ${value(change.to)}`;
  if (!('to' in change)) return `${inlineCode(change.path)} removed (was ${value(change.from)})`;
  return `${inlineCode(change.path)} changed from ${value(change.from)} to ${value(change.to)}`;
}

/** The mrkdwn text, or undefined when nothing like this call was approved before. */
export function previousText(view: ApprovalView): string | undefined {
  const previous = view.previous;
  if (!previous) return undefined;
  const by = previous.decidedBy ? ` by ${who(previous.decidedBy)}` : '';
  const agent = previous.agent === view.agent ? '' : ` (for ${inlineCode(previous.agent)})`;
  const head = `*Last approved* ${slackDate(Date.parse(previous.decidedAt))}${by}${agent} · ${inlineCode(previous.approvalId)}`;
  if (previous.changes.length === 0) return `${head}\nSame arguments as this call.`;
  const lines = previous.changes.map((change) => `• ${changeText(change)}`);
  if (previous.moreChanges > 0) lines.push(`• …and ${previous.moreChanges} more change${previous.moreChanges === 1 ? '' : 's'}`);
  return cut(`${head}\n${lines.join('\n')}`, slackLimits.sectionText);
}

/** The context calls' answers as mrkdwn sections (one per call), or none when the policy has none. */
export function contextTexts(view: ApprovalView): string[] {
  const context = view.context;
  if (!context) return [];
  if (!context.entries) return [`_Context (${context.labels.map((l) => escapeMrkdwn(l)).join(', ')}): loading…_`];
  return context.entries.map((entry) => {
    const head = `*${escapeMrkdwn(entry.label)}* (from ${inlineCode(entry.tool)})`;
    if (entry.state === 'unavailable') return cut(`${head}: _context unavailable_ (${escapeMrkdwn(entry.why ?? 'no answer')})`, slackLimits.sectionText);
    return `${head}\n${codeBlock(entry.text ?? '', slackLimits.sectionText - head.length - 20).text}`;
  });
}
