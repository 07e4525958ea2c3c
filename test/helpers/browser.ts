/**
 * Browser-test helpers for the operator dashboard, in two parts:
 * - a headless Chromium (the system one at /usr/bin/chromium; never downloaded) with `login`,
 *   `screenshot` and an overflow check — usable against any base URL, including a whole gateway;
 * - `startDashboardFixture`: the dashboard router on its own express app and a real port, over
 *   real parts on real Redis (approvals core, audit store, policy engine, rate limiter) with a
 *   fresh key prefix, for the dashboard's own HTTP and browser tests.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import { chromium, type Browser, type Page } from 'playwright-core';
import { inject } from 'vitest';
import { z } from 'zod';
import { ApprovalService, type HoldInput } from '../../src/approvals/approval-service.js';
import type { ApprovalRecord } from '../../src/approvals/types.js';
import { AuditStore } from '../../src/audit/audit-store.js';
import { dashboardRouter } from '../../src/dashboard/dashboard-router.js';
import { dashboardPolicyPort } from '../../src/dashboard/gateway-ports.js';
import type { DashboardDeps } from '../../src/dashboard/ports.js';
import { createApp } from '../../src/http/app.js';
import { hashToken } from '../../src/identity/tokens.js';
import { RedisRateLimiter } from '../../src/limits/redis-limiter.js';
import { createLogger } from '../../src/log.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { createRedis, waitForRedis, type Redis } from '../../src/state/redis.js';
import { runJobHold, testPrefix } from './approvals.js';
import { repoRoot } from './upstreams.js';

// ---------------------------------------------------------------------------------------------
// Chromium
// ---------------------------------------------------------------------------------------------

export const chromiumPath = '/usr/bin/chromium';

/** Flags for a quiet, offline, sandbox-less headless Chromium in CI containers. */
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches the system Chromium; fails loudly (with what to install) when it is missing. */
export async function launchBrowser(): Promise<Browser> {
  try {
    return await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
  } catch (error) {
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new Error(`Cannot start Chromium at ${chromiumPath} (install the "chromium" package; browsers are never downloaded): ${why}`);
  }
}

/** The login name a token belongs to: a fixture user's name, else `admin` (the admin token). */
export function loginNameOf(token: string): string {
  return Object.entries(fixtureUsers).find(([, user]) => user.token === token)?.[0] ?? 'admin';
}

/**
 * Signs in through the login form, as a person would, and waits for the pending page.
 * Throws with the page's message when the token is refused.
 */
