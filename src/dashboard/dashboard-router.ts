/**
 * The operator dashboard, mounted at the gateway's root: pending approvals (decided through the
 * approvals core), the audit history with its export, the loaded policy with explain, and one
 * page per held call. Server-rendered HTML whose forms work without JavaScript; one stylesheet
 * and one script served from here; nothing from elsewhere.
 *
 * It answers only its own paths (`/`, `/login`, `/login/oidc…`, `/logout`, `/approvals/…`, `/history…`,
 * `/policy…`, `/grants…`, `/fragments/…`, `/assets/…`) and has no catch-all, so the gateway's other root
 * routes (/healthz, /readyz, /metrics) and its 404 stay untouched.
 */
import express, { type Router } from 'express';
import { addApprovalRoutes } from './approval-routes.js';
import { dashboardCss, faviconSvg } from './assets/dashboard-css.js';
import { dashboardJs } from './assets/dashboard-js.js';
import { addAuthRoutes } from './auth-routes.js';
import { addBatchRoutes } from './batch-routes.js';
import type { DashboardContext } from './context.js';
import { createCredentialChecker } from './credentials.js';
import { addGrantRoutes } from './grant-routes.js';
import { addHistoryRoutes } from './history-routes.js';
import { addOidcRoutes } from './oidc-routes.js';
import { OidcSignIn } from './oidc-sessions.js';
import { addPolicyRoutes } from './policy-routes.js';
import type { DashboardDeps } from './ports.js';
import { addReplayRoutes } from './replay-routes.js';
import { setSecurityHeaders } from './security.js';
import { SessionStore } from './sessions.js';

export type { DashboardDeps } from './ports.js';

/** Builds the dashboard's router; mount it at the root of the gateway's express app. */
export function dashboardRouter(deps: DashboardDeps): Router {
  const now = deps.now ?? Date.now;
  const sessions = new SessionStore(deps.redis, deps.prefix, deps.sessionTtlMs, now);
  const ctx: DashboardContext = {
    deps,
    now,
    sessions,
    credentials: createCredentialChecker(deps.adminToken, deps.users),
    oidc: deps.oidc && new OidcSignIn({ deps: deps.oidc, sessions, audit: deps.audit, log: deps.log, now }),
  };
  const router = express.Router({ strict: false, caseSensitive: true });
  addAssetRoutes(router);
  addAuthRoutes(router, ctx);
  addOidcRoutes(router, ctx);
  addBatchRoutes(router, ctx); // before /approvals/:id routes read "batch" as an id
  addApprovalRoutes(router, ctx);
  addGrantRoutes(router, ctx);
  addHistoryRoutes(router, ctx);
  addPolicyRoutes(router, ctx);
  addReplayRoutes(router, ctx);
  return router;
}

const assets: Array<{ path: string; type: string; body: string }> = [
  { path: '/assets/dashboard.css', type: 'text/css; charset=utf-8', body: dashboardCss },
  { path: '/assets/dashboard.js', type: 'text/javascript; charset=utf-8', body: dashboardJs },
  { path: '/assets/favicon.svg', type: 'image/svg+xml', body: faviconSvg },
];

/** The static files, served from string constants with an ETag (browsers revalidate cheaply). */
function addAssetRoutes(router: Router): void {
  for (const asset of assets) {
    router.get(asset.path, (_req, res) => {
      setSecurityHeaders(res, 'revalidate');
      res.type(asset.type).send(asset.body);
    });
  }
}
