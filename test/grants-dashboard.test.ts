/**
 * Standing grants in the dashboard over HTTP (supertest against a real port, real approvals core
 * on real Redis): the approve form offers a grant up to the policy's longest with this call's
 * pinnable values; approving with one makes the grant; the Grants page lists it and revokes it,
 * after which the call path's lookup no longer finds it.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureAdminToken, loginNameOf, startDashboardFixture, type DashboardFixture } from './helpers/browser.js';

let fx: DashboardFixture;
beforeAll(async () => {
  fx = await startDashboardFixture();
});
afterAll(async () => {
  await fx?.close();
});

function csrfOf(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error('no CSRF field on the page');
  return match[1];
}

async function signedIn(token: string) {
  const agent = request.agent(fx.baseUrl);
  const form = await agent.get('/login').expect(200);
  await agent
    .post('/login')
    .set('Origin', fx.baseUrl)
    .type('form')
    .send({ _csrf: csrfOf(form.text), user: loginNameOf(token), token })
    .expect(303);
  return { agent, csrf: csrfOf((await agent.get('/').expect(200)).text) };
}

const grantSettings = { grants: { pin: ['params.job_id'], maxDurationMs: 4 * 3_600_000 } };

describe('standing grants in the dashboard', () => {
  it('offers a grant on the approve form, makes it, lists it and revokes it', async () => {
    const plain = await fx.hold();
    // The pipeline computes the pins' digests from the full arguments; here they are given as it would store them.
    const jobId = 4242;
    const offered = await fx.hold({ settings: grantSettings, grantPins: [{ path: 'params.job_id', digest: 'hmac-sha256:pinned', shown: jobId }] });
    const { agent, csrf } = await signedIn(fixtureAdminToken);

    const page = await agent.get(`/approvals/${offered.id}`).expect(200);
    expect(page.text).toContain('<option value="" selected>— nothing more: approve once —</option>');
    expect(page.text).toContain('<option value="14400s">4 h</option>');
    expect(page.text).not.toContain('8 h');
    expect(page.text).toContain(`name="pin" value="params.job_id" checked`);
    expect(page.text).toContain(`<code>params.job_id</code> = <code>${jobId}</code>`);
    expect((await agent.get(`/approvals/${plain.id}`).expect(200)).text).not.toContain('name="grant"');

    const tooLong = await agent
      .post(`/approvals/${offered.id}/approve`)
      .set('Origin', fx.baseUrl)
      .type('form')
      .send({ _csrf: csrf, grant: '86400s', pin: 'params.job_id', pinsOffered: '1' })
      .expect(303);
    expect(tooLong.headers['location']).toBe('/');
    expect((await agent.get('/').expect(200)).text).toContain('may last at most 4 h (policy approval.grants.max_duration)');
    expect((await fx.approvals.get(offered.id))?.status).toBe('pending');

    await agent
      .post(`/approvals/${offered.id}/approve`)
      .set('Origin', fx.baseUrl)
      .type('form')
      .send({ _csrf: csrf, grant: '3600s', pin: 'params.job_id', pinsOffered: '1', reason: 'backfill' })
      .expect(303);
    const home = await agent.get('/').expect(200);
    expect(home.text).toMatch(
      new RegExp(`Approved run_job from agent-a \\(${offered.id}\\), and granted agent-a run_job with params.job_id=${jobId} until \\S+ \\(grant grt_`),
    );
    const [grant] = await fx.approvals.listGrants(10);
    expect(grant).toMatchObject({ agent: 'agent-a', tool: 'run_job', approvalId: offered.id, createdBy: { kind: 'admin' } });
    const query = { agent: 'agent-a', tool: 'run_job', digests: { 'params.job_id': 'hmac-sha256:pinned' }, maxDurationMs: 4 * 3_600_000 };
    expect((await fx.approvals.findGrant(query))?.id).toBe(grant!.id);

    const list = await agent.get('/grants').expect(200);
    expect(list.text).toContain(`<code>run_job</code> for agent-a <span class="muted id">${grant!.id}</span>`);
    expect(list.text).toContain(`action="/grants/${grant!.id}/revoke"`);
    await agent.post(`/grants/${grant!.id}/revoke`).set('Origin', fx.baseUrl).type('form').send({ _csrf: csrf, reason: 'done' }).expect(303);
    const after = await agent.get('/grants').expect(200);
    expect(after.text).toContain(`Revoked ${grant!.id}: run_job from agent-a with params.job_id=${jobId} is held for approval again.`);
    expect(after.text).toContain('No live grants.');
    expect(await fx.approvals.findGrant(query)).toBeUndefined();
  });
});
