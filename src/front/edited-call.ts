/**
 * Edit, then approve — the front's part. An approver's edit is checked twice, as if the agent had
 * made the edited call: when it is submitted (on the arguments approvers see, so a bad edit is
 * refused to the approver with the reason) and again right before release (on the full
 * arguments the waiting request holds). The edited call must still be held by the same rule —
 * an edit that would deny it, break a constraint or the upstream's inputSchema, or move it under
 * another rule (with other approvers and limits) is refused. Rate limits: the same rule means the
 * same limits, and the held call already counted against them once. The agent's answer then
 * says which values the approver changed, before → after.
 */
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { ApprovalRecord, Edit } from '../approvals/types.js';
import { AirlockError } from '../errors.js';
import type { Agent } from '../identity/tokens.js';
import type { ConstraintViolation, Decision } from '../policy/types.js';
import { canonicalArguments, canonicalJson, type CanonicalLimits } from '../util/canonical.js';
import { getPath, parsePath } from '../util/paths.js';
import type { CanonicalCall } from './release.js';

export interface EditedCallDeps {
  policy: {
    evaluate(agent: Agent, name: string, args: Record<string, unknown>): Decision;
    validateInput(definition: Tool, args: Record<string, unknown>): ConstraintViolation[];
  };
  argumentLimits: CanonicalLimits;
}

export type EditVerdict = { ok: true; call: CanonicalCall } | { ok: false; why: string };

/** Whether `edited` (the whole arguments) would be held by the same rule that holds `record`, and pass every check. */
export function checkEditedCall(deps: EditedCallDeps, agent: Agent, definition: Tool, record: ApprovalRecord, edited: unknown): EditVerdict {
  const canonical = canonicalArguments(edited, deps.argumentLimits);
  if (!canonical.ok) return { ok: false, why: `the edited arguments are not valid: ${canonical.violation.path} ${canonical.violation.problem}` };
  const decision = deps.policy.evaluate(agent, record.tool, canonical.value);
  switch (decision.kind) {
    case 'deny':
      return { ok: false, why: `the policy would deny the edited call (rule ${decision.rule.id}): ${decision.reason}` };
    case 'invalid_arguments':
      return { ok: false, why: `the edited call breaks the policy's constraints: ${violationText(decision.violations)}` };
    case 'allow':
      return {
        ok: false,
        why: `the edited call would fall under another rule (${decision.rule.id}, which allows it without approval); an edit must keep the call under the rule that held it (${record.rule})`,
      };
    case 'approve':
      if (decision.rule.id !== record.rule) {
        return {
          ok: false,
          why: `the edited call would be held by another rule (${decision.rule.id}, with its own approvers and limits) instead of ${record.rule}; ask the agent to make that call itself`,
        };
      }
  }
  const violations = deps.policy.validateInput(definition, canonical.value);
  if (violations.length > 0) return { ok: false, why: `the edited call does not match the tool's input schema: ${violationText(violations)}` };
  return { ok: true, call: canonical };
}

/** The full arguments with the edit applied (the edit's paths are never redacted, so its values are the real ones). */
export function applyEdit(full: Record<string, unknown>, edit: Edit): Record<string, unknown> {
  const copy = structuredClone(full);
  for (const change of edit.changes) {
    const segments = parsePath(change.path);
    const parent = getPath(copy, segments.slice(0, -1));
    const last = segments.at(-1);
    if (last === undefined || parent === null || typeof parent !== 'object') continue;
    (parent as Record<string, unknown>)[last] = change.after;
  }
  return copy;
}

/** The refusal an agent gets when the edit no longer passes at release (nothing ran). */
export function editNoLongerValid(record: ApprovalRecord, why: string): AirlockError {
  return new AirlockError(
    'approval_denied',
    `${record.tool} (approval ${record.id}) was approved with arguments changed by an approver, but the changed call no longer passes the policy, so it was NOT run: ${why}. Tell the user; calling again asks for a new approval.`,
    { details: { approvalId: record.id, rule: record.rule } },
  );
}

/** The upstream's result with a last content block telling the agent what the approver changed. */
export function withEditNote(result: CallToolResult, edit: Edit): CallToolResult {
  const by = edit.editor.name ?? edit.editor.id;
  const lines = edit.changes.map((c) => `- ${c.path}: ${canonicalJson(c.before)} → ${canonicalJson(c.after)}`);
  const text = `Note from Airlock: before approving, the approver ${by} changed the arguments of this call, and it ran with the changed values:\n${lines.join('\n')}\nThe result above is for the changed call; use these values from now on (do not call again with the old ones).`;
  return { ...result, content: [...result.content, { type: 'text', text }] };
}

function violationText(violations: ReadonlyArray<{ path: string; problem: string; rule: string }>): string {
  return violations.map((v) => `${v.path} ${v.problem} (${v.rule})`).join('; ');
}
