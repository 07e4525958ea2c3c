/**
 * The operator dashboard over HTTP (supertest against a real port), on real parts: a real
 * approvals core, audit store, policy engine and rate limiter on real Redis. Covers sign-in and
 * sessions, the CSRF and origin guards, deciding through the core, escaping, and the headers.
 */
import { createHash } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fixtureAdminToken, fixtureUsers, loginNameOf, startDashboardFixture, type DashboardFixture } from './helpers/browser.js';
import { releaseApproved, runJobResult } from './helpers/approvals.js';

const ExportLine = z.object({ type: z.string(), approvalId: z.string().optional() });

let fx: DashboardFixture;

beforeAll(async () => {
  fx = await startDashboardFixture();
});
afterAll(async () => {
  await fx?.close();
});

type Agent = ReturnType<typeof request.agent>;

/** The value of a hidden `_csrf` field on a page. */
function csrfOf(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error('no CSRF field on the page');
  return match[1];
}

/** Signs in through the form as a browser would; returns the session's CSRF token. */
async function signIn(agent: Agent, token: string): Promise<string> {
  const form = await agent.get('/login').expect(200);
  const res = await agent
    .post('/login')
    .set('Origin', fx.baseUrl)
    .type('form')
    .send({ _csrf: csrfOf(form.text), user: loginNameOf(token), token });
  expect(res.status).toBe(303);
  expect(res.headers['location']).toBe('/');
  const home = await agent.get('/').expect(200);
  return csrfOf(home.text);
}

async function signedIn(token: string): Promise<{ agent: Agent; csrf: string }> {
  const agent = request.agent(fx.baseUrl);
  return { agent, csrf: await signIn(agent, token) };
}

function sessionCookieOf(res: request.Response): string | undefined {
  const cookies = res.headers['set-cookie'];
  const list = Array.isArray(cookies) ? cookies : typeof cookies === 'string' ? [cookies] : [];
  return list.find((c) => c.startsWith('airlock_session='));
}

