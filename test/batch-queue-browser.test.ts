/**
 * The web queue for heavy days, in a real browser (the system Chromium) against a whole gateway:
 * select five pending calls and approve them together (five runs, five audited decisions, each
 * checked on its own), deny a selection with one reason, filter the list by agent and tool, and
 * decide from the keyboard (j/k to move, a then Enter to approve, d to type a denial).
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { launchBrowser, login, screenshot } from './helpers/browser.js';
import { adminToken, startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio, type CallLog } from './helpers/upstreams.js';

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(callLog: CallLog): Promise<{ gw: TestGateway; page: Page; problems: string[] }> {
  const gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog }) },
    policy: { version: '1', default: 'allow', tools: { run_job: { action: 'approve', approval: { timeout: '5m' } }, list_jobs: { action: 'approve' } } },
    config: { approvals: { progressInterval: '300ms' } },
  });
  cleanups.push(() => gw.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  return { gw, page, problems };
}

function runJob(gw: TestGateway, i: number, agent = 'agent-a'): Promise<CallToolResult> {
  return gw.connect(agent).then(
    (client) =>
      client.callTool({ name: 'run_job', arguments: { params: { job_id: 123, notebook_params: { run: String(i) } } } }, CallToolResultSchema, {
        onprogress: () => undefined,
        resetTimeoutOnProgress: true,
        timeout: 60_000,
      }) as Promise<CallToolResult>,
  );
}

async function auditCount(gw: TestGateway, type: string): Promise<number> {
  const res = await fetch(`${gw.baseUrl}/api/audit?type=${type}&limit=100`, { headers: { authorization: `Bearer ${adminToken}` } });
  return ((await res.json()) as { events: unknown[] }).events.length;
}

const cards = (page: Page) => page.locator('article[data-approval-id]');

describe('the web queue', () => {
  it('approves five selected calls together: five runs and five audited decisions', async () => {
    const callLog = createCallLog();
    const { gw, page, problems } = await setup(callLog);
    const pending = [0, 1, 2, 3, 4].map((i) => runJob(gw, i));
    await adminApi(gw.baseUrl).waitForPending(5);
    await login(page, gw.baseUrl, adminToken, 'admin');
    await expect.poll(() => cards(page).count()).toBe(5);
    for (const box of await page.locator('input.select-call').all()) await box.check();
    await page.locator('details.batch-confirm > summary').click();
    await Promise.all([page.waitForURL((url) => url.pathname === '/'), page.getByRole('button', { name: 'Yes, approve selected' }).click()]);
    await expect.poll(() => page.locator('.flash').first().textContent()).toMatch(/Approved 5 of 5 selected calls\./);
    await screenshot(page, 'batch-approved');

    const results = await Promise.all(pending);
    for (const result of results) expect(JSON.parse(textOf(result))).toHaveProperty('run_id');
    expect(callLog.calls().filter((c) => c.tool === 'run_job')).toHaveLength(5);
    expect(await auditCount(gw, 'approved')).toBe(5);
    expect(problems).toEqual([]);
  });

  it('denies a filtered selection with one reason, which each agent reads; the rest stays pending', async () => {
    const callLog = createCallLog();
    const { gw, page, problems } = await setup(callLog);
    const fromB = [runJob(gw, 10, 'agent-b'), runJob(gw, 11, 'agent-b')];
    const fromA = runJob(gw, 12, 'agent-a');
    void fromA.catch(() => undefined);
    await adminApi(gw.baseUrl).waitForPending(3);
    await login(page, gw.baseUrl, adminToken, 'admin');
    await page.getByLabel('Agent', { exact: true }).fill('agent-b');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => cards(page).count()).toBe(2);
    for (const box of await page.locator('input.select-call').all()) await box.check();
    await page.getByPlaceholder('Reason for denying (told to each agent)').fill('No runs from agent-b today.');
    await Promise.all([page.waitForURL((url) => url.pathname === '/'), page.getByRole('button', { name: 'Deny selected' }).click()]);
    await expect.poll(() => page.locator('.flash').first().textContent()).toMatch(/Denied 2 of 2 selected calls\./);
    for (const result of await Promise.all(fromB)) expect(textOf(result)).toContain('No runs from agent-b today.');
    expect(await auditCount(gw, 'approval_denied')).toBe(2);
    expect((await adminApi(gw.baseUrl).approvals('pending')).map((a) => a.agent)).toEqual(['agent-a']);
    expect(callLog.calls()).toHaveLength(0);
    expect(problems).toEqual([]);
  });

  it('decides from the keyboard: j/k move, a then Enter approves, d then a reason denies', async () => {
    const callLog = createCallLog();
    const { gw, page, problems } = await setup(callLog);
    const first = runJob(gw, 20);
    await adminApi(gw.baseUrl).waitForPending(1);
    const second = runJob(gw, 21);
    const [newest, oldest] = await adminApi(gw.baseUrl).waitForPending(2);
    await login(page, gw.baseUrl, adminToken, 'admin');
    await expect.poll(() => cards(page).count()).toBe(2);

    await page.keyboard.press('j');
    await page.keyboard.press('j');
    await page.keyboard.press('k');
    await expect.poll(() => page.locator('article.current').getAttribute('data-approval-id')).toBe(newest?.id);
    await page.keyboard.press('a');
    await Promise.all([page.waitForURL((url) => url.pathname === '/'), page.keyboard.press('Enter')]);
    expect(JSON.parse(textOf(await second))).toHaveProperty('run_id');

    await expect.poll(() => cards(page).count()).toBe(1);
    await page.keyboard.press('j');
    await expect.poll(() => page.locator('article.current').getAttribute('data-approval-id')).toBe(oldest?.id);
    await page.keyboard.press('d');
    await page.keyboard.type('Typed at the keyboard.');
    await Promise.all([page.waitForURL((url) => url.pathname === '/'), page.keyboard.press('Enter')]);
    expect(textOf(await first)).toContain('Typed at the keyboard.');
    expect(callLog.calls()).toHaveLength(1);
    expect(problems).toEqual([]);
  });
});
