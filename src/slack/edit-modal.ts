/**
 * "Edit & approve" in Slack: a modal with one JSON text box per editable argument path (prefilled
 * with the value the agent asked for), and the parse of its submission. Pure; interactions.ts
 * opens it and submits the values to the approvals core's `decideEdited()`, which checks the
 * edited call against the policy before anything is approved.
 */
import type { types } from '@slack/bolt';
import { z } from 'zod';
import type { ApprovalView } from '../approvals/approval-view.js';
import { getPath, parsePath } from '../util/paths.js';
import { slackIds } from './blocks.js';
import { cut, escapeMrkdwn, inlineCode, plainText, slackLimits } from './mrkdwn.js';

/** Slack's cap on a plain_text_input's value. */
const maxInputChars = 3_000;

/** Where the modal came from and which path each box edits, carried in its `private_metadata`. */
const EditContextSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/),
  channel: z.string().optional(),
  ts: z.string().optional(),
  paths: z.array(z.string()).max(20),
});
type EditContext = z.infer<typeof EditContextSchema>;

const blockId = (index: number) => `edit_${index}`;
const inputId = 'value';

/** The modal for a pending call whose policy lists editable paths; undefined when no editable value fits Slack. */
export function editModal(view: ApprovalView, where: { channel: string | undefined; ts: string | undefined }): types.ModalView | undefined {
  const boxes = view.editable
    .map((path) => ({ path, text: JSON.stringify(getPath(view.arguments, parsePath(path)), null, 2) }))
    .filter((box) => box.text !== undefined && box.text.length <= maxInputChars)
    .slice(0, 20);
  if (boxes.length === 0) return undefined;
  const context: EditContext = { id: view.id, channel: where.channel, ts: where.ts, paths: boxes.map((b) => b.path) };
  const metadata = JSON.stringify(context);
  if (metadata.length > slackLimits.privateMetadata) return undefined;
  return {
    type: 'modal',
    callback_id: slackIds.editModal,
    private_metadata: metadata,
    title: { type: 'plain_text', text: cut(`Edit ${plainText(view.tool)}`, slackLimits.modalTitle) },
    submit: { type: 'plain_text', text: 'Approve' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: cut(
            `Change the values below (JSON), then approve ${inlineCode(view.tool)} for *${escapeMrkdwn(view.agent)}* (\`${view.id}\`). The changed call is checked against the policy again, runs once, and the agent is told what you changed.`,
            slackLimits.sectionText,
          ),
        },
      },
      ...boxes.map((box, index): types.KnownBlock => ({
        type: 'input',
        block_id: blockId(index),
        label: { type: 'plain_text', text: cut(box.path, 2_000) },
        element: { type: 'plain_text_input', action_id: inputId, multiline: true, max_length: maxInputChars, initial_value: box.text },
      })),
    ],
  };
}

const EditSubmissionSchema = z.object({
  type: z.literal('view_submission'),
  user: z.object({ id: z.string().regex(/^[UW][A-Z0-9]+$/), username: z.string().optional(), name: z.string().optional() }),
  view: z.object({
    callback_id: z.literal(slackIds.editModal),
    private_metadata: z.string(),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), z.object({ value: z.string().nullish() }))) }),
  }),
});

/** A parsed submission: the values by path, or per-box errors to show in the modal. */
export type EditSubmission =
  | {
      ok: true;
      approvalId: string;
      user: { id: string; name: string | undefined };
      edits: Record<string, unknown>;
      channel: string | undefined;
      firstBlock: string;
    }
  | { ok: false; errors: Record<string, string> };

/** Parses the Edit modal's submission; undefined when it is not one. */
export function parseEditSubmission(body: unknown): EditSubmission | undefined {
  const parsed = EditSubmissionSchema.safeParse(body);
  if (!parsed.success) return undefined;
  let context: EditContext;
  try {
    context = EditContextSchema.parse(JSON.parse(parsed.data.view.private_metadata));
  } catch {
    return undefined;
  }
  const edits: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  context.paths.forEach((path, index) => {
    const text = parsed.data.view.state.values[blockId(index)]?.[inputId]?.value ?? '';
    try {
      edits[path] = JSON.parse(text) as unknown;
    } catch {
      errors[blockId(index)] = 'Not valid JSON: write text in "quotes", numbers as they are, objects as {"key": "value"}.';
    }
  });
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  const { user } = parsed.data;
  return { ok: true, approvalId: context.id, user: { id: user.id, name: user.username ?? user.name }, edits, channel: context.channel, firstBlock: blockId(0) };
}
