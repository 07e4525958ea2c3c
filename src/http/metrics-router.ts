/**
 * `GET /metrics` in Prometheus text format. Unauthenticated, like most scrape targets: it carries
 * counts and latencies by tool and decision, never arguments, tokens or agent secrets.
 */
import express, { type Router } from 'express';
import type { Metrics } from '../metrics/metrics.js';

export function metricsRouter(metrics: Metrics): Router {
  const router = express.Router();
  router.get('/metrics', (_req, res) => {
    void metrics.registry.metrics().then(
      (text) => res.type(metrics.registry.contentType).send(text),
      (error: unknown) =>
        res
          .status(500)
          .type('text/plain')
          .send(`# metrics collection failed: ${(error as Error).message}\n`),
    );
  });
  return router;
}