describe('signing in to the dashboard', () => {
  it('serves the sign-in page with strict security headers and without any secret', async () => {
    const res = await request(fx.baseUrl).get('/login').expect(200);
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('same-origin');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.text).not.toContain(fixtureAdminToken);
    expect(res.text).not.toMatch(/<script>|<style>|\sstyle="|\son[a-z]+="/i);
    expect(res.text).toContain('<label for="token">');
  });

  it('starts a session with an HttpOnly, SameSite=Strict, Path=/ cookie after the admin token', async () => {
    const agent = request.agent(fx.baseUrl);
    const form = await agent.get('/login').expect(200);
    const res = await agent
      .post('/login')
      .set('Origin', fx.baseUrl)
      .type('form')
      .send({ _csrf: csrfOf(form.text), user: 'admin', token: fixtureAdminToken })
      .expect(303);
    const cookie = sessionCookieOf(res);
    expect(cookie).toMatch(/^airlock_session=[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\/(;|$)/);
    expect(res.headers['location']).toBe('/');
    expect(res.text).not.toContain(fixtureAdminToken);

    const id = /^airlock_session=([^;]+)/.exec(cookie ?? '')?.[1] ?? '';
    const key = `${fx.prefix}dashboard-session:${createHash('sha256').update(id).digest('hex')}`;
    const stored = await fx.redis.get(key);
    expect(JSON.parse(stored ?? '{}')).toMatchObject({ login: 'admin', actor: { kind: 'admin', id: 'admin:dashboard' } });
    expect(stored).not.toContain(id);
    const ttl = await fx.redis.pttl(key);
    expect(ttl).toBeGreaterThan(11 * 3_600_000);
    expect(ttl).toBeLessThanOrEqual(12 * 3_600_000);

    const home = await agent.get('/').expect(200);
    expect(home.text).toContain('Signed in as <strong>admin</strong>');
  });

  it('lets a dashboard user sign in with their own token', async () => {
    const { agent } = await signedIn(fixtureUsers.alice.token);
    const home = await agent.get('/').expect(200);
    expect(home.text).toContain('Signed in as <strong>alice</strong>');
  });

  it('returns to the page that asked for sign-in, and never to another site', async () => {
    const record = await fx.hold();
    const agent = request.agent(fx.baseUrl);
    const asked = await agent.get(`/approvals/${record.id}`).expect(303);
    const form = await agent.get(String(asked.headers['location'])).expect(200);
    expect(form.text).toContain(`name="next" value="/approvals/${record.id}"`);
    const res = await agent
      .post('/login')
      .set('Origin', fx.baseUrl)
      .type('form')
      .send({ _csrf: csrfOf(form.text), user: 'admin', token: fixtureAdminToken, next: `/approvals/${record.id}` });
    expect(res.headers['location']).toBe(`/approvals/${record.id}`);
    for (const next of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)']) {
      const page = await request
        .agent(fx.baseUrl)
        .get(`/login?next=${encodeURIComponent(next)}`)
        .expect(200);
      expect(page.text).toContain('name="next" value="/"');
    }
  });

  it('refuses a wrong token and starts no session', async () => {
    const agent = request.agent(fx.baseUrl);
    const form = await agent.get('/login').expect(200);
    const res = await agent
      .post('/login')
      .set('Origin', fx.baseUrl)
      .type('form')
      .send({ _csrf: csrfOf(form.text), token: 'not-a-token' });
    expect(res.status).toBe(401);
    expect(res.text).toContain('That user name and token do not match');
    expect(sessionCookieOf(res)).toBeUndefined();
    await agent.get('/').expect(303).expect('location', '/login');
  });

  it('refuses a sign-in post from another site or without the form pairing', async () => {
    const agent = request.agent(fx.baseUrl);
    const form = await agent.get('/login').expect(200);
    const csrf = csrfOf(form.text);
    const foreign = await agent
      .post('/login')
      .set('Origin', 'https://evil.example')
      .type('form')
      .send({ _csrf: csrf, user: 'admin', token: fixtureAdminToken });
    expect(foreign.status).toBe(403);
    expect(sessionCookieOf(foreign)).toBeUndefined();
    const noCsrf = await agent.post('/login').set('Origin', fx.baseUrl).type('form').send({ user: 'admin', token: fixtureAdminToken });
    expect(noCsrf.status).toBe(403);
    const fresh = await request(fx.baseUrl)
      .post('/login')
      .set('Origin', fx.baseUrl)
      .type('form')
      .send({ _csrf: csrf, user: 'admin', token: fixtureAdminToken });
    expect(fresh.status).toBe(403); // the right value, but without the cookie it pairs with
  });

  it('ends the session on logout, in Redis too', async () => {
    const { agent, csrf } = await signedIn(fixtureAdminToken);
    const before = (await fx.redis.keys(`${fx.prefix}dashboard-session:*`)).length;
    const res = await agent.post('/logout').set('Origin', fx.baseUrl).type('form').send({ _csrf: csrf }).expect(303);
    expect(res.headers['location']).toBe('/login');
    expect(String(res.headers['set-cookie'])).toMatch(/airlock_session=;/);
    expect((await fx.redis.keys(`${fx.prefix}dashboard-session:*`)).length).toBe(before - 1);
    await agent.get('/').expect(303);
  });
});

describe('an unauthenticated visitor', () => {
  it('is sent to sign in and sees no held call', async () => {
    const record = await fx.hold({ agent: 'agent-secret' });
    const anonymous = request(fx.baseUrl);
    await anonymous.get('/').expect(303).expect('location', '/login');
    const detail = await anonymous.get(`/approvals/${record.id}`).expect(303);
    expect(detail.headers['location']).toBe(`/login?next=${encodeURIComponent(`/approvals/${record.id}`)}`);
    await anonymous.get('/history').expect(303);
    await anonymous.get('/policy').expect(303);
    for (const path of ['/fragments/pending', '/history/export?format=csv']) {
      const res = await anonymous.get(path);
      expect(res.status).toBe(401);
      expect(res.text).not.toContain(record.id);
      expect(res.text).not.toContain('agent-secret');
    }
    const post = await anonymous.post(`/approvals/${record.id}/approve`).set('Origin', fx.baseUrl).type('form').send({ _csrf: 'x' });
    expect(post.status).toBe(401);
    expect((await fx.approvals.get(record.id))?.status).toBe('pending');
  });

  it('cannot forge a session cookie', async () => {
    const res = await request(fx.baseUrl)
      .get('/')
      .set('Cookie', `airlock_session=${'A'.repeat(43)}`);
    expect(res.status).toBe(303);
  });
});

