/**
 * A Decision as text for a person at a terminal (`airlock policy explain`): what was decided,
 * by which rule, with which limits and approval settings, and the trace that led there.
 */
import { formatDurationMs } from '../util/duration.js';
import type { Decision, LimitSpec } from './types.js';
import { assertNever } from './types.js';

function limitText(limit: LimitSpec): string {
  return `${limit.counter}: at most ${limit.max} per ${formatDurationMs(limit.windowSec * 1_000)} (scope ${limit.scope})`;
}

export interface DecisionContext {
  policyFile: string;
  agent: string;
  tool: string;
  visible: boolean;
}

/** Multi-line explanation of a decision, ending with its numbered trace. */
export function formatDecision(decision: Decision, context: DecisionContext): string {
  const lines = [
    `policy    ${context.policyFile} (version ${decision.policyVersion})`,
    `agent     ${context.agent}`,
    `tool      ${context.tool}${context.visible ? '' : ' (hidden from this agent in tools/list)'}`,
    `decision  ${decision.kind} by ${decision.rule.id}`,
  ];
  switch (decision.kind) {
    case 'deny':
      lines.push(`reason    ${decision.reason}`);
      break;
    case 'invalid_arguments':
      for (const v of decision.violations) lines.push(`violation ${v.path}: ${v.problem} (rule: ${v.rule})`);
      break;
    case 'approve': {
      const a = decision.approval;
      lines.push(`reason    ${decision.reason}`);
      lines.push(`approvers ${a.approvers.length > 0 ? a.approvers.join(', ') : '(none listed: only admins can decide)'}; quorum ${a.quorum}`);
      lines.push(`timeout   ${a.timeoutMs === undefined ? "the config's approvals.defaultTimeout" : formatDurationMs(a.timeoutMs)}`);
      if (a.channel !== undefined) lines.push(`channel   ${a.channel}`);
      if (a.show.length > 0) lines.push(`show      ${a.show.join(', ')}`);
      lines.push(`self-approval ${a.allowSelfApproval ? 'allowed' : 'not allowed (the agent owner cannot approve)'}`);
      for (const limit of decision.limits) lines.push(`limit     ${limitText(limit)}`);
      break;
    }
    case 'allow':
      for (const limit of decision.limits) lines.push(`limit     ${limitText(limit)}`);
      break;
    default:
      assertNever(decision);
  }
  if (decision.redact.length > 0) lines.push(`redact    ${decision.redact.join(', ')}`);
  lines.push(`on state error: ${decision.onStateError}`);
  lines.push('trace:');
  decision.trace.forEach((step, i) => lines.push(`  ${i + 1}. ${step}`));
  return lines.join('\n');
}
