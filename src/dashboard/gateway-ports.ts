/**
 * Adapters from the gateway's parts to the dashboard's ports, so the composition root wires the
 * dashboard in one call. The approvals core, the audit store and the rate limiter fit their ports
 * as they are; only the policy port needs an agent directory to explain a call for an agent
 * named in a form.
 */
import type { Agent } from '../identity/tokens.js';
import type { Decision } from '../policy/types.js';
import type { DashboardPolicy, DashboardPolicyFile } from './ports.js';

/** What the adapter uses of the policy engine (PolicyEngine). */
export interface PolicyEngineLike {
  info(): DashboardPolicyFile[];
  evaluate(agent: Agent, tool: string, args: Record<string, unknown>): Decision;
}

/** What the adapter uses of the agent directory (Authenticator). */
export interface AgentDirectoryLike {
  readonly agents: ReadonlyMap<string, Agent>;
}

/**
 * The policy port over the engine: explain() evaluates with the configured agent of that name
 * (its own policy file, if any); an unconfigured name is evaluated as an agent without one, so
 * the default policy answers — the same as the engine would for such a grant.
 */
export function dashboardPolicyPort(engine: PolicyEngineLike, directory: AgentDirectoryLike): DashboardPolicy {
  return {
    info: () => engine.info(),
    agentNames: () => [...directory.agents.keys()].sort(),
    explain: (agentName, tool, args) =>
      engine.evaluate(directory.agents.get(agentName) ?? { name: agentName, owner: undefined, policy: undefined }, tool, args),
  };
}
