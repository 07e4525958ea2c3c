/**
 * What the call pipeline records and says about a call: the audit fields every step shares, the
 * label a resource or prompt goes by, and the refusal an agent gets for arguments that break a
 * rule — written so an LLM agent knows what to fix.
 */
import { AirlockError } from '../errors.js';
import type { ConstraintViolation, Decision, SubjectKind } from '../policy/types.js';
import type { ExposedTool } from '../upstream/upstream-pool.js';
import type { JsonObject } from '../util/canonical.js';
import { parsePath, redactPaths } from '../util/paths.js';
import type { CallContext } from './call-context.js';

/** The audit fields every step shares. */
export type CallFacts = ReturnType<typeof callFacts>;

/** Who is calling, for the audit: the agent, and who signed in as it with OAuth (when someone did). */
export function agentFields(ctx: CallContext): { agent: string; principal?: string } {
  return ctx.agent.principal === undefined ? { agent: ctx.agent.name } : { agent: ctx.agent.name, principal: ctx.agent.principal };
}

/** The audit fields every step shares: who, what, with which (redacted) arguments, under which rule. */
export function callFacts(ctx: CallContext, tool: ExposedTool, args: JsonObject, decision: Decision, hash: string) {
  return {
    ...agentFields(ctx),
    session: ctx.sessionId,
    upstream: tool.upstream.name,
    tool: tool.name,
    arguments: redactPaths(args, decision.redact.map(parsePath)),
    argumentsHash: hash,
    policyVersion: decision.policyVersion,
    rule: decision.rule.id,
  };
}

/** The name a resource or prompt request goes by in approvals and the audit: `resource:<uri>`, `prompt:<name>`. */
export function subjectLabel(kind: SubjectKind, name: string): string {
  return kind === 'tool' ? name : `${kind}:${name}`;
}

/** Arguments that break the deciding rule's constraints or the tool's inputSchema. */
export function invalidArguments(tool: string, decision: Decision, violations: ConstraintViolation[]): AirlockError {
  return argumentsRejected(tool, violations, { rule: decision.rule.id });
}

/** The refusal for rejected arguments: each violation with its path and rule, and what to do. */
export function argumentsRejected(tool: string, violations: ConstraintViolation[], details: { rule: string }): AirlockError {
  const lines = violations.map((v) => `- ${v.path}: ${v.problem} (rule: ${v.rule})`).join('\n');
  return new AirlockError('invalid_arguments', `Arguments for ${tool} were rejected before anything ran:\n${lines}\nFix these arguments and call again.`, {
    details: { ...details, violations },
  });
}
