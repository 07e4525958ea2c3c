/**
 * Liveness and readiness. `/healthz` answers while the process runs — from the moment it listens,
 * whatever Redis and the upstreams do; `/readyz` answers 200 only when Redis answers and every
 * upstream is connected, and its body names what is not (and why), so an operator
 * (or a load balancer's log) sees the cause without reading gateway logs.
 */
import type { Request, Response, Router } from 'express';
import express from 'express';
import type { UpstreamStatus } from '../upstream/upstream-pool.js';

export interface ReadinessCheck {
  name: string;
  check(): Promise<{ ok: boolean; detail?: unknown }>;
}

export interface HealthDeps {
  redisReady(): Promise<boolean>;
  /** Why the parts that need Redis (hold queue, audit, channels) are not running; undefined once they are. */
  stateProblem?(): string | undefined;
  /** What /readyz says when Redis does not answer (where, why, what it means); default "not reachable". */
  redisDetail?(): string;
  upstreams(): UpstreamStatus[];
  /** Further checks other parts register (e.g. Slack delivery). */
  extraChecks?: () => ReadinessCheck[];
  isShuttingDown(): boolean;
}

export function healthRouter(deps: HealthDeps): Router {
  const router = express.Router();
  router.get('/healthz', (_req: Request, res: Response) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', (_req: Request, res: Response) => {
    void readiness(deps).then((body) => res.status(body.ready ? 200 : 503).json(body));
  });
  return router;
}

export async function readiness(deps: HealthDeps) {
  const redis = await deps.redisReady();
  const upstreams = deps.upstreams();
  const extra = await Promise.all((deps.extraChecks?.() ?? []).map(async (c) => ({ name: c.name, ...(await c.check()) })));
  const notReady: string[] = [];
  if (deps.isShuttingDown()) notReady.push('shutting down');
  if (!redis) notReady.push(`redis: ${deps.redisDetail?.() ?? 'not reachable'}`);
  for (const u of upstreams) if (u.state !== 'connected') notReady.push(`upstream ${u.name}: ${u.state}${u.lastError ? ` (${u.lastError})` : ''}`);
  const stateProblem = deps.stateProblem?.();
  if (stateProblem !== undefined) notReady.push(`approvals and audit: ${stateProblem}`);
  for (const c of extra) if (!c.ok) notReady.push(c.name);
  return { ready: notReady.length === 0, notReady, redis: redis ? 'ok' : 'unreachable', upstreams, checks: extra };
}
