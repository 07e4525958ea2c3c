/**
 * Who may decide a held call. Trusted kinds of actor (deciders.ts: the admin token's holders,
 * operators with Redis access) decide any call and are recorded by name. Everyone else — a Slack
 * user, a dashboard user — must be named in the policy's `approvers`, directly or through a Slack
 * user group (or anyone, when the policy names no approvers at all); the agent's owner may not
 * approve (or approve a re-run of) its own agent's call unless the policy allows it.
 */
import { anyApprover } from '../policy/types.js';
import { deciders } from './deciders.js';
import { approversOf, type Actor, type ApproverDirectory, type ApprovalRecord, type Verdict } from './types.js';

export type Authorization = { allowed: true } | { allowed: false; why: string };

export async function authorizeDecision(
  actor: Actor,
  record: ApprovalRecord,
  verdict: Verdict,
  directory: ApproverDirectory | undefined,
): Promise<Authorization> {
  if (actor.kind === 'system') return { allowed: false, why: 'the system does not decide held calls' };
  if (deciders[actor.kind].trusted) return { allowed: true };
  const { allowSelfApproval } = record.settings;
  const approvers = approversOf(record); // an escalation step taken may have added approvers
  if (verdict !== 'deny' && !allowSelfApproval && record.owner !== undefined && record.owner === actor.id) {
    return { allowed: false, why: `you own the agent "${record.agent}", and this policy does not let owners approve their own agent's calls` };
  }
  if (await isNamedApprover(actor, approvers, directory)) return { allowed: true };
  return { allowed: false, why: `you are not an approver for ${record.tool}` };
}

/** Whether `actor` is in `approvers`, directly, through a Slack user group, or because the policy names none. */
export async function isNamedApprover(actor: Actor, approvers: readonly string[], directory: ApproverDirectory | undefined): Promise<boolean> {
  // The policy names no approvers: anyone who can reach a channel and sign in may decide.
  if (approvers.includes(actor.id) || approvers.includes(anyApprover)) return true;
  for (const entry of approvers) {
    if (!entry.startsWith('S') || !directory) continue;
    const members = await directory.groupMembers(entry);
    if (members.includes(actor.id)) return true;
  }
  return false;
}
