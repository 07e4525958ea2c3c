/**
 * Text for Slack's mrkdwn, kept inside Slack's limits. Everything a user, an agent or an upstream
 * wrote (agent names, arguments, reasons) is escaped here, so it can never turn into a mention, a
 * link or a broken code block; anything an agent or an upstream wrote goes into code (inline or a
 * block), where Slack applies no formatting and makes no links; invisible and bidi characters
 * are shown as `\u202E`-style escapes; and every piece of text is cut to fit, so a message is
 * never refused by the Slack API for its size.
 */
import { showInvisible } from '../util/visible-text.js';

/** Slack's documented Block Kit limits (characters, counts). */
export const slackLimits = {
  sectionText: 3_000,
  fieldText: 2_000,
  fields: 10,
  blocks: 50,
  headerText: 150,
  buttonValue: 2_000,
  actionId: 255,
  contextText: 3_000,
  modalTitle: 24,
  privateMetadata: 3_000,
  /** Top-level `text` fallback: Slack truncates at 40 000; notifications show far less. */
  fallbackText: 3_000,
} as const;

/** Escapes the three characters Slack treats as control characters in mrkdwn, and shows invisible characters. */
export function escapeMrkdwn(text: string): string {
  return showInvisible(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Plain text (headers, buttons) for Slack: invisible and bidi characters shown as escapes. */
export function plainText(text: string): string {
  return showInvisible(text);
}

/** `` `text` `` with its content escaped and its backticks replaced, so it stays one inline code span. */
export function inlineCode(text: string): string {
  return `\`${escapeMrkdwn(text.replace(/\n/g, ' ')).replace(/`/g, 'ˋ')}\``;
}

/** Cuts plain text to `max` characters, ending with "…" when it was cut. */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** Code-block content: escaped, and with ``` broken up so the content cannot close the block. */
function codeContent(text: string): string {
  return escapeMrkdwn(text).replace(/```/g, '``\u200b`');
}

/**
 * A ```code block``` of `text` that fits in `max` characters including its fences. Returns the
 * block and whether the content had to be cut (on a line boundary where one is close).
 */
export function codeBlock(text: string, max: number): { text: string; truncated: boolean } {
  const fences = 8; // "```\n" + "\n```"
  const full = codeContent(text);
  if (full.length + fences <= max) return { text: `\`\`\`\n${full}\n\`\`\``, truncated: false };
  const budget = Math.max(0, max - fences - 2); // room for "\n…"
  let body = full.slice(0, budget);
  const entity = body.lastIndexOf('&');
  if (entity >= 0 && entity > body.length - 5 && !body.slice(entity).includes(';')) body = body.slice(0, entity); // never split &amp;
  const lineEnd = body.lastIndexOf('\n');
  if (lineEnd > budget * 0.8) body = body.slice(0, lineEnd);
  return { text: `\`\`\`\n${body}\n…\n\`\`\``, truncated: true };
}

/** A value as readers expect it: strings and numbers bare, objects as pretty JSON. */
export function formatJson(value: unknown, pretty = true): string {
  if (value === undefined) return 'undefined';
  const text = JSON.stringify(value, null, pretty ? 2 : undefined);
  return text ?? typeof value;
}

/**
 * Slack date formatting: the reader sees the time in their own time zone; clients that cannot
 * format it show the UTC fallback.
 */
export function slackDate(ms: number, format = '{date_short_pretty} at {time}'): string {
  const fallback = `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return `<!date^${Math.floor(ms / 1_000)}^${format}|${fallback}>`;
}

/** A Slack user ID (U…/W…) is shown as a mention; anyone else (admin:alice, cli) by name. */
export function who(actor: { id: string; name?: string | undefined; kind?: string }): string {
  if (/^[UW][A-Z0-9]{2,}$/.test(actor.id) && (actor.kind === undefined || actor.kind === 'slack')) return `<@${actor.id}>`;
  return escapeMrkdwn(actor.name ?? actor.id);
}

/** An approver entry from the policy: a user mention or a user-group mention. */
export function approverMention(entry: string): string {
  if (/^S[A-Z0-9]{2,}$/.test(entry)) return `<!subteam^${entry}>`;
  if (/^[UW][A-Z0-9]{2,}$/.test(entry)) return `<@${entry}>`;
  return escapeMrkdwn(entry);
}

/** "a", "a and b", "a, b and c". */
export function listOf(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1) ?? ''}`;
}
