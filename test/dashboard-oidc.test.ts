/**
 * People signing in to the dashboard at the organisation's identity provider, in headless
 * Chromium, end to end: a real OpenID Provider (oidc-provider, its own login pages), a real
 * gateway on real Redis with the Databricks mock behind it, agents calling through /mcp. Roles
 * come from the `groups` claim, the Slack id from `slack_user_id`; sessions end at the
 * configured maximum and when the provider stops vouching for the person; the admin token is
 * break-glass, loud in the log and in the audit history. Only time is moved (an injected clock),
 * never waited for.
 */
import { Writable } from 'node:stream';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { horizontalOverflow, launchBrowser, screenshot } from './helpers/browser.js';
import { adminToken, startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { loginPageSelectors, startOidcProvider, type TestOidcProvider, type TestUser } from './helpers/oidc-provider.js';
import { freePort } from './helpers/redis-server.js';
import { createCallLog, databricksMockStdio } from './helpers/upstreams.js';

const clientId = 'airlock-dashboard';
const clientSecret = 'dashboard-client-secret-0123456789';
const revalidateMs = 5 * 60_000;
const maxSessionMs = 60 * 60_000;

/** The people at the provider; a test may change their claims (and puts them back). */
const users: Record<string, TestUser> = {};
const initialUsers: Record<string, TestUser> = {
  alice: { claims: { name: 'Alice Approver', email: 'alice@example.com', groups: ['airlock-approvers', 'data-eng'], slack_user_id: 'U0ALICE' } },
  mallory: { claims: { name: 'Mallory Maybe', email: 'mallory@example.com', groups: ['airlock-approvers'], slack_user_id: 'U0MALLORY' } },
  vera: { claims: { name: 'Vera Viewer', email: 'vera@example.com', groups: ['airlock-viewers'], slack_user_id: 'U0VERA' } },
  olga: { claims: { name: 'Olga Outsider', email: 'olga@example.com', groups: ['data-eng'] } },
};

const callLog = createCallLog();
const logLines: Array<Record<string, unknown>> = [];
let skewMs = 0;
let idp: TestOidcProvider;
let gw: TestGateway;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  Object.assign(users, structuredClone(initialUsers));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  idp = await startOidcProvider({
    users,
    clients: [
      {
        clientId,
        clientSecret,
        redirectUris: [`${base}/login/oidc/callback`],
        metadata: {
          post_logout_redirect_uris: [`${base}/login`],
          backchannel_logout_uri: `${base}/login/oidc/backchannel-logout`,
          backchannel_logout_session_required: true,
        },
      },
    ],
    userinfoClients: [clientId],
    refreshTokensWithoutOfflineAccess: true,
    backchannelLogout: true,
    registration: false,
  });
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  gw = await startTestGateway({
    port,
    log: pino({ level: 'info' }, stream),
    now: () => Date.now() + skewMs,
    mcpServers: { databricks: databricksMockStdio({ callLog }) },
    policy: {
      version: '1',
      default: 'allow',
      approval: { approvers: ['U0ALICE'] },
      tools: { run_job: { action: 'approve', reason: 'Runs start compute.', approval: { timeout: '30m', show: ['params.job_id'] } } },
    },
    env: { AIRLOCK_ADMIN_TOKEN: adminToken, TEST_OIDC_CLIENT_SECRET: clientSecret },
    config: {
      approvals: { progressInterval: '500ms' },
      dashboard: {
        oidc: {
          issuer: idp.issuer,
          clientId,
          clientSecretEnv: 'TEST_OIDC_CLIENT_SECRET',
          redirectUri: `${base}/login/oidc/callback`,
          scopes: ['openid', 'profile', 'email', 'groups', 'slack'],
          displayName: 'Test IdP',
          groupsClaim: 'groups',
          roles: { viewer: ['airlock-viewers'], approver: ['airlock-approvers'], admin: ['airlock-admins'] },
          slackUserIdClaim: 'slack_user_id',
          maxSession: '1h',
          revalidateEvery: '5m',
        },
      },
    },
  });
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gw?.close();
  await idp?.stop();
});
beforeEach(async () => {
  skewMs = 0;
  for (const name of Object.keys(users)) delete users[name];
  Object.assign(users, structuredClone(initialUsers));
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
});
afterEach(async () => {
  await context?.close();
});

