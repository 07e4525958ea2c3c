/**
 * Who is logging in: the login form names a user (`admin` for the admin token) and gives a token.
 * The token is hashed once (SHA-256) and compared in constant time with the admin token's hash and
 * with every dashboard user's `tokenSha256` — all of them, whatever matches, so timing says nothing
 * about which entry matched; it is accepted only for the user it belongs to. The actor a
 * login yields is what decisions are recorded as: the admin login decides anything (like the
 * admin API); a dashboard user decides as its Slack user id when configured, so the policy's
 * `approvers` list applies to them exactly as in Slack.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Actor } from '../approvals/types.js';
import type { DashboardUserSpec } from './ports.js';
import type { DashboardRole } from './roles.js';

/** A logged-in person: the actor decisions are recorded as, a name for the page header, and a role. */
export interface DashboardIdentity {
  actor: Actor;
  /** `admin` or the dashboard user's name. */
  login: string;
  role: DashboardRole;
  /** How the person signed in: a token (admin or dashboard user; the default) or the identity provider. */
  via?: 'token' | 'oidc';
}

/** The name the admin token signs in with. */
export const adminLogin = 'admin';

export interface CredentialChecker {
  /** The identity of `user` when `token` is theirs, or undefined. */
  identify(user: string, token: string): DashboardIdentity | undefined;
  /** Whether any login is possible (an admin token or at least one user is configured). */
  readonly enabled: boolean;
}

/** The actor the admin-token login decides as. */
export const dashboardAdminActor: Actor = { kind: 'admin', id: 'admin:dashboard', name: 'admin' };

/** The actor a dashboard user decides as. */
export function dashboardUserActor(name: string, spec: DashboardUserSpec): Actor {
  return { kind: 'dashboard', id: spec.slackUserId ?? `dashboard:${name}`, name };
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Longest token accepted; anything longer is refused before hashing. */
const maxTokenLength = 512;

/** Builds the digests once; identify() hashes the token once and compares with every entry. */
export function createCredentialChecker(adminToken: string | undefined, users: Readonly<Record<string, DashboardUserSpec>>): CredentialChecker {
  const entries: Array<{ digest: Buffer; identity: DashboardIdentity }> = [];
  if (adminToken !== undefined && adminToken !== '')
    entries.push({ digest: sha256(adminToken), identity: { actor: dashboardAdminActor, login: adminLogin, role: 'admin' } });
  for (const [name, spec] of Object.entries(users)) {
    const digest = Buffer.from(spec.tokenSha256, 'hex');
    if (digest.length !== 32) throw new Error(`dashboard.users.${name}.tokenSha256 must be 64 hex characters (SHA-256 of the user's token)`);
    entries.push({ digest, identity: { actor: dashboardUserActor(name, spec), login: name, role: spec.role ?? 'viewer' } });
  }
  return {
    enabled: entries.length > 0,
    identify(user, token) {
      if (token.length === 0 || token.length > maxTokenLength) return undefined;
      const presented = sha256(token);
      let found: DashboardIdentity | undefined;
      for (const entry of entries) {
        // Every entry is compared, so the time taken does not depend on which one matches.
        if (timingSafeEqual(presented, entry.digest) && entry.identity.login === user && found === undefined) found = entry.identity;
      }
      return found;
    },
  };
}
