/**
 * The dashboard end to end, in headless Chromium, on a real gateway: an agent's run_job through
 * /mcp appears in Pending within seconds; Approve releases it and the agent receives the mock's
 * run_id; Deny with a reason reaches the agent; the history tells the held call's whole story.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchBrowser, login, screenshot } from './helpers/browser.js';
import { adminToken, startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio } from './helpers/upstreams.js';

const callLog = createCallLog();
let gw: TestGateway;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog }) },
    policy: {
      version: '1',
      default: 'allow',
      tools: { run_job: { action: 'approve', reason: 'Runs start compute.', approval: { timeout: '5m', show: ['params.job_id', 'params.notebook_params'] } } },
    },
    config: { approvals: { progressInterval: '500ms' } },
  });
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gw?.close();
});
beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
});
afterEach(async () => {
  await context?.close();
});

function agentCall(jobId: number): Promise<CallToolResult> {
  return gw.connect('agent-a').then(
    (client) =>
      client.callTool({ name: 'run_job', arguments: { params: { job_id: jobId, notebook_params: { date: '2026-11-25' } } } }, CallToolResultSchema, {
        onprogress: () => undefined,
        resetTimeoutOnProgress: true,
        timeout: 30_000,
      }) as Promise<CallToolResult>,
  );
}

/** The pending card for the agent's call, once the live list shows it (no reload). */
async function cardFor(jobId: number) {
  const card = page.locator('article[data-approval-id]', { hasText: `${jobId}` });
  await card.first().waitFor({ timeout: 15_000 });
  return card.first();
}

describe('the dashboard on a real gateway', () => {
  it('refuses the pages and the export without signing in', async () => {
    const res = await fetch(`${gw.baseUrl}/history/export?format=csv`, { redirect: 'manual' });
    expect([302, 303, 401]).toContain(res.status);
    expect(await res.text()).not.toContain('run_job');
    await page.goto(`${gw.baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
  });

  it('shows an agent’s held run_job within seconds; Approve releases it and the agent gets the run id', async () => {
    await login(page, gw.baseUrl, adminToken);
    const call = agentCall(103);
    const card = await cardFor(103);
    expect(await card.textContent()).toContain('2026-11-25');
    await screenshot(page, 'gateway-pending');
    const approvalId = (await card.getAttribute('data-approval-id')) ?? '';
    // Approve asks for confirmation before anything runs.
    await card.locator('details.approve-confirm > summary').click();
    await card.getByRole('button', { name: /^Yes, approve/ }).click();
    const result = await call;
    expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number) });
    expect(callLog.calls().filter((c) => c.tool === 'run_job')).toHaveLength(1);

    await page.goto(`${gw.baseUrl}/approvals/${approvalId}`);
    const story = await page.locator('ol.timeline > li').allTextContents();
    expect(story).toHaveLength(3);
    expect(story[0]).toMatch(/Approval requested/);
    expect(story[1]).toMatch(/Approved/);
    expect(story[2]).toMatch(/Executed[\s\S]*run_id \d+/);
    await screenshot(page, 'gateway-story');

    // The history rows of a held call lead with the policy's show values, as the pending card does.
    await page.goto(`${gw.baseUrl}/history?tool=run_job`);
    const rows = page.locator(`table.events tr:has(a[href="/approvals/${approvalId}"])`);
    expect(await rows.count()).toBe(3);
    for (const text of await rows.locator('ul.key-arguments').allTextContents()) {
      expect(text.replace(/\s+/g, ' ')).toContain('params.job_id=103');
      expect(text).toContain('params.notebook_params={"date":"2026-11-25"}');
    }
    await screenshot(page, 'gateway-history');
  });

  it('denies with a reason, and the agent reads that reason', async () => {
    await login(page, gw.baseUrl, adminToken);
    const call = agentCall(102);
    const card = await cardFor(102);
    await card.getByLabel(/Reason for denying/).fill('Job 102 writes to prod; use the staging job.');
    await card.getByRole('button', { name: /^Deny/ }).click();
    const result = await call;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('Job 102 writes to prod; use the staging job.');
    expect(callLog.calls().filter((c) => c.tool === 'run_job')).toHaveLength(1);
  });
});
