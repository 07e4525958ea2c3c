/**
 * Dashboard OIDC sign-in over plain HTTP (the provider's pages driven by its fixture, no
 * browser), for what the browser suite does not cover: a public client (PKCE only, no secret),
 * a provider that issues no refresh token — so re-checks use userinfo and the session ends with
 * the access token — and the callback's one-time flow (a replay or a swapped state is refused).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkDashboardOidc } from '../src/cli/doctor-oidc.js';
import { maxSignInStarts } from '../src/dashboard/oidc-sessions.js';
import { parseConfig } from '../src/config/load.js';
import { hashToken } from '../src/identity/tokens.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { startOidcProvider, type TestOidcProvider, type TestUser } from './helpers/oidc-provider.js';
import { freePort } from './helpers/redis-server.js';
import { databricksMockStdio } from './helpers/upstreams.js';

const clientId = 'airlock-dashboard-public';
const accessTokenTtlSec = 300;
const opsToken = 'dash_ops_0123456789abcdefghijklmnopqrstuvwxyz';
const users: Record<string, TestUser> = {};
let skewMs = 0;
let idp: TestOidcProvider;
let gw: TestGateway;

beforeAll(async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  idp = await startOidcProvider({
    users,
    clients: [{ clientId, redirectUris: [`${base}/login/oidc/callback`] }],
    userinfoClients: [clientId],
    accessTokenTtlSec,
    registration: false,
  });
  gw = await startTestGateway({
    port,
    now: () => Date.now() + skewMs,
    mcpServers: { databricks: databricksMockStdio() },
    config: {
      dashboard: {
        oidc: {
          issuer: idp.issuer,
          clientId,
          redirectUri: `${base}/login/oidc/callback`,
          scopes: ['openid', 'profile', 'groups', 'slack'],
          roles: { viewer: ['airlock-viewers'], approver: ['airlock-approvers'] },
          slackUserIdClaim: 'slack_user_id',
          maxSession: '8h',
          revalidateEvery: '1m',
        },
        users: { ops: { tokenSha256: hashToken(opsToken), role: 'approver' } },
      },
    },
  });
}, 60_000);
afterAll(async () => {
  await gw?.close();
  await idp?.stop();
});
beforeEach(() => {
  skewMs = 0;
  for (const name of Object.keys(users)) delete users[name];
  users['alice'] = { claims: { name: 'Alice Approver', groups: ['airlock-approvers'], slack_user_id: 'U0ALICE' } };
});

/** One cookie's value from a response's Set-Cookie lines, with its attributes. */
function cookieFrom(res: Response, name: string): { value: string; attributes: string } | undefined {
  const line = res.headers.getSetCookie().find((l) => l.startsWith(`${name}=`));
  if (!line) return undefined;
  const [pair = '', ...rest] = line.split(';');
  return { value: pair.slice(name.length + 1), attributes: rest.join(';').trim() };
}

/** Starts a sign-in at the dashboard: the provider's URL and the flow cookie. */
async function startSignIn(): Promise<{ authorizationUrl: string; flowCookie: string }> {
  const res = await fetch(`${gw.baseUrl}/login/oidc`, { redirect: 'manual' });
  expect(res.status).toBe(303);
  const flow = cookieFrom(res, 'airlock_oidc_flow');
  expect(flow?.attributes).toMatch(/HttpOnly/i);
  expect(flow?.attributes).toMatch(/SameSite=Lax/i);
  return { authorizationUrl: res.headers.get('location') ?? '', flowCookie: flow?.value ?? '' };
}

async function callback(url: URL, flowCookie: string): Promise<Response> {
  return fetch(url, { redirect: 'manual', headers: { cookie: `airlock_oidc_flow=${flowCookie}` } });
}

/** Signs alice in; returns the session cookie value. */
async function signIn(user = 'alice'): Promise<string> {
  const { authorizationUrl, flowCookie } = await startSignIn();
  const authorization = new URL(authorizationUrl);
  expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
  expect(authorization.searchParams.get('state')).toBeTruthy();
  expect(authorization.searchParams.get('nonce')).toBeTruthy();
  const back = await idp.signIn(authorization, user);
  const res = await callback(back, flowCookie);
  expect(res.status).toBe(200);
  expect(res.headers.get('refresh')).toBe('0; url=/');
  const session = cookieFrom(res, 'airlock_session');
  expect(session?.attributes).toMatch(/HttpOnly/i);
  expect(session?.attributes).toMatch(/SameSite=Strict/i);
  return session?.value ?? '';
}

async function dashboard(session: string): Promise<{ status: number; location: string | null; text: string }> {
  const res = await fetch(`${gw.baseUrl}/`, { redirect: 'manual', headers: { cookie: `airlock_session=${session}` } });
  return { status: res.status, location: res.headers.get('location'), text: await res.text() };
}

