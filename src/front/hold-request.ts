/**
 * The request to hold one call for approval: who asked for what (redacted arguments, keyed hash),
 * under which rule, and the approval settings the policy's deciding rule gives it.
 */
import type { HoldInput } from '../approvals/ports.js';
import type { GrantPin } from '../approvals/grant-types.js';
import type { Decision } from '../policy/types.js';
import type { CallContext } from './call-context.js';
import type { CallFacts } from './call-facts.js';

/** The hold for a call the policy sends to approval; `pins` are its values at the grant paths, when grants are allowed. */
export function holdRequest(
  ctx: CallContext,
  decision: Extract<Decision, { kind: 'approve' }>,
  facts: CallFacts,
  pins: GrantPin[] | undefined,
  defaultTimeoutMs: number,
): HoldInput {
  const grants = decision.approval.grants;
  return {
    agent: ctx.agent.name,
    ...(ctx.agent.owner ? { owner: ctx.agent.owner } : {}),
    sessionId: ctx.sessionId,
    upstream: facts.upstream,
    tool: facts.tool,
    displayArguments: facts.arguments,
    argumentsHash: facts.argumentsHash,
    policyVersion: decision.policyVersion,
    rule: decision.rule.id,
    ...(decision.reason ? { holdReason: decision.reason } : {}),
    settings: {
      approvers: decision.approval.approvers,
      quorum: decision.approval.quorum,
      timeoutMs: decision.approval.timeoutMs ?? defaultTimeoutMs,
      ...(decision.approval.channel ? { channel: decision.approval.channel } : {}),
      show: decision.approval.show,
      allowSelfApproval: decision.approval.allowSelfApproval,
      ...(grants ? { grants: { pin: [...grants.pin], maxDurationMs: grants.maxDurationMs } } : {}),
      ...(decision.approval.context.length > 0 ? { context: decision.approval.context.map((c) => c.label) } : {}),
      ...(decision.approval.askClient ? { askClient: true } : {}),
      ...(decision.approval.directMessage ? { directMessage: true } : {}),
      ...(decision.approval.editable ? { editable: decision.approval.editable } : {}),
      ...(decision.approval.remind ? { remind: decision.approval.remind } : {}),
      ...(decision.approval.escalate ? { escalate: decision.approval.escalate } : {}),
    },
    ...(pins ? { grantPins: pins } : {}),
  };
}
