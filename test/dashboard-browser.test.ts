/**
 * The operator dashboard in a real browser (headless system Chromium via playwright-core)
 * against the dashboard served on a real port over real parts on real Redis: sign in, decide
 * held calls, watch the pending list refresh itself, read and export the history, read the
 * policy and explain a call, and check that every page fits a 375px-wide phone. Screenshots go
 * to test-output/screenshots/. No CSP violation or script error may appear on any page.
 */
import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  fixtureAdminToken,
  fixtureUsers,
  horizontalOverflow,
  launchBrowser,
  login,
  screenshot,
  startDashboardFixture,
  type DashboardFixture,
} from './helpers/browser.js';

let fx: DashboardFixture;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let problems: string[];

beforeAll(async () => {
  fx = await startDashboardFixture();
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  page = await context.newPage();
  problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
});
afterEach(async () => {
  await context?.close();
  expect(problems).toEqual([]);
});

/** The outline style of the focused element (page script as text: the test project has no DOM types). */
const focusOutline = 'getComputedStyle(document.activeElement).outlineStyle';

const card = (id: string) => page.locator(`article[data-approval-id="${id}"]`);

describe('the dashboard in a browser', () => {
  it('shows a held run_job with its job_id and notebook_params after signing in', async () => {
    const record = await fx.hold();
    await page.goto(`${fx.baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await screenshot(page, 'login');
    await login(page, fx.baseUrl, fixtureAdminToken);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Pending approvals');
    const item = card(record.id);
    await item.waitFor();
    expect(await item.locator('dt', { hasText: 'params.job_id' }).count()).toBe(1);
    const jobId = z.object({ params: z.object({ job_id: z.number() }) }).parse(record.displayArguments).params.job_id;
    expect(await item.locator('dd', { hasText: String(jobId) }).count()).toBeGreaterThan(0);
    expect(await item.textContent()).toContain('Running a job starts compute');
    expect(await item.locator('dt', { hasText: 'params.notebook_params' }).count()).toBe(1);
    expect(await item.textContent()).toContain('"env": "prod"');
    expect(await item.locator('time[data-countdown]').textContent()).toMatch(/^in \d+ (s|min( \d+ s)?)$/);
    await item.getByText('All arguments').click();
    expect(await item.locator('details.arguments pre').isVisible()).toBe(true);
    await screenshot(page, 'pending');
  });

  it('approves a held call with the Approve button', async () => {
    const record = await fx.hold();
    await login(page, fx.baseUrl, fixtureUsers.alice.token);
    // Approve asks first: the confirmation opens under "Approve…", and nothing is decided until it is confirmed.
    await card(record.id).locator('details.approve-confirm > summary').click();
    expect((await fx.approvals.get(record.id))?.status).toBe('pending');
    await screenshot(page, 'approve-confirm');
    await card(record.id)
      .getByRole('button', { name: /^Yes, approve/ })
      .click();
    await page.waitForURL(`${fx.baseUrl}/`);
    expect(await page.getByRole('status').first().textContent()).toContain(`Approved run_job from agent-a (${record.id})`);
    expect(await card(record.id).count()).toBe(0);
    const after = await fx.approvals.get(record.id);
    expect(after?.status).toBe('approved');
    expect(after?.decidedBy).toEqual({ kind: 'dashboard', id: 'U0APPROVER1', name: 'alice' });
    await screenshot(page, 'after-approve');
  });

  it('denies a held call with a reason', async () => {
    const record = await fx.hold();
    await login(page, fx.baseUrl, fixtureAdminToken);
    await card(record.id)
      .getByLabel(/Reason for denying/)
      .fill('job 1234 is frozen until Monday');
    await card(record.id).getByRole('button', { name: /^Deny/ }).click();
    await page.waitForURL(`${fx.baseUrl}/`);
    expect(await page.getByRole('status').first().textContent()).toContain('Denied run_job from agent-a');
    const after = await fx.approvals.get(record.id);
    expect(after?.status).toBe('denied');
    expect(after?.reason).toBe('job 1234 is frozen until Monday');
  });

  it('shows a call that is held while the page is open within a few seconds, without a reload', async () => {
    await login(page, fx.baseUrl, fixtureAdminToken);
    const typing = await fx.hold();
    await page.reload();
    await card(typing.id)
      .getByLabel(/Reason for denying/)
      .fill('half-typed');
    const navigations: string[] = [];
    page.on('framenavigated', (frame) => navigations.push(frame.url()));
    const record = await fx.hold({ agent: 'agent-live' });
    await card(record.id).waitFor({ timeout: 8_000 });
    expect(navigations).toEqual([]);
    // The card someone was typing in was left alone.
    expect(
      await card(typing.id)
        .getByLabel(/Reason for denying/)
        .inputValue(),
    ).toBe('half-typed');
    // A decision made elsewhere (Slack, the API) takes the card away.
    await fx.approvals.decide(record.id, { kind: 'slack', id: 'U0APPROVER2', name: 'carol' }, 'approve', undefined);
    await expect.poll(() => card(record.id).count(), { timeout: 8_000 }).toBe(0);
  });

  it('opens one held call on its own page with its story and decide buttons', async () => {
    const record = await fx.hold({ agent: 'agent-detail', settings: { quorum: 2 } });
    await login(page, fx.baseUrl, fixtureUsers.alice.token);
    await card(record.id)
      .getByRole('link', { name: /run_job from agent-detail/ })
      .click();
    await page.waitForURL(`${fx.baseUrl}/approvals/${record.id}`);
    await page.locator('details.approve-confirm > summary').click();
    await page.getByRole('button', { name: /^Yes, approve/ }).click();
    await page.waitForURL(`${fx.baseUrl}/approvals/${record.id}`);
    expect(await page.getByRole('status').first().textContent()).toContain('1 of 2 approvals');
    const story = page.locator('ol.timeline');
    expect(await story.locator('li.event strong').allTextContents()).toEqual(['Approval requested', 'Approval vote']);
    await screenshot(page, 'approval');
  });

  it('lists history events and filters them by agent and event type', async () => {
    const first = await fx.hold({ agent: 'agent-hist' });
    await fx.hold({ agent: 'agent-hist' });
    await fx.approvals.decide(first.id, { kind: 'admin', id: 'admin:ops', name: 'ops' }, 'deny', 'not today');
    await login(page, fx.baseUrl, fixtureAdminToken);
    await page.getByRole('link', { name: 'History' }).click();
    await page.waitForURL(`${fx.baseUrl}/history`);
    expect(await page.locator('table.events tbody tr').count()).toBeGreaterThan(3);
    await page.getByLabel('Agent', { exact: true }).fill('agent-hist');
    await page.getByLabel('Event', { exact: true }).selectOption('approval_denied');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL((url) => url.searchParams.get('type') === 'approval_denied' && url.searchParams.get('agent') === 'agent-hist');
    const rows = page.locator('table.events tbody tr');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('not today');
    await page.getByLabel('Event', { exact: true }).selectOption('');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL((url) => url.searchParams.get('type') === '' && url.searchParams.get('agent') === 'agent-hist');
    expect(await rows.count()).toBe(3);
    await screenshot(page, 'history');
  });

  it('downloads the filtered history as CSV from the export link', async () => {
    const record = await fx.hold({ agent: 'agent-csv' });
    await login(page, fx.baseUrl, fixtureAdminToken);
    await page.goto(`${fx.baseUrl}/history?agent=agent-csv`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^airlock-audit-.*\.csv$/);
    expect(download.url()).not.toContain(fixtureAdminToken);
    const text = readFileSync(await download.path(), 'utf8');
    const lines = text.trim().split('\r\n');
    expect(lines[0]).toMatch(/^id,time,seq,type,agent/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(record.id);
  });

  it('renders the policy table and explains a call', async () => {
    await fx.limiter.check([{ counter: 'run_job_per_grant', windowSec: 60, max: 10, scope: 'grant' }], { agent: 'agent-b', sessionId: 's2' });
    await login(page, fx.baseUrl, fixtureAdminToken);
    await page.getByRole('link', { name: 'Policy' }).click();
    const row = page.locator('table.policy tbody tr', { has: page.locator('th', { hasText: 'run_job' }) });
    expect(await row.locator('td').nth(0).textContent()).toBe('approve');
    expect(await row.textContent()).toContain('agent-b 1 of 10');
    await page.getByLabel('Tool', { exact: true }).fill('list_jobs');
    await page.getByLabel('Arguments (JSON object)').fill('{}');
    await page.getByRole('button', { name: 'Explain' }).click();
    await page.waitForURL(/\/policy\/explain/);
    expect(await page.locator('#decision-heading').textContent()).toContain('allow');
    expect(await page.locator('ol.trace li').count()).toBeGreaterThan(0);
    await screenshot(page, 'policy');
  });

  it('fits a 375px-wide window on every page, with tables scrolling inside their own box', async () => {
    const record = await fx.hold({
      agent: 'agent-narrow-with-a-rather-long-name',
      arguments: { params: { job_id: 42, notebook_params: { path: '/Workspace/Users/someone@example.com/a/very/long/notebook/path/without/spaces/at/all' } } },
    });
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`${fx.baseUrl}/login`);
    expect(await horizontalOverflow(page)).toEqual({ overflowPx: 0, offenders: [] });
    await login(page, fx.baseUrl, fixtureAdminToken);
    for (const [name, path] of [
      ['pending', '/'],
      ['approval', `/approvals/${record.id}`],
      ['history', '/history'],
      ['policy', '/policy'],
    ] as const) {
      await page.goto(`${fx.baseUrl}${path}`);
      expect({ page: name, ...(await horizontalOverflow(page)) }).toEqual({ page: name, overflowPx: 0, offenders: [] });
      await screenshot(page, `${name}-narrow`);
    }
  });

  it('shows where keyboard focus is, starting with a skip link', async () => {
    await login(page, fx.baseUrl, fixtureAdminToken);
    await page.keyboard.press('Tab');
    const focused = page.locator(':focus');
    expect(await focused.textContent()).toBe('Skip to content');
    expect(await page.evaluate(focusOutline)).toBe('solid');
    await page.keyboard.press('Tab');
    expect(await page.locator(':focus').textContent()).toBe('Airlock');
    expect(await page.evaluate(focusOutline)).toBe('solid');
  });
});
