/**
 * The rules of dashboard OIDC sign-in without a provider: `dashboard.oidc` validated with
 * messages an operator can act on, and claims mapped to roles, names and Slack ids.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { AirlockError } from '../src/errors.js';
import { resolveOidcDeps } from '../src/dashboard/oidc-deps.js';
import { claimAt, identityFromClaims, roleOf } from '../src/dashboard/oidc-claims.js';

const base = { mcpServers: { databricks: { command: 'node', args: ['mock.js'] } } };
const oidc = {
  issuer: 'https://example.okta.com',
  clientId: '0oa1airlock',
  clientSecretEnv: 'AIRLOCK_OIDC_CLIENT_SECRET',
  redirectUri: 'https://airlock.example.com/login/oidc/callback',
  roles: { approver: ['airlock-approvers'], viewer: ['airlock-viewers'] },
};

function problemsOf(raw: unknown): string[] {
  try {
    parseConfig(raw, '/etc/airlock/airlock.config.json', {});
  } catch (error) {
    if (!(error instanceof AirlockError)) throw error;
    return (error.details['problems'] as Array<{ path: string; message: string }>).map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

describe('dashboard.oidc in the config', () => {
  it('fills the documented defaults', () => {
    const config = parseConfig({ ...base, dashboard: { oidc } }, '/etc/airlock/airlock.config.json', {});
    expect(config.dashboard.oidc).toMatchObject({
      scopes: ['openid', 'profile', 'email'],
      groupsClaim: 'groups',
      displayName: 'single sign-on',
      maxSession: 12 * 3_600_000,
      revalidateEvery: 5 * 60_000,
      userinfo: true,
      roles: { admin: [], approver: ['airlock-approvers'], viewer: ['airlock-viewers'] },
    });
  });

  it('derives the redirect URI from publicUrl, and asks for one of the two when both are missing', () => {
    const { redirectUri: _, ...withoutRedirect } = oidc;
    const config = parseConfig({ ...base, publicUrl: 'https://airlock.example.com/', dashboard: { oidc: withoutRedirect } }, '/etc/a.json', {});
    const deps = resolveOidcDeps(config, { variable: () => 'secret-from-env' });
    expect(deps).toMatchObject({
      redirectUri: 'https://airlock.example.com/login/oidc/callback',
      postLogoutRedirectUri: 'https://airlock.example.com/login',
      clientSecret: 'secret-from-env',
    });
    expect(problemsOf({ ...base, dashboard: { oidc: withoutRedirect } })).toEqual([
      '$.dashboard.oidc.redirectUri: set dashboard.oidc.redirectUri (e.g. "https://airlock.example.com/login/oidc/callback") or the top-level publicUrl it is derived from',
    ]);
  });

  it('refuses what would not work, saying what to write instead', () => {
    const problems = problemsOf({
      ...base,
      dashboard: {
        oidc: {
          ...oidc,
          issuer: 'http://idp.example.com',
          redirectUri: 'https://airlock.example.com/callback',
          clientSecretEnv: 'my-secret-value',
          scopes: ['profile'],
          roles: {},
          groupsClaim: 'a..b',
        },
      },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('dashboard.oidc.issuer must use https (plain http only on localhost)'),
        expect.stringContaining('redirectUri must end in the path /login/oidc/callback'),
        expect.stringContaining('secretEnv names an environment variable'),
        expect.stringContaining('scopes must include "openid"'),
        expect.stringContaining('map at least one group to a role'),
        expect.stringContaining('a claim name, or a dotted path'),
      ]),
    );
  });

  it('stops the start when the client secret variable is unset, naming it', () => {
    const config = parseConfig({ ...base, dashboard: { oidc } }, '/etc/a.json', {});
    expect(() => resolveOidcDeps(config, { variable: () => undefined })).toThrow(/clientSecretEnv names AIRLOCK_OIDC_CLIENT_SECRET, which is unset/);
  });

  it('accepts a public client (no secret) and a loopback http issuer', () => {
    const { clientSecretEnv: _, ...publicClient } = oidc;
    const config = parseConfig({ ...base, dashboard: { oidc: { ...publicClient, issuer: 'http://127.0.0.1:8081/realms/dev' } } }, '/etc/a.json', {});
    expect(resolveOidcDeps(config, { variable: () => undefined })?.clientSecret).toBeUndefined();
  });
});

describe('claims to a dashboard identity', () => {
  const rules = {
    groupsClaim: 'groups',
    roles: { viewer: ['staff'], approver: ['airlock-approvers'], admin: ['airlock-admins'] },
    slackUserIdClaim: 'slack_user_id',
    nameClaim: undefined,
  };

  it('gives the highest role any group maps to, the Slack id as the actor, and the name', () => {
    const verdict = identityFromClaims({ sub: 'u1', name: 'Alice', groups: ['staff', 'airlock-admins'], slack_user_id: 'U0ALICE' }, rules);
    expect(verdict).toMatchObject({
      ok: true,
      identity: { role: 'admin', login: 'Alice', via: 'oidc', actor: { kind: 'dashboard', id: 'U0ALICE', name: 'Alice' } },
    });
  });

  it('decides as oidc:<sub> when the Slack id claim is missing or malformed, and says so', () => {
    const verdict = identityFromClaims({ sub: 'u2', email: 'bob@example.com', groups: 'airlock-approvers', slack_user_id: 'bob' }, rules);
    expect(verdict).toMatchObject({ ok: true, identity: { role: 'approver', login: 'bob@example.com', actor: { id: 'oidc:u2' } } });
    expect(verdict.ok && verdict.slackUserIdProblem).toBe('"slack_user_id" is not a Slack user id');
  });

  it('refuses someone with no mapped group, naming the groups seen or the missing claim', () => {
    expect(identityFromClaims({ sub: 'u3', name: 'Olga', groups: ['data-eng'] }, rules)).toMatchObject({
      ok: false,
      why: 'none of your groups gives a dashboard role (your groups: data-eng)',
    });
    expect(identityFromClaims({ sub: 'u3', name: 'Olga' }, rules)).toMatchObject({
      ok: false,
      why: 'none of your groups gives a dashboard role (the sign-in carried no "groups" claim)',
    });
  });

  it('reads nested claims by dotted path (Keycloak realm roles), never through the prototype', () => {
    const claims = { sub: 'u4', realm_access: { roles: ['airlock-approvers'] } };
    expect(identityFromClaims(claims, { ...rules, groupsClaim: 'realm_access.roles' })).toMatchObject({ ok: true, identity: { role: 'approver' } });
    expect(claimAt(claims, '__proto__.constructor')).toBeUndefined();
    expect(claimAt(claims, 'realm_access.toString')).toBeUndefined();
  });

  it('maps no role from an empty or unrelated group list', () => {
    expect(roleOf([], rules.roles)).toBeUndefined();
    expect(roleOf(['airlock-approvers', 'staff'], rules.roles)).toBe('approver');
  });
});