/** From the dashboard's sign-in page through the provider's login (and consent) pages, back to the dashboard. */
async function signIn(user: string, next = '/'): Promise<void> {
  await page.goto(`${gw.baseUrl}${next}`);
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  await page.waitForURL((url) => url.origin === idp.issuer);
  await page.locator(loginPageSelectors.login).fill(user);
  await page.locator(loginPageSelectors.password).fill('any password');
  await page.locator(loginPageSelectors.submit).click();
  // The provider may ask for consent the first time this person meets this client: either its
  // consent form shows, or the browser is already back at the dashboard.
  const consent = page.locator('input[name="prompt"][value="consent"]');
  const back = (url: URL) => url.origin === gw.baseUrl;
  await Promise.race([
    page.waitForURL(back, { timeout: 10_000 }).catch(() => undefined),
    consent.waitFor({ state: 'attached', timeout: 10_000 }).catch(() => undefined),
  ]);
  if (!back(new URL(page.url())) && (await consent.count()) > 0) await page.locator(loginPageSelectors.submit).click();
  await page.waitForURL(back, { timeout: 10_000 });
}

/** Waits for the dashboard proper (after the short "Signed in" page moves on). */
async function onDashboard(path = '/'): Promise<void> {
  await page.waitForURL((url) => url.origin === gw.baseUrl && url.pathname === path, { timeout: 10_000 });
  await page.locator('.who').waitFor({ timeout: 10_000 });
}

function agentCall(jobId: number): Promise<CallToolResult> {
  return gw.connect('agent-a').then(
    (client) =>
      client.callTool({ name: 'run_job', arguments: { params: { job_id: jobId } } }, CallToolResultSchema, {
        onprogress: () => undefined,
        resetTimeoutOnProgress: true,
        timeout: 60_000,
      }) as Promise<CallToolResult>,
  );
}

async function cardFor(jobId: number) {
  const card = page.locator('article[data-approval-id]', { hasText: `params.job_id` }).filter({ hasText: String(jobId) });
  await card.first().waitFor({ timeout: 15_000 });
  return card.first();
}

/** Audit events of one type, newest first. */
async function auditEvents(type: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${gw.baseUrl}/api/audit?type=${type}`, { headers: { authorization: `Bearer ${adminToken}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { events: Array<Record<string, unknown>> }).events;
}

