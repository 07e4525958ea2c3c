/**
 * Edit, then approve, in the dashboard in a real browser (the system Chromium), against a whole
 * gateway: an approver opens "Edit & approve…" on the held run_job, changes `notebook_params`,
 * and the call runs once with the edited values (the mock's call log), the agent's answer names
 * the change, and the audit has both argument sets; an edit that breaks a constraint is refused
 * on the page and nothing runs.
 */
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { launchBrowser, login, screenshot } from './helpers/browser.js';
import { adminToken, startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio, type CallLog } from './helpers/upstreams.js';

const asked = { params: { job_id: 123, notebook_params: { env: 'prod', date: '2026-11-01' } } };

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
    policy: {
      version: '1',
      default: 'allow',
      tools: {
        run_job: {
          action: 'approve',
          constraints: { 'params.notebook_params.env': { in: ['prod', 'staging'] } },
          approval: { timeout: '5m', editable: ['params.notebook_params'], show: ['params.notebook_params'] },
        },
      },
    },
    config: { approvals: { progressInterval: '300ms' } },
  });
  cleanups.push(() => gw.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return { gw, page, problems };
}

function heldCall(gw: TestGateway): Promise<CallToolResult> {
  return gw.connect('agent-a').then(
    (client) =>
      client.callTool({ name: 'run_job', arguments: asked }, CallToolResultSchema, {
        onprogress: () => undefined,
        resetTimeoutOnProgress: true,
        timeout: 60_000,
      }) as Promise<CallToolResult>,
  );
}

async function editAndApprove(page: Page, id: string, value: string): Promise<void> {
  const card = page.locator(`article[data-approval-id="${id}"]`);
  await card.locator('details.edit-confirm > summary').click();
  await card.getByLabel('params.notebook_params (JSON)').fill(value);
  await Promise.all([page.waitForURL((url) => url.pathname === '/'), card.getByRole('button', { name: /^Approve with these values/ }).click()]);
}

describe('edit, then approve, in the dashboard', () => {
  it('runs the call once with the notebook_params the approver typed; the agent and the audit are told', async () => {
    const callLog = createCallLog();
    const { gw, page, problems } = await setup(callLog);
    const pending = heldCall(gw);
    const [held] = await adminApi(gw.baseUrl).waitForPending();
    const id = held?.id ?? '';
    await login(page, gw.baseUrl, adminToken, 'admin');
    await editAndApprove(page, id, '{"env": "prod", "date": "2026-11-02"}');
    await expect.poll(() => page.locator('.flash').first().textContent()).toMatch(/Approved run_job/);
    await screenshot(page, 'edit-approve-done');

    const result = await pending;
    expect(textOf(result)).toContain('params.notebook_params: {"date":"2026-11-01","env":"prod"} → {"date":"2026-11-02","env":"prod"}');
    const runs = callLog.calls().filter((c) => c.tool === 'run_job');
    expect(runs).toHaveLength(1);
    expect(runs[0]?.arguments).toEqual({ params: { job_id: 123, notebook_params: { env: 'prod', date: '2026-11-02' } } });

    const res = await fetch(`${gw.baseUrl}/api/audit/approvals/${id}`, { headers: { authorization: `Bearer ${adminToken}` } });
    const events = ((await res.json()) as { events: Array<{ type: string; arguments?: unknown; details?: Record<string, unknown> }> }).events;
    const approved = events.find((e) => e.type === 'approved');
    expect(approved?.arguments).toEqual(asked);
    expect(approved?.details?.['edit']).toMatchObject({ editor: { kind: 'admin' }, arguments: { params: { notebook_params: { date: '2026-11-02' } } } });

    await page.goto(`${gw.baseUrl}/approvals/${id}`);
    await expect.poll(() => page.locator('.edit-facts').textContent()).toMatch(/Edited before approval/);
    expect(problems).toEqual([]);
  });

  it('refuses an edit that breaks a constraint, says why on the page, and nothing runs', async () => {
    const callLog = createCallLog();
    const { gw, page, problems } = await setup(callLog);
    void heldCall(gw).catch(() => undefined);
    const [held] = await adminApi(gw.baseUrl).waitForPending();
    const id = held?.id ?? '';
    await login(page, gw.baseUrl, adminToken, 'admin');
    await editAndApprove(page, id, '{"env": "dev"}');
    await expect
      .poll(() => page.locator('.flash').first().textContent())
      .toMatch(/Edit refused: the edited call breaks the policy's constraints: params\.notebook_params\.env/);
    await screenshot(page, 'edit-approve-refused');
    expect(callLog.calls()).toHaveLength(0);
    expect((await adminApi(gw.baseUrl).approvals('pending')).map((a) => a.id)).toContain(id);
    expect(problems).toEqual([]);
  });
});
