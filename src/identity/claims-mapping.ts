/**
 * Which configured agent a verified access token acts as: the first `oauth.agents` mapping whose
 * client id, subject or group matches the token's claims. The agent then brings its policy,
 * limits, owner and audit name exactly as a static token would. A token that matches nothing is
 * told which values it carried, so the operator can add the mapping without reading logs.
 */
import type { AgentMapping } from '../config/oauth-schema.js';

/** The claims the mapping looks at, read once from a verified token or an introspection answer. */
export interface TokenFacts {
  clientId: string | undefined;
  sub: string | undefined;
  groups: string[];
  scopes: string[];
  /** Epoch seconds, when the token says. */
  exp: number | undefined;
}

/** Reads the mapping facts from claims: client_id (RFC 9068), else azp (OIDC, Keycloak, Entra v2), cid (Okta), appid (Entra v1); groups from a dotted path. */
export function tokenFacts(claims: Record<string, unknown>, groupsClaim: string): TokenFacts {
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const scope = text(claims['scope']);
  const scp = claims['scp'];
  return {
    clientId: text(claims['client_id']) ?? text(claims['azp']) ?? text(claims['cid']) ?? text(claims['appid']),
    sub: text(claims['sub']),
    groups: stringList(claimAt(claims, groupsClaim)),
    scopes: scope !== undefined ? scope.split(' ').filter(Boolean) : stringList(scp),
    exp: typeof claims['exp'] === 'number' ? claims['exp'] : undefined,
  };
}

/** The agent name of the first mapping that matches, or undefined. */
export function mapToAgent(facts: TokenFacts, mappings: readonly AgentMapping[]): string | undefined {
  for (const { match, agent } of mappings) {
    if (match.clientId !== undefined && match.clientId === facts.clientId) return agent;
    if (match.sub !== undefined && match.sub === facts.sub) return agent;
    if (match.group !== undefined && facts.groups.includes(match.group)) return agent;
  }
  return undefined;
}

/** "client_id "x", sub "y", groups ["a", "b"]": what an unmapped token carried, for the refusal. */
export function describeFacts(facts: TokenFacts, groupsClaim: string): string {
  const quote = (value: string) => JSON.stringify(value.slice(0, 200));
  const groups = facts.groups.slice(0, 20).map(quote).join(', ');
  return [
    `client_id ${facts.clientId === undefined ? '(none)' : quote(facts.clientId)}`,
    `sub ${facts.sub === undefined ? '(none)' : quote(facts.sub)}`,
    `${groupsClaim} [${groups}]${facts.groups.length > 20 ? ` and ${facts.groups.length - 20} more` : ''}`,
  ].join(', ');
}

/** A claim by dotted path (`realm_access.roles`); a claim whose own name has a dot is tried first. */
function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  let node: unknown = claims;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[part]; // an object checked just above
  }
  return node;
}

function stringList(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