describe('signing in to the dashboard at the identity provider', () => {
  it('signs a person in through the provider’s login page and shows their name and role', async () => {
    await page.goto(`${gw.baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await screenshot(page, 'oidc-login');
    await signIn('alice');
    await onDashboard();
    expect(await page.locator('.who').textContent()).toMatch(/Signed in as\s*Alice Approver\s*\(approver\)/);
    const cookies = await context.cookies(gw.baseUrl);
    const session = cookies.find((c) => c.name === 'airlock_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookies.find((c) => c.name === 'airlock_oidc_flow')).toBeUndefined();
    const [latest] = await auditEvents('dashboard_sign_in');
    expect(latest).toMatchObject({ actor: { kind: 'dashboard', id: 'U0ALICE', name: 'Alice Approver' }, details: { method: 'oidc', role: 'approver' } });
    await screenshot(page, 'oidc-signed-in');
  });

  it('fits the sign-in page and the refusal page on a 375px-wide phone', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`${gw.baseUrl}/login`);
    await page.getByText('Sign in with a token').click();
    expect(await horizontalOverflow(page)).toEqual({ overflowPx: 0, offenders: [] });
    await screenshot(page, 'oidc-login-phone');
    await signIn('olga');
    await page.getByRole('heading', { name: 'No dashboard access' }).waitFor();
    expect(await horizontalOverflow(page)).toEqual({ overflowPx: 0, offenders: [] });
  });

  it('returns the person to the page they asked for', async () => {
    await signIn('vera', '/policy');
    await onDashboard('/policy');
  });

  it('refuses a person whose groups map to no role, with a page that says so', async () => {
    await signIn('olga');
    await page.getByRole('heading', { name: 'No dashboard access' }).waitFor();
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).toContain('You signed in at Test IdP as Olga Outsider');
    expect(text).toContain('none of your groups gives a dashboard role (your groups: data-eng)');
    expect((await context.cookies(gw.baseUrl)).find((c) => c.name === 'airlock_session')).toBeUndefined();
    await page.goto(`${gw.baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await screenshot(page, 'oidc-no-role');
  });

  it('refuses a callback whose sign-in flow it never started (forged or replayed)', async () => {
    await page.goto(`${gw.baseUrl}/login/oidc/callback?code=forged&state=forged`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign-in expired');
    expect((await context.cookies(gw.baseUrl)).find((c) => c.name === 'airlock_session')).toBeUndefined();
  });
});

describe('roles and approvers from the provider’s claims', () => {
  it('shows a viewer the held call without decide buttons, and refuses a forged approve with 403', async () => {
    const call = agentCall(101);
    await signIn('vera');
    await onDashboard();
    const card = await cardFor(101);
    expect(await card.locator('details.approve-confirm').count()).toBe(0);
    expect(await card.getByRole('button', { name: /^Deny/ }).count()).toBe(0);
    const approvalId = (await card.getAttribute('data-approval-id')) ?? '';
    // The session's own CSRF token (from the sign-out form) and its cookie: only the role stands in the way.
    const csrf = (await page.locator('form[action="/logout"] input[name="_csrf"]').getAttribute('value')) ?? '';
    const forged = await page.request.post(`${gw.baseUrl}/approvals/${approvalId}/approve`, {
      form: { _csrf: csrf },
      headers: { origin: gw.baseUrl },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);
    expect(await forged.text()).toContain('Your dashboard role is viewer, which may not approve or deny calls');
    const pending = await fetch(`${gw.baseUrl}/api/approvals/${approvalId}`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(((await pending.json()) as { approval: { status: string } }).approval.status).toBe('pending');
    // Leave nothing held for the next test.
    await fetch(`${gw.baseUrl}/api/approvals/${approvalId}/deny`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'test cleanup' }),
    });
    expect((await call).isError).toBe(true);
  });

  it('lets an approver whose Slack id the policy names approve a held run_job; the agent gets its run id', async () => {
    const call = agentCall(102);
    await signIn('alice');
    await onDashboard();
    const card = await cardFor(102);
    await card.locator('details.approve-confirm > summary').click();
    await card.getByRole('button', { name: /^Yes, approve/ }).click();
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number) });
    expect(callLog.calls().filter((c) => c.tool === 'run_job' && JSON.stringify(c.arguments).includes('102'))).toHaveLength(1);
    const approved = (await auditEvents('approved'))[0];
    expect(approved).toMatchObject({ actor: { kind: 'dashboard', id: 'U0ALICE', name: 'Alice Approver' } });
  });

  it('refuses an approver-role person whose Slack id is not among the policy’s approvers, saying why', async () => {
    const call = agentCall(103);
    await signIn('mallory');
    await onDashboard();
    const card = await cardFor(103);
    const approvalId = (await card.getAttribute('data-approval-id')) ?? '';
    await card.locator('details.approve-confirm > summary').click();
    await card.getByRole('button', { name: /^Yes, approve/ }).click();
    await page.waitForURL(`${gw.baseUrl}/`);
    const flash = (await page.locator('.flash').first().textContent()) ?? '';
    expect(flash).toContain('you are not an approver for run_job');
    await screenshot(page, 'oidc-not-an-approver');
    const refused = (await auditEvents('unauthorized_approver'))[0];
    expect(refused).toMatchObject({ approvalId, actor: { id: 'U0MALLORY' } });
    await fetch(`${gw.baseUrl}/api/approvals/${approvalId}/deny`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'test cleanup' }),
    });
    expect((await call).isError).toBe(true);
  });
});

