/**
 * Approval in the agent's own client: when the policy says `approval.client` and the agent's
 * client declared the elicitation capability, a held call sends `elicitation/create` to that very
 * session, on the held request's own stream (never to another session), while the call waits.
 * Accept approves, decline denies — as a vote by the agent's owner, through the same `decide()`
 * as every channel, so the approvers list, allow_self_approval and the quorum apply (a client
 * approval can be one vote of two). An agent without an owner, or a client without elicitation,
 * is simply not asked; once the call is decided elsewhere the question is withdrawn.
 */
import type { ApprovalChannels } from '../approvals/ports.js';
import type { ApprovalRecord } from '../approvals/types.js';
import type { Logger } from '../log.js';
import { getPath, parsePath } from '../util/paths.js';
import type { CallContext } from './call-context.js';

export interface ClientApprovalDeps {
  approvals: Pick<ApprovalChannels, 'decide'>;
  log: Logger;
}

/** The question the agent's client shows: the tool, the upstream, the leading arguments (redacted as stored). */
export function clientQuestion(record: ApprovalRecord): string {
  const shown = record.settings.show
    .map((path) => [path, getPath(record.displayArguments, parsePath(path))] as const)
    .filter(([, value]) => value !== undefined)
    .map(([path, value]) => `${path} ${JSON.stringify(value)}`);
  const args = shown.length > 0 ? shown.join(', ') : JSON.stringify(record.displayArguments ?? {});
  const text = `Approve ${record.tool} on ${record.upstream}? ${args.length > 600 ? `${args.slice(0, 597)}...` : args}`;
  return record.holdReason ? `${text}\n(${record.holdReason})` : text;
}

/** Asks the client and records its answer; resolves when answered, withdrawn (`stop`) or failed. Never throws. */
export async function askClientToApprove(deps: ClientApprovalDeps, ctx: CallContext, record: ApprovalRecord, stop: AbortSignal): Promise<void> {
  const owner = ctx.agent.owner;
  if (!owner || !ctx.elicit || !record.settings.askClient) return;
  let answer: Record<string, unknown>;
  try {
    answer = await ctx.elicit(
      {
        message: clientQuestion(record),
        requestedSchema: {
          type: 'object',
          properties: { reason: { type: 'string', title: 'Reason (optional)', description: 'Recorded with your decision.', maxLength: 1000 } },
        },
      },
      stop,
    );
  } catch (error) {
    if (!stop.aborted) deps.log.info({ approval: record.id, err: (error as Error).message }, "the agent's client did not answer the approval question");
    return;
  }
  const action = answer['action'];
  if (action !== 'accept' && action !== 'decline') return; // cancel: the person dismissed it without deciding
  const content = answer['content'];
  const given = content !== null && typeof content === 'object' ? (content as Record<string, unknown>)['reason'] : undefined;
  const reason =
    typeof given === 'string' && given.trim() !== '' ? given.trim().slice(0, 1_000) : action === 'decline' ? "declined in the agent's client" : undefined;
  const actor = { kind: 'client' as const, id: owner, name: `${owner} (in ${ctx.agent.name}'s client)` };
  try {
    const result = await deps.approvals.decide(record.id, actor, action === 'accept' ? 'approve' : 'deny', reason);
    deps.log.info({ approval: record.id, owner, action, result: result.kind }, "approval answered in the agent's client");
  } catch (error) {
    deps.log.warn({ approval: record.id, err: (error as Error).message }, "could not record the answer from the agent's client");
  }
}
