/**
 * The express app every HTTP entry point hangs off: `/mcp` for agents, health and readiness,
 * and the routers later parts mount (admin API, Slack events, dashboard, metrics). Each router
 * brings its own body parsing, because Slack's signature check needs the raw body.
 */
import express, { type Express, type Router } from 'express';

export interface AppRoutes {
  /** Mounted at the root (health, metrics, dashboard …), in order. */
  root: Router[];
  /** Mounted under their path prefix, e.g. `/mcp`, `/api`, `/slack`. */
  mounted: Array<{ path: string; router: Router }>;
}

export function createApp(routes: AppRoutes): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  for (const { path, router } of routes.mounted) app.use(path, router);
  for (const router of routes.root) app.use(router);
  app.use((req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: `No route for ${req.method} ${req.path}.` } });
  });
  return app;
}