export async function login(page: Page, baseUrl: string, token: string, user = loginNameOf(token)): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Dashboard token or admin token').fill(token);
  await Promise.all([
    page.waitForURL((url) => url.pathname !== '/login', { timeout: 10_000 }).catch(() => undefined),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  if (new URL(page.url()).pathname === '/login' || new URL(page.url()).pathname === '/login/') {
    const message = await page
      .locator('.flash')
      .first()
      .textContent()
      .catch(() => null);
    throw new Error(`Sign-in refused: ${message ?? 'no message'}`);
  }
}

export const screenshotDir = path.join(repoRoot, 'test-output', 'screenshots');

/** Saves a full-page PNG as test-output/screenshots/<name>.png; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name.replace(/[^\w.-]+/g, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * How far the page scrolls sideways beyond the viewport (0 when it fits), and the elements that
 * stick out, ignoring those inside a horizontal scroller (`.table-scroll`), which may.
 */
export async function horizontalOverflow(page: Page): Promise<{ overflowPx: number; offenders: string[] }> {
  // Runs in the page (the test project has no DOM types, so the script is text and its answer is parsed).
  const answer: unknown = await page.evaluate(overflowScript);
  return OverflowAnswer.parse(answer);
}

const OverflowAnswer = z.object({ overflowPx: z.number(), offenders: z.array(z.string()) });

const overflowScript = `(() => {
  const width = document.documentElement.clientWidth;
  const offenders = [];
  for (const element of Array.from(document.body.querySelectorAll('*'))) {
    if (element.closest('.table-scroll') || element.closest('.vh') || element.classList.contains('skip')) continue;
    const rect = element.getBoundingClientRect();
    if (rect.width > 0 && (rect.right > width + 1 || rect.left < -1)) {
      offenders.push(element.tagName.toLowerCase() + (element.id ? '#' + element.id : '') + '.' + element.className + ' (' + Math.round(rect.left) + '-' + Math.round(rect.right) + ')');
    }
  }
  return { overflowPx: Math.max(0, document.documentElement.scrollWidth - width), offenders: offenders.slice(0, 10) };
})()`;

// ---------------------------------------------------------------------------------------------
// A dashboard served alone over real parts
// ---------------------------------------------------------------------------------------------

/** The admin token and the dashboard users every fixture accepts. */
export const fixtureAdminToken = 'dashboard-test-admin-token';
export const fixtureUsers = {
  /** An approver of the fixture policy and of runJobHold() (U0APPROVER1). */
  alice: { token: 'dash_alice_0123456789abcdefghijklmnopqrstuvwxyz', slackUserId: 'U0APPROVER1', role: 'approver' },
  /** A Slack user who is not an approver of the policy (the dashboard role lets them try). */
  mallory: { token: 'dash_mallory_0123456789abcdefghijklmnopqrstuvwxyz', slackUserId: 'U0NOTAPPROVER', role: 'approver' },
  /** No Slack id: decides as `dashboard:bob`. */
  bob: { token: 'dash_bob_0123456789abcdefghijklmnopqrstuvwxyz', slackUserId: undefined, role: 'approver' },
  /** A policy approver whose dashboard role is only viewer: sees pending calls, may not decide, read history or export. */
  victor: { token: 'dash_victor_0123456789abcdefghijklmnopqrstuvwxyz', slackUserId: 'U0APPROVER2', role: 'viewer' },
} as const;

/** The fixture's policy: run_job held (limited per agent), list_jobs allowed, the rest denied. */
export const fixturePolicy = {
  version: '1',
  default: 'deny',
  default_reason: 'Not enabled in the dashboard test policy.',
  approval: { approvers: ['U0APPROVER1', 'U0APPROVER2'], quorum: 1, timeout: '15m' },
  tools: {
    run_job: {
      action: 'approve',
      reason: 'Running a job starts compute, so a person approves each run.',
      limits: [{ counter: 'run_job_per_grant', window: 'minute', max: 10, scope: 'grant' }],
      constraints: { 'params.job_id': { exists: true } },
      approval: { show: ['params.job_id', 'params.notebook_params'] },
    },
    list_jobs: { action: 'allow', description: 'Read-only.' },
  },
};

export interface DashboardFixture {
  app: Express;
  baseUrl: string;
  prefix: string;
  redis: Redis;
  approvals: ApprovalService;
  auditStore: AuditStore;
  limiter: RedisRateLimiter;
  policy: PolicyEngine;
  deps: DashboardDeps;
  /** Holds a run_job like the pipeline would, with a fresh job_id unless `arguments` are given (override anything). */
  hold(overrides?: Parameters<typeof runJobHold>[0]): Promise<ApprovalRecord>;
  close(): Promise<void>;
}

export async function startDashboardFixture(options: { sessionTtlMs?: number; prefix?: string; trustProxyHops?: number } = {}): Promise<DashboardFixture> {
  const url = inject('redisUrl');
  const prefix = options.prefix ?? testPrefix();
  const log = createLogger({ level: 'silent' });
  const redis = createRedis(url, { name: 'dashboard-test', mode: 'fail-fast', log });
  if (!(await waitForRedis(redis, 5_000))) throw new Error(`Redis at ${url} did not answer`);
  const auditStore = new AuditStore({ redis, prefix, log, trimIntervalMs: 0 });
  await auditStore.start();
  const approvals = new ApprovalService({ redis, redisUrl: url, prefix, log, audit: auditStore, retryValidityMs: 60_000, runWorkers: true });
  await approvals.start();
  const limiter = new RedisRateLimiter({ redis, prefix });
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-dash-'));
  const policyFile = path.join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(fixturePolicy, null, 2));
  const policy = new PolicyEngine({ defaultFile: policyFile, watch: false, log });
  await policy.start();
  const agents = new Map(['agent-a', 'agent-b'].map((name) => [name, { name, owner: undefined, policy: undefined }]));
  const users = Object.fromEntries(
    Object.entries(fixtureUsers).map(([name, u]) => [name, { tokenSha256: hashToken(u.token), slackUserId: u.slackUserId, role: u.role }]),
  );
  const deps: DashboardDeps = {
    approvals,
    audit: auditStore,
    limits: limiter,
    policy: dashboardPolicyPort(policy, { agents }),
    redis,
    prefix,
    adminToken: fixtureAdminToken,
    users,
    sessionTtlMs: options.sessionTtlMs ?? 12 * 3_600_000,
    ...(options.trustProxyHops === undefined ? {} : { trustProxyHops: options.trustProxyHops }),
    log,
  };
  const app = createApp({ mounted: [], root: [dashboardRouter(deps)] });
  let jobIds = 0;
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo; // listening on TCP, so never a pipe name
  return {
    app,
    baseUrl: `http://127.0.0.1:${port}`,
    prefix,
    redis,
    approvals,
    auditStore,
    limiter,
    policy,
    deps,
    async hold(overrides = {}) {
      // A fresh job_id per hold: identical calls would attach to one live approval (dedup).
      jobIds += 1;
      const args = overrides.arguments ?? { params: { job_id: 1000 + jobIds, notebook_params: { env: 'prod', date: '2026-11-01' } } };
      const input: HoldInput = runJobHold({ holdReason: fixturePolicy.tools.run_job.reason, ...overrides, arguments: args });
      return (await approvals.hold(input)).record;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await approvals.close();
      await auditStore.close();
      await policy.close();
      redis.disconnect();
    },
  };
}