describe('how a session from the provider ends', () => {
  it('ends at the configured maximum and sends the person back to sign in', async () => {
    await signIn('alice');
    await onDashboard();
    skewMs = maxSessionMs - 60_000;
    // Within the maximum (re-checked at the provider on the way, since 5 minutes have passed): still in.
    await page.goto(`${gw.baseUrl}/`);
    await onDashboard();
    skewMs = maxSessionMs + 1_000;
    await page.goto(`${gw.baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(await page.getByRole('status').first().textContent()).toContain('Your session has ended');
    await screenshot(page, 'oidc-session-ended');
  });

  it('ends within one re-check interval once the provider no longer puts the person in a mapped group', async () => {
    await signIn('alice');
    await onDashboard();
    const alice = users['alice'];
    if (alice?.claims) alice.claims['groups'] = ['data-eng'];
    // Before the interval is up the session stands on the last check …
    skewMs = revalidateMs - 1_000;
    await page.goto(`${gw.baseUrl}/`);
    await onDashboard();
    // … after it, the refresh at the provider shows the group is gone.
    skewMs = revalidateMs + 1_000;
    await page.goto(`${gw.baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    const ended = logLines.filter((line) => line['msg'] === 'dashboard session ended').at(-1);
    expect(String(ended?.['why'])).toContain('no longer gives a role');
  });

  it('ends when the provider refuses the refresh (the person was removed there)', async () => {
    await signIn('vera');
    await onDashboard();
    delete users['vera'];
    skewMs = revalidateMs + 1_000;
    await page.goto(`${gw.baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    const ended = logLines.filter((line) => line['msg'] === 'dashboard session ended').at(-1);
    expect(String(ended?.['why'])).toContain('refused to confirm it');
  });

  it('ends at once when the person signs out at the provider (back-channel logout)', async () => {
    await signIn('alice');
    await onDashboard();
    // Signing out at the provider itself (another application's sign-out button would do the same).
    await page.goto(`${idp.issuer}/session/end`);
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL((url) => url.pathname.includes('/session/end/success'), { timeout: 10_000 });
    await expect
      .poll(() => logLines.some((line) => line['msg'] === 'dashboard sessions ended by the identity provider (back-channel logout)' && line['ended'] === 1))
      .toBe(true);
    await page.goto(`${gw.baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
  });

  it('refuses a logout token the provider did not sign', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sub: 'alice' })
      .setProtectedHeader({ alg: 'RS256', kid: 'not-the-providers' })
      .setIssuer(idp.issuer)
      .setAudience(clientId)
      .setIssuedAt()
      .setJti('forged-1')
      .sign(privateKey);
    const res = await fetch(`${gw.baseUrl}/login/oidc/backchannel-logout`, { method: 'POST', body: new URLSearchParams({ logout_token: forged }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('signs out of Airlock and then at the provider’s end-session endpoint', async () => {
    await signIn('alice');
    await onDashboard();
    await page.getByRole('button', { name: 'Log out' }).click();
    // The provider asks to confirm signing out of it too, then returns to Airlock's sign-in page.
    await page.waitForURL((url) => url.origin === idp.issuer, { timeout: 10_000 });
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL(`${gw.baseUrl}/login`, { timeout: 10_000 });
    await page.goto(`${gw.baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
  });
});

describe('the admin token as break-glass', () => {
  it('still signs in with the admin token, loudly: a warn log line and an audit entry naming it break-glass', async () => {
    await page.goto(`${gw.baseUrl}/login`);
    await page.getByText('Sign in with a token').click();
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Dashboard token or admin token').fill(adminToken);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await onDashboard();
    expect(await page.locator('.who').textContent()).toMatch(/admin\s*\(admin\)/);
    const warn = logLines.find((line) => String(line['msg']).startsWith('BREAK-GLASS'));
    expect(warn).toMatchObject({ level: 40, login: 'admin' });
    const [entry] = await auditEvents('dashboard_sign_in');
    expect(entry).toMatchObject({ actor: { kind: 'admin', id: 'admin:dashboard' }, details: { method: 'break-glass' } });
    expect(String(entry?.['reason'])).toContain('break-glass');
  });
});
