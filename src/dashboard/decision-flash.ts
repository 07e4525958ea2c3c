/**
 * What a person sees after pressing Approve or Deny: the core's DecisionResult in words, with a
 * level (success, info, error). Every outcome is an answer — a lost race or a refusal is a
 * message, not an error page.
 */
import { pinsText, toGrantView } from '../approvals/grant-view.js';
import type { DecisionResult, Verdict } from '../approvals/types.js';
import { assertNever } from '../policy/types.js';
import type { Flash } from './sessions.js';
import { actorText } from './views/format.js';

export function decisionFlash(id: string, verdict: Verdict, result: DecisionResult): Flash {
  switch (result.kind) {
    case 'decided': {
      const { record } = result;
      const call = `${record.tool} from ${record.agent} (${id})`;
      if (verdict === 'rerun') return { level: 'success', text: `Approved a re-run of ${call}. It runs once more when the agent retries the call.` };
      if (record.status === 'approved' && result.grant) {
        const view = toGrantView(result.grant);
        return {
          level: 'success',
          text: `Approved ${call}, and granted ${view.agent} ${view.tool} with ${pinsText(view)} until ${view.expiresAt} (grant ${view.id}; revoke it under Grants).`,
        };
      }
      if (record.status === 'approved') return { level: 'success', text: `Approved ${call}. The call is released to the upstream.` };
      return { level: 'success', text: `Denied ${call}${record.reason ? `: ${record.reason}` : ''}. The agent is told.` };
    }
    case 'vote_recorded':
      return {
        level: 'info',
        text: `Your approval of ${verdict === 'rerun' ? `a re-run of ${id}` : id} is recorded: ${result.approvals} of ${result.quorum} approvals. It runs once ${result.quorum} approvers agree.`,
      };
    case 'duplicate_vote':
      return { level: 'info', text: `You already approved ${id}; ${result.approvals} of ${result.quorum} approvals so far. Nothing changed.` };
    case 'already_decided': {
      const by = result.record.decidedBy ? actorText(result.record.decidedBy) : 'the system';
      return {
        level: 'info',
        text: `${id} was already ${result.record.status} by ${by}; your ${verdict === 'deny' ? 'denial' : 'approval'} changed nothing.`,
      };
    }
    case 'not_rerunnable':
      return { level: 'info', text: `${id} is ${result.record.status}: a re-run is only for a call that failed or whose outcome is unknown. Nothing changed.` };
    case 'not_authorized':
      return { level: 'error', text: `Not authorized to decide ${id}: ${result.why}. Nothing changed.` };
    case 'not_found':
      return { level: 'error', text: `No approval ${id}: it may have expired out of the store (see History).` };
    default:
      return assertNever(result);
  }
}