describe('dashboard OIDC sign-in without refresh tokens (public client)', () => {
  it('signs in with PKCE alone and re-checks at userinfo, following a role change at the provider', async () => {
    const session = await signIn();
    expect((await dashboard(session)).text).toMatch(/Alice Approver<\/strong> \(approver\)/);
    users['alice'] = { claims: { name: 'Alice Approver', groups: ['airlock-viewers'], slack_user_id: 'U0ALICE' } };
    skewMs = 30_000; // not yet due: the last check stands
    expect((await dashboard(session)).text).toMatch(/\(approver\)/);
    skewMs = 61_000;
    expect((await dashboard(session)).text).toMatch(/Alice Approver<\/strong> \(viewer\)/);
  });

  it('ends the session when the access token it was given expires, since nothing could re-check it after', async () => {
    const session = await signIn();
    skewMs = (accessTokenTtlSec - 10) * 1_000;
    expect((await dashboard(session)).status).toBe(200);
    skewMs = (accessTokenTtlSec + 1) * 1_000;
    const after = await dashboard(session);
    expect(after.status).toBe(303);
    expect(after.location).toBe('/login');
  });

  it('refuses a replayed callback: the flow is used once', async () => {
    const { authorizationUrl, flowCookie } = await startSignIn();
    const back = await idp.signIn(authorizationUrl, 'alice');
    expect((await callback(back, flowCookie)).status).toBe(200);
    const replay = await callback(back, flowCookie);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('Sign-in expired');
  });

  it('refuses a code brought back with another sign-in’s flow cookie (state mismatch)', async () => {
    const first = await startSignIn();
    const second = await startSignIn();
    const back = await idp.signIn(first.authorizationUrl, 'alice');
    const res = await callback(back, second.flowCookie);
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('could not be verified');
    expect(cookieFrom(res, 'airlock_session')).toBeUndefined();
  });

  it('shows the provider’s own refusal (error=access_denied) instead of a session', async () => {
    const { authorizationUrl, flowCookie } = await startSignIn();
    const state = new URL(authorizationUrl).searchParams.get('state') ?? '';
    const res = await callback(new URL(`${gw.baseUrl}/login/oidc/callback?error=access_denied&error_description=User+cancelled&state=${state}`), flowCookie);
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('did not sign you in (access_denied: User cancelled)');
    // The same answer without the flow's state is not the provider's: it is not shown.
    const other = await startSignIn();
    const forged = await callback(
      new URL(`${gw.baseUrl}/login/oidc/callback?error=access_denied&error_description=Call+555-0100&state=made-up`),
      other.flowCookie,
    );
    expect(forged.status).toBe(401);
    const text = await forged.text();
    expect(text).toContain('could not be verified');
    expect(text).not.toContain('555-0100');
  });

  it('keeps dashboard-user tokens working beside it, from the folded token form', async () => {
    const form = await fetch(`${gw.baseUrl}/login`);
    const page = await form.text();
    expect(page).toContain('Sign in with single sign-on');
    expect(page).toContain('Sign in with a token');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
    const csrfCookie = cookieFrom(form, 'airlock_login_csrf')?.value ?? '';
    const res = await fetch(`${gw.baseUrl}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { origin: gw.baseUrl, 'content-type': 'application/x-www-form-urlencoded', cookie: `airlock_login_csrf=${csrfCookie}` },
      body: new URLSearchParams({ _csrf: csrf, user: 'ops', token: opsToken, next: '/' }),
    });
    expect(res.status).toBe(303);
    const session = cookieFrom(res, 'airlock_session')?.value ?? '';
    expect((await dashboard(session)).text).toMatch(/ops<\/strong> \(approver\)/);
  });
});

describe('airlock doctor on dashboard sign-in', () => {
  const configFor = (oidc: Record<string, unknown>) =>
    parseConfig(
      {
        mcpServers: { x: { command: 'node' } },
        dashboard: { oidc: { clientId, redirectUri: 'http://127.0.0.1:9/login/oidc/callback', roles: { viewer: ['v'] }, ...oidc } },
      },
      '/etc/airlock.config.json',
      {},
    );

  it('reports a provider that answers, with the redirect URI to register', async () => {
    const findings = await checkDashboardOidc(configFor({ issuer: idp.issuer, scopes: ['openid', 'groups'] }), { variable: () => undefined });
    expect(findings).toEqual([
      {
        severity: 'ok',
        subject: 'dashboard sign-in',
        message: `${idp.issuer} answers; people come back to http://127.0.0.1:9/login/oidc/callback (register exactly this at the provider)`,
      },
    ]);
  });

  it('fails on a provider that does not answer, an unset secret variable, and warns on scopes the provider lacks', async () => {
    const down = await checkDashboardOidc(configFor({ issuer: `http://127.0.0.1:${await freePort()}` }), { variable: () => undefined });
    expect(down[0]).toMatchObject({ severity: 'fail', message: expect.stringContaining('did not answer its discovery document') });
    const unset = await checkDashboardOidc(configFor({ issuer: idp.issuer, clientSecretEnv: 'NOT_SET_HERE' }), { variable: () => undefined });
    expect(unset[0]).toMatchObject({ severity: 'fail', message: expect.stringContaining('NOT_SET_HERE, which is unset') });
    const scopes = await checkDashboardOidc(configFor({ issuer: idp.issuer, scopes: ['openid', 'roles_please'] }), { variable: () => undefined });
    expect(scopes[1]).toMatchObject({ severity: 'warn', message: expect.stringContaining('roles_please') });
  });
});

// Last: it uses up this address's sign-in starts for the window.
describe('sign-ins started from one address', () => {
  it('are capped per window, so nobody fills Redis with sign-in flows', async () => {
    const statuses: number[] = [];
    for (let i = 0; i <= maxSignInStarts; i += 1) statuses.push((await fetch(`${gw.baseUrl}/login/oidc`, { redirect: 'manual' })).status);
    // Earlier tests of this file started some too: at most the cap went through, then 429.
    expect(statuses.filter((s) => s === 303).length).toBeLessThanOrEqual(maxSignInStarts);
    expect(statuses.at(-1)).toBe(429);
    const refused = await fetch(`${gw.baseUrl}/login/oidc`, { redirect: 'manual' });
    expect(refused.status).toBe(429);
    expect(await refused.text()).toContain('Too many sign-ins were started from your address');
  });
});
