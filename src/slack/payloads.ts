/**
 * Slack interaction payloads, parsed with zod at the edge (after Bolt has verified the signature):
 * a button click (`block_actions`) and the Deny modal's submission (`view_submission`). Handlers
 * get plain, checked values — who clicked, which approval, where the message is — or nothing.
 */
import { z } from 'zod';
import { slackIds } from './blocks.js';

const SlackUserSchema = z.object({
  id: z.string().regex(/^[UW][A-Z0-9]+$/, 'a Slack user ID'),
  username: z.string().optional(),
  name: z.string().optional(),
});

/** Approval ids are short and printable; a button value is at most 2000 characters anyway. */
const ApprovalIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, 'an approval id');

const BlockActionsSchema = z.object({
  type: z.literal('block_actions'),
  user: SlackUserSchema,
  trigger_id: z.string().min(1),
  channel: z.object({ id: z.string() }).optional(),
  container: z.object({ channel_id: z.string().optional(), message_ts: z.string().optional() }).optional(),
  message: z.object({ ts: z.string() }).optional(),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional() })).min(1),
});

/** A click on Approve, Deny or Approve re-run, as the handlers use it. */
export interface DecisionClick {
  verdict: 'approve' | 'deny' | 'rerun';
  approvalId: string;
  user: { id: string; name: string | undefined };
  triggerId: string;
  /** Where the message is (for ephemeral replies and the modal's context). */
  channel: string | undefined;
  ts: string | undefined;
}

/** Parses a block_actions payload for one of our buttons; undefined when it is not one. */
export function parseDecisionClick(body: unknown, editAction?: typeof slackIds.edit): DecisionClick | undefined {
  const parsed = BlockActionsSchema.safeParse(body);
  if (!parsed.success) return undefined;
  // The Edit button opens a modal that approves: it reads as an approve click.
  const verdicts = new Map<string, DecisionClick['verdict']>([
    [slackIds.approve, 'approve'],
    [slackIds.deny, 'deny'],
    [slackIds.rerun, 'rerun'],
  ]);
  if (editAction) verdicts.set(editAction, 'approve');
  const action = parsed.data.actions.find((a) => verdicts.has(a.action_id));
  const approvalId = ApprovalIdSchema.safeParse(action?.value);
  if (!action || !approvalId.success) return undefined;
  const { user, container, channel, message } = parsed.data;
  return {
    verdict: verdicts.get(action.action_id) ?? 'approve', // found among the keys just above
    approvalId: approvalId.data,
    user: { id: user.id, name: user.username ?? user.name },
    triggerId: parsed.data.trigger_id,
    channel: channel?.id ?? container?.channel_id,
    ts: message?.ts ?? container?.message_ts,
  };
}

const ModalContextSchema = z.object({ id: ApprovalIdSchema, channel: z.string().optional(), ts: z.string().optional() });

const ViewSubmissionSchema = z.object({
  type: z.literal('view_submission'),
  user: SlackUserSchema,
  view: z.object({
    callback_id: z.literal(slackIds.denyModal),
    private_metadata: z
      .string()
      .transform((text, ctx) => {
        try {
          return JSON.parse(text) as unknown; // parsed by ModalContextSchema right below
        } catch {
          ctx.addIssue({ code: 'custom', message: 'private_metadata is not JSON' });
          return z.NEVER;
        }
      })
      .pipe(ModalContextSchema),
    state: z.object({
      values: z.record(z.string(), z.record(z.string(), z.object({ value: z.string().nullish() }))),
    }),
  }),
});

/** The Deny modal's submission. */
export interface DenySubmission {
  approvalId: string;
  user: { id: string; name: string | undefined };
  /** Exactly as typed: the agent receives it word for word. */
  reason: string;
  channel: string | undefined;
  ts: string | undefined;
}

/** Parses a view_submission of the Deny modal; undefined when it is not one. */
export function parseDenySubmission(body: unknown): DenySubmission | undefined {
  const parsed = ViewSubmissionSchema.safeParse(body);
  if (!parsed.success) return undefined;
  const { user, view } = parsed.data;
  const reason = view.state.values[slackIds.reasonBlock]?.[slackIds.reasonInput]?.value ?? '';
  const context = view.private_metadata;
  return { approvalId: context.id, user: { id: user.id, name: user.username ?? user.name }, reason, channel: context.channel, ts: context.ts };
}

/** A click on any other of our buttons: which value it carries, who clicked, where the message is. */
export interface ButtonClick {
  value: string;
  user: { id: string; name: string | undefined };
  channel: string | undefined;
  ts: string | undefined;
}

/** Parses a block_actions payload for the button `actionId` whose value is an id; undefined when it is not one. */
export function parseButtonClick(body: unknown, actionId: string): ButtonClick | undefined {
  const parsed = BlockActionsSchema.safeParse(body);
  if (!parsed.success) return undefined;
  const action = parsed.data.actions.find((a) => a.action_id === actionId);
  const value = ApprovalIdSchema.safeParse(action?.value);
  if (!value.success) return undefined;
  const { user, container, channel, message } = parsed.data;
  return {
    value: value.data,
    user: { id: user.id, name: user.username ?? user.name },
    channel: channel?.id ?? container?.channel_id,
    ts: message?.ts ?? container?.message_ts,
  };
}