describe('deciding through the dashboard', () => {
  it('approves a held call through the approvals core as the admin', async () => {
    const record = await fx.hold();
    const { agent, csrf } = await signedIn(fixtureAdminToken);
    const pending = await agent.get('/').expect(200);
    expect(pending.text).toContain(record.id);
    expect(pending.text).toContain('params.job_id');
    expect(pending.text).toContain('params.notebook_params');

    const res = await agent.post(`/approvals/${record.id}/approve`).set('Origin', fx.baseUrl).type('form').send({ _csrf: csrf, return: '/' });
    expect(res.status).toBe(303);
    expect(res.headers['location']).toBe('/');
    const after = await fx.approvals.get(record.id);
    expect(after?.status).toBe('approved');
    expect(after?.decidedBy).toMatchObject({ kind: 'admin', id: 'admin:dashboard' });
    const home = await agent.get('/').expect(200);
    expect(home.text).toMatch(/role="status">Approved run_job from agent-a \(apr_/);
    expect(home.text).not.toContain(`data-approval-id="${record.id}"`);
    // The flash is shown once.
    expect((await agent.get('/').expect(200)).text).not.toContain('Approved run_job');
  });

  it('lists a call whose upstream run failed under "Failed or outcome unknown" with a re-run form, and records the re-run as the signed-in person', async () => {
    const record = await fx.hold({ agent: 'agent-rerun' });
    await fx.approvals.decide(record.id, { kind: 'slack', id: 'U0APPROVER2', name: 'carol' }, 'approve', undefined);
    await expect(
      releaseApproved(fx.approvals, record.id, async () => {
        throw new Error('upstream connection reset');
      }),
    ).rejects.toThrow();
    const { agent, csrf } = await signedIn(fixtureAdminToken);
    const home = await agent.get('/').expect(200);
    expect(home.text).toContain('Failed or outcome unknown');
    expect(home.text).toContain(`action="/approvals/${record.id}/rerun"`);
    const page = await agent.get(`/approvals/${record.id}`).expect(200);
    expect(page.text).toContain('upstream_failure after');
    expect(page.text).toContain('Approve re-run');

    const res = await agent.post(`/approvals/${record.id}/rerun`).set('Origin', fx.baseUrl).type('form').send({ _csrf: csrf, return: '/' });
    expect(res.status).toBe(303);
    expect(await fx.approvals.get(record.id)).toMatchObject({ status: 'approved', attempt: 2, decidedBy: { kind: 'admin', id: 'admin:dashboard' } });
    expect((await agent.get('/').expect(200)).text).toMatch(/role="status">Approved a re-run of run_job from agent-rerun/);
    const again = await agent.post(`/approvals/${record.id}/rerun`).set('Origin', fx.baseUrl).type('form').send({ _csrf: csrf, return: '/' });
    expect(again.status).toBe(303);
    expect((await agent.get('/').expect(200)).text).toMatch(/a re-run is only for a call that failed or whose outcome is unknown/);
  });

  it('denies with a reason as a dashboard approver, recorded as their Slack user', async () => {
    const record = await fx.hold();
    const { agent, csrf } = await signedIn(fixtureUsers.alice.token);
    await agent
      .post(`/approvals/${record.id}/deny`)
      .set('Origin', fx.baseUrl)
      .type('form')
      .send({ _csrf: csrf, reason: 'not during the freeze', return: `/approvals/${record.id}` })
      .expect(303)
      .expect('location', `/approvals/${record.id}`);
    const after = await fx.approvals.get(record.id);
    expect(after?.status).toBe('denied');
    expect(after?.reason).toBe('not during the freeze');
    expect(after?.decidedBy).toEqual({ kind: 'dashboard', id: 'U0APPROVER1', name: 'alice' });
    const detail = await agent.get(`/approvals/${record.id}`).expect(200);
    expect(detail.text).toContain('Denied run_job from agent-a');
    expect(detail.text).toContain('not during the freeze');
  });

  it('tells a dashboard user who is not an approver why, and changes nothing', async () => {
    const record = await fx.hold();
    const { agent, csrf } = await signedIn(fixtureUsers.mallory.token);
    await agent.post(`/approvals/${record.id}/approve`).set('Origin', fx.baseUrl).type('form').send({ _csrf: csrf }).expect(303);
    expect((await fx.approvals.get(record.id))?.status).toBe('pending');
    const home = await agent.get('/').expect(200);
    expect(home.text).toContain(`role="alert">Not authorized to decide ${record.id}: you are not an approver for run_job. Nothing changed.`);
    const story = await fx.auditStore.story(record.id);
    expect(story.map((e) => e.type)).toEqual(['approval_requested', 'unauthorized_approver']);
    expect(story[1]?.actor).toEqual({ kind: 'dashboard', id: 'U0NOTAPPROVER', name: 'mallory' });
  });

  it('a dashboard user without a Slack id decides as dashboard:<name> and is held to the approver list', async () => {
    const record = await fx.hold({ settings: { approvers: ['dashboard:bob'] } });
    const { agent, csrf } = await signedIn(fixtureUsers.bob.token);
    await agent.post(`/approvals/${record.id}/approve`).set('Origin', fx.baseUrl).type('form').send({ _csrf: csrf }).expect(303);
    expect((await fx.approvals.get(record.id))?.decidedBy).toEqual({ kind: 'dashboard', id: 'dashboard:bob', name: 'bob' });
  });

  it('shows quorum progress after the first of two approvals, then says who decided', async () => {
    const record = await fx.hold({ settings: { quorum: 2 } });
    const alice = await signedIn(fixtureUsers.alice.token);
    await alice.agent.post(`/approvals/${record.id}/approve`).set('Origin', fx.baseUrl).type('form').send({ _csrf: alice.csrf }).expect(303);
    const page = await alice.agent.get('/').expect(200);
    expect(page.text).toContain(`Your approval of ${record.id} is recorded: 1 of 2 approvals.`);
    const card = page.text.slice(page.text.indexOf(`data-approval-id="${record.id}"`));
    expect(card).toContain('<strong>1 of 2</strong>');
    expect(card).toContain('alice (U0APPROVER1)');

    const admin = await signedIn(fixtureAdminToken);
    await admin.agent.post(`/approvals/${record.id}/deny`).set('Origin', fx.baseUrl).type('form').send({ _csrf: admin.csrf, reason: 'no' }).expect(303);
    await alice.agent.post(`/approvals/${record.id}/approve`).set('Origin', fx.baseUrl).type('form').send({ _csrf: alice.csrf }).expect(303);
    const again = await alice.agent.get('/').expect(200);
    expect(again.text).toContain(`${record.id} was already denied by admin (admin:dashboard); your approval changed nothing.`);
  });

  it('says so when the approval does not exist', async () => {
    const { agent, csrf } = await signedIn(fixtureAdminToken);
    await agent.post('/approvals/apr_doesnotexist/approve').set('Origin', fx.baseUrl).type('form').send({ _csrf: csrf }).expect(303);
    expect((await agent.get('/').expect(200)).text).toContain('No approval apr_doesnotexist');
  });
});

describe('the CSRF guard', () => {
  it('refuses a decision without the CSRF token and changes nothing', async () => {
    const record = await fx.hold();
    const { agent } = await signedIn(fixtureAdminToken);
    const res = await agent.post(`/approvals/${record.id}/approve`).set('Origin', fx.baseUrl).type('form').send({});
    expect(res.status).toBe(403);
    const wrong = await agent
      .post(`/approvals/${record.id}/approve`)
      .set('Origin', fx.baseUrl)
      .type('form')
      .send({ _csrf: 'A'.repeat(43) });
    expect(wrong.status).toBe(403);
    expect((await fx.approvals.get(record.id))?.status).toBe('pending');
  });

  it('refuses a decision from a foreign origin, even with the right token, and changes nothing', async () => {
    const record = await fx.hold();
    const { agent, csrf } = await signedIn(fixtureAdminToken);
    const foreign = await agent.post(`/approvals/${record.id}/approve`).set('Origin', 'https://evil.example').type('form').send({ _csrf: csrf });
    expect(foreign.status).toBe(403);
    const nullOrigin = await agent
      .post(`/approvals/${record.id}/approve`)
      .set('Origin', 'null')
      .set('Sec-Fetch-Site', 'cross-site')
      .type('form')
      .send({ _csrf: csrf });
    expect(nullOrigin.status).toBe(403);
    const foreignReferer = await agent.post(`/approvals/${record.id}/deny`).set('Referer', 'https://evil.example/page').type('form').send({ _csrf: csrf });
    expect(foreignReferer.status).toBe(403);
    const noEvidence = await agent.post(`/approvals/${record.id}/deny`).type('form').send({ _csrf: csrf });
    expect(noEvidence.status).toBe(403);
    expect((await fx.approvals.get(record.id))?.status).toBe('pending');
    expect((await fx.auditStore.story(record.id)).map((e) => e.type)).toEqual(['approval_requested']);
  });

  it('accepts the token in the X-CSRF-Token header and a same-origin Referer', async () => {
    const record = await fx.hold();
    const { agent, csrf } = await signedIn(fixtureAdminToken);
    await agent.post(`/approvals/${record.id}/approve`).set('Referer', `${fx.baseUrl}/`).set('X-CSRF-Token', csrf).type('form').send({}).expect(303);
    expect((await fx.approvals.get(record.id))?.status).toBe('approved');
  });

  it('accepts a browser that hides the origin (Origin: null) only when it vouches for the same site', async () => {
    const record = await fx.hold();
    const { agent, csrf } = await signedIn(fixtureAdminToken);
    await agent.post(`/approvals/${record.id}/deny`).set('Origin', 'null').set('Sec-Fetch-Site', 'same-site').type('form').send({ _csrf: csrf }).expect(403);
    expect((await fx.approvals.get(record.id))?.status).toBe('pending');
    await agent.post(`/approvals/${record.id}/deny`).set('Origin', 'null').set('Sec-Fetch-Site', 'same-origin').type('form').send({ _csrf: csrf }).expect(303);
    expect((await fx.approvals.get(record.id))?.status).toBe('denied');
  });

  it('guards logout and explain the same way', async () => {
    const { agent, csrf } = await signedIn(fixtureAdminToken);
    await agent.post('/logout').set('Origin', fx.baseUrl).type('form').send({}).expect(403);
    await agent.post('/policy/explain').set('Origin', 'https://evil.example').type('form').send({ _csrf: csrf, agent: 'agent-a', tool: 'run_job' }).expect(403);
    await agent.get('/').expect(200);
  });
});

describe('rendering', () => {
  it('escapes argument values, agent names and reasons', async () => {
    const hostile = '<script>alert(1)</script>';
    const args = { params: { job_id: 7, notebook_params: { note: hostile, quote: '"><img src=x onerror=alert(2)>' } } };
    const record = await fx.hold({ agent: 'agent-<b>x</b>', arguments: args, displayArguments: args });
    const { agent } = await signedIn(fixtureAdminToken);
    for (const path of ['/', `/approvals/${record.id}`, '/fragments/pending']) {
      const res = await agent.get(path).expect(200);
      expect(res.text).not.toContain('<script>alert(1)</script>');
      expect(res.text).not.toContain('<img src=x');
      expect(res.text).not.toContain('<b>x</b>');
    }
    const page = await agent.get(`/approvals/${record.id}`).expect(200);
    expect(page.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.text).toContain('agent-&lt;b&gt;x&lt;/b&gt;');
  });

  it('serves the stylesheet and the script from its own routes with the security headers', async () => {
    const css = await request(fx.baseUrl).get('/assets/dashboard.css').expect(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    expect(css.headers['x-content-type-options']).toBe('nosniff');
    const js = await request(fx.baseUrl).get('/assets/dashboard.js').expect(200);
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    expect(js.text).toContain('/fragments/pending');
    expect(js.text).not.toMatch(/https?:\/\//);
  });

  it('leaves paths it does not own to the rest of the app', async () => {
    const res = await request(fx.baseUrl).get('/no-such-page').expect(404);
    expect(res.headers['content-type']).toMatch(/json/);
    expect(res.headers['content-security-policy']).toBeUndefined();
  });
});

describe('history and policy', () => {
  it('lists audit events with filters and pages through them with a cursor', async () => {
    const first = await fx.hold({ agent: 'agent-history' });
    const second = await fx.hold({ agent: 'agent-history', arguments: { params: { job_id: 2 } }, displayArguments: { params: { job_id: 2 } } });
    await fx.approvals.decide(first.id, { kind: 'admin', id: 'admin:ops', name: 'ops' }, 'approve', undefined);
    const { agent } = await signedIn(fixtureAdminToken);

    const all = await agent.get('/history?agent=agent-history').expect(200);
    expect(all.text).toContain('<th scope="col">Event</th>');
    expect(all.text).toContain(first.id);
    expect(all.text).toContain(second.id);

    const approved = await agent.get('/history?agent=agent-history&type=approved').expect(200);
    expect(approved.text).toContain(first.id);
    expect(approved.text).not.toContain(`>${second.id}<`);

    const bad = await agent.get('/history?since=yesterday-ish').expect(400);
    expect(bad.text).toContain('&quot;since&quot; should be');

    const paged = await fx.auditStore.query({ agent: 'agent-history', limit: 1 });
    expect(paged.nextCursor).toBeDefined();
    const next = await agent.get(`/history?agent=agent-history&cursor=${paged.nextCursor ?? ''}`).expect(200);
    expect(next.text).toContain('Newest events');
  });

  it("tells a held call's story: requested, vote, decision and execution", async () => {
    const record = await fx.hold({ agent: 'agent-story' });
    await fx.approvals.decide(record.id, { kind: 'slack', id: 'U0APPROVER2', name: 'carol' }, 'approve', undefined);
    expect((await releaseApproved(fx.approvals, record.id, async () => runJobResult(9001))).kind).toBe('released');
    const { agent } = await signedIn(fixtureAdminToken);
    const page = await agent.get(`/approvals/${record.id}`).expect(200);
    const story = page.text.slice(page.text.indexOf('id="story-heading"'));
    const order = ['Approval requested', 'Approved', 'Executed'].map((label) => story.indexOf(`<strong>${label}</strong>`));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(story).toContain('carol (U0APPROVER2)');
    expect(story).toContain('run_id 9001');
    expect(page.text).not.toContain('action="/approvals/'); // decided: no decide forms
  });

  it('streams the audit export as CSV and JSON lines to a signed-in person', async () => {
    const record = await fx.hold({ agent: 'agent-export' });
    const { agent } = await signedIn(fixtureAdminToken);
    const csv = await agent.get('/history/export?format=csv&agent=agent-export').buffer(true).expect(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toMatch(/^attachment; filename="airlock-audit-.*\.csv"$/);
    expect(csv.text.split('\r\n')[0]).toMatch(/^id,time,seq,type,agent/);
    expect(csv.text).toContain(record.id);
    const jsonl = await agent
      .get('/history/export?format=jsonl&agent=agent-export')
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () => done(null, text));
      });
    expect(jsonl.status).toBe(200);
    const lines = String(jsonl.body)
      .trim()
      .split('\n')
      .map((line) => ExportLine.parse(JSON.parse(line)));
    expect(lines).toEqual([expect.objectContaining({ type: 'approval_requested', approvalId: record.id })]);
  });

  it('shows the policy table with current limit counts, and explains a call', async () => {
    const before = await fx.limiter.check([{ counter: 'run_job_per_grant', windowSec: 60, max: 10, scope: 'grant' }], { agent: 'agent-a', sessionId: 's1' });
    expect(before.admitted).toBe(true);
    const { agent, csrf } = await signedIn(fixtureAdminToken);
    const page = await agent.get('/policy').expect(200);
    expect(page.text).toContain('<th scope="col">Limits (now)</th>');
    expect(page.text).toContain('<code>run_job_per_grant</code>: 10 per minute per agent');
    expect(page.text).toContain('now: agent-a 1 of 10');
    expect(page.text).toContain(fx.policy.info()[0]?.version ?? 'no version');

    const explained = await agent
      .post('/policy/explain')
      .set('Origin', fx.baseUrl)
      .type('form')
      .send({ _csrf: csrf, agent: 'agent-a', tool: 'run_job', arguments: '{"params": {"job_id": 5}}' })
      .expect(200);
    expect(explained.text).toContain('Decision: <span class="badge badge-approve">approve</span>');
    expect(explained.text).toContain('<ol class="trace">');
    const invalid = await agent
      .post('/policy/explain')
      .set('Origin', fx.baseUrl)
      .type('form')
      .send({ _csrf: csrf, agent: 'agent-a', tool: 'run_job', arguments: '{}' })
      .expect(200);
    expect(invalid.text).toContain('badge-invalid_arguments');
    const badJson = await agent
      .post('/policy/explain')
      .set('Origin', fx.baseUrl)
      .type('form')
      .send({ _csrf: csrf, agent: 'agent-a', tool: 'run_job', arguments: '{nope' })
      .expect(400);
    expect(badJson.text).toContain('The arguments are not valid JSON');
  });
});

describe('failed sign-ins', () => {
  it('refuses further sign-ins from an address after too many failures', async () => {
    const own = await startDashboardFixture();
    try {
      const agent = request.agent(own.baseUrl);
      const csrf = csrfOf((await agent.get('/login').expect(200)).text);
      for (let i = 0; i < 10; i += 1)
        await agent
          .post('/login')
          .set('Origin', own.baseUrl)
          .type('form')
          .send({ _csrf: csrf, token: `wrong-${i}` })
          .expect(401);
      const blocked = await agent.post('/login').set('Origin', own.baseUrl).type('form').send({ _csrf: csrf, user: 'admin', token: fixtureAdminToken });
      expect(blocked.status).toBe(429);
      expect(sessionCookieOf(blocked)).toBeUndefined();
    } finally {
      await own.close();
    }
  });
});
