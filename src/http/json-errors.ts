/**
 * The one place the admin REST API speaks errors: `{"error": {"code", "message", "details"}}`
 * with the catalog's HTTP status, plus `Retry-After` where retrying can help.
 */
import type { Response } from 'express';
import { asAirlockError } from '../errors.js';

export function sendJsonError(res: Response, error: unknown): void {
  const airlock = asAirlockError(error);
  if (res.headersSent) {
    res.end();
    return;
  }
  if (airlock.retryAfterSec !== undefined) res.setHeader('Retry-After', String(airlock.retryAfterSec));
  // Server faults keep their internals out of the body; the log has them.
  const message = airlock.fault === 'server' && airlock.code === 'internal' ? 'Internal error; see the gateway log.' : airlock.message;
  res.status(airlock.httpStatus).json({ error: { code: airlock.code, message, ...(Object.keys(airlock.details).length ? { details: airlock.details } : {}) } });
}
