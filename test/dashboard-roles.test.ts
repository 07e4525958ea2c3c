/**
 * Dashboard roles (viewer / approver / admin) decide who may decide, read the history and export
 * it; sign-in throttling counts failures per user name and per client address, and believes
 * X-Forwarded-For only behind `dashboard.trustProxy`. Real HTTP against the dashboard on real
 * parts (approvals core, audit store, Redis).
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureAdminToken, fixtureUsers, loginNameOf, startDashboardFixture, type DashboardFixture } from './helpers/browser.js';

type Agent = ReturnType<typeof request.agent>;

function csrfOf(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error('no CSRF field on the page');
  return match[1];
}

async function signIn(fx: DashboardFixture, token: string): Promise<{ agent: Agent; csrf: string }> {
  const agent = request.agent(fx.baseUrl);
  const form = await agent.get('/login').expect(200);
  await agent
    .post('/login')
    .set('Origin', fx.baseUrl)
    .type('form')
    .send({ _csrf: csrfOf(form.text), user: loginNameOf(token), token })
    .expect(303);
  const home = await agent.get('/').expect(200);
  return { agent, csrf: /name="_csrf" value="([^"]+)"/.exec(home.text)?.[1] ?? '' };
}

describe('dashboard roles', () => {
  let fx: DashboardFixture;
  beforeAll(async () => {
    fx = await startDashboardFixture();
  });
  afterAll(() => fx?.close());

  it('lets a viewer see pending calls but not decide, read the history or export it — even when the policy names them an approver', async () => {
    const record = await fx.hold();
    const { agent, csrf } = await signIn(fx, fixtureUsers.victor.token);
    const home = await agent.get('/').expect(200);
    expect(home.text).toContain(record.id);
    expect(home.text).toContain('Signed in as <strong>victor</strong> (viewer)');
    expect(home.text).not.toContain(`/approvals/${record.id}/approve`);
    expect(home.text).not.toContain('href="/history"');

    const decided = await agent.post(`/approvals/${record.id}/approve`).set('Origin', fx.baseUrl).type('form').send({ _csrf: csrf });
    expect(decided.status).toBe(403);
    expect(decided.text).toContain('dashboard.users.victor.role');
    expect((await fx.approvals.get(record.id))?.status).toBe('pending');

    const history = await agent.get('/history').expect(403);
    expect(history.text).toContain('may not read the audit history');
    await agent.get('/history/export?format=jsonl').expect(403);
    await agent.get('/policy').expect(200);
  });

  it('lets an approver decide and read the history, but not export it', async () => {
    const record = await fx.hold();
    const { agent, csrf } = await signIn(fx, fixtureUsers.alice.token);
    await agent.post(`/approvals/${record.id}/approve`).set('Origin', fx.baseUrl).type('form').send({ _csrf: csrf }).expect(303);
    expect((await fx.approvals.get(record.id))?.status).toBe('approved');
    const history = await agent.get('/history').expect(200);
    expect(history.text).not.toContain('/history/export');
    const exported = await agent.get('/history/export?format=csv').expect(403);
    expect(exported.text).toContain('may not export the audit history (that needs admin)');
  });

  it('lets the admin export', async () => {
    const { agent } = await signIn(fx, fixtureAdminToken);
    const history = await agent.get('/history').expect(200);
    expect(history.text).toContain('/history/export');
    const exported = await agent.get('/history/export?format=jsonl').expect(200);
    expect(exported.text.length).toBeGreaterThan(0);
  });
});

describe('sign-in throttling', () => {
  async function attempt(fx: DashboardFixture, user: string, token: string, forwardedFor?: string): Promise<number> {
    const agent = request.agent(fx.baseUrl);
    const csrf = csrfOf((await agent.get('/login').expect(200)).text);
    let post = agent.post('/login').set('Origin', fx.baseUrl).type('form');
    if (forwardedFor !== undefined) post = post.set('X-Forwarded-For', forwardedFor);
    return (await post.send({ _csrf: csrf, user, token })).status;
  }

  it('behind a trusted proxy, locks out the address that failed, not everyone behind the proxy', async () => {
    const fx = await startDashboardFixture({ trustProxyHops: 1 });
    try {
      for (let i = 0; i < 10; i += 1) expect(await attempt(fx, `nobody-${i}`, 'wrong', `198.51.100.${i}, 203.0.113.7`)).toBe(401);
      expect(await attempt(fx, 'admin', fixtureAdminToken, '203.0.113.7')).toBe(429);
      expect(await attempt(fx, 'admin', fixtureAdminToken, '203.0.113.8')).toBe(303);
    } finally {
      await fx.close();
    }
  });

  it('without a trusted proxy, ignores X-Forwarded-For: spoofing it does not escape the lockout', async () => {
    const fx = await startDashboardFixture();
    try {
      for (let i = 0; i < 10; i += 1) expect(await attempt(fx, `nobody-${i}`, 'wrong', `192.0.2.${i}`)).toBe(401);
      expect(await attempt(fx, 'admin', fixtureAdminToken, '192.0.2.200')).toBe(429);
    } finally {
      await fx.close();
    }
  });

  it("locks one user's sign-in after repeated failures from many addresses, leaving other users alone", async () => {
    const fx = await startDashboardFixture({ trustProxyHops: 1 });
    try {
      for (let i = 0; i < 10; i += 1) expect(await attempt(fx, 'admin', `guess-${i}`, `198.51.100.${i}`)).toBe(401);
      expect(await attempt(fx, 'admin', fixtureAdminToken, '198.51.100.99')).toBe(429);
      expect(await attempt(fx, 'alice', fixtureUsers.alice.token, '198.51.100.99')).toBe(303);
    } finally {
      await fx.close();
    }
  });
});
