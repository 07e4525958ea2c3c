/**
 * From the claims an identity provider vouches for to a dashboard identity — pure, so the rules
 * are tested without a provider. The role is the highest one any value of the groups claim maps
 * to (`dashboard.oidc.roles`); nobody with no mapped value signs in. The Slack user id, when its
 * claim is configured and holds a well-formed id, is the actor id, so the policy's `approvers`
 * apply to the person's dashboard decisions exactly as to their Slack clicks; without one they
 * decide as `oidc:<sub>`, which only a policy naming no approvers accepts.
 */
import type { OidcSpec } from '../config/schema.js';
import type { DashboardIdentity } from './credentials.js';
import { dashboardRoles, type DashboardRole } from './roles.js';

export type OidcClaims = Record<string, unknown>;

export type ClaimsVerdict =
  { ok: true; identity: DashboardIdentity; groups: string[]; slackUserIdProblem?: string } | { ok: false; why: string; name: string; groups: string[] };

export type ClaimRules = Pick<OidcSpec, 'groupsClaim' | 'roles' | 'slackUserIdClaim' | 'nameClaim'>;

const slackUserIdPattern = /^[UW][A-Z0-9]{2,}$/;
/** Most groups kept from a claim (an Entra ID token lists up to 200 before it switches to an overage link). */
const maxGroups = 500;

/** The value at a dotted path of the claims (own properties only, so `__proto__` leads nowhere). */
export function claimAt(claims: OidcClaims, path: string): unknown {
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The groups claim as a list of strings: a list, one string, or (some providers) space- or comma-separated text. */
export function groupsOf(claims: OidcClaims, path: string): string[] {
  const value = claimAt(claims, path);
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(/[\s,]+/) : [];
  return list.filter((entry): entry is string => typeof entry === 'string' && entry !== '').slice(0, maxGroups);
}

/** The highest role any of `groups` maps to, or undefined. */
export function roleOf(groups: readonly string[], roles: ClaimRules['roles']): DashboardRole | undefined {
  const have = new Set(groups);
  for (const role of [...dashboardRoles].reverse()) if (roles[role].some((group) => have.has(group))) return role;
  return undefined;
}

/** The name shown for the person. */
export function displayNameOf(claims: OidcClaims, nameClaim: string | undefined): string {
  const candidates = nameClaim ? [claimAt(claims, nameClaim)] : [];
  candidates.push(claims['name'], claims['preferred_username'], claims['email'], claims['sub']);
  const found = candidates.find((value): value is string => typeof value === 'string' && value.trim() !== '');
  return (found ?? 'unknown').trim().slice(0, 120);
}

export function identityFromClaims(claims: OidcClaims, rules: ClaimRules): ClaimsVerdict {
  const sub = typeof claims['sub'] === 'string' ? claims['sub'] : '';
  const name = displayNameOf(claims, rules.nameClaim);
  const groups = groupsOf(claims, rules.groupsClaim);
  if (sub === '') return { ok: false, why: 'the identity provider named no subject (sub) for this sign-in', name, groups };
  const role = roleOf(groups, rules.roles);
  if (role === undefined) {
    const seen =
      claimAt(claims, rules.groupsClaim) === undefined ? `the sign-in carried no "${rules.groupsClaim}" claim` : `your groups: ${groups.join(', ') || 'none'}`;
    return { ok: false, why: `none of your groups gives a dashboard role (${seen})`, name, groups };
  }
  let slackUserId: string | undefined;
  let slackUserIdProblem: string | undefined;
  if (rules.slackUserIdClaim) {
    const value = claimAt(claims, rules.slackUserIdClaim);
    if (typeof value === 'string' && slackUserIdPattern.test(value)) slackUserId = value;
    else slackUserIdProblem = value === undefined ? `no "${rules.slackUserIdClaim}" claim` : `"${rules.slackUserIdClaim}" is not a Slack user id`;
  }
  return {
    ok: true,
    groups,
    ...(slackUserIdProblem ? { slackUserIdProblem } : {}),
    identity: { actor: { kind: 'dashboard', id: slackUserId ?? `oidc:${sub}`, name }, login: name, role, via: 'oidc' },
  };
}
