/**
 * Guards the admin REST API with `Authorization: Bearer $AIRLOCK_ADMIN_TOKEN`. The comparison is
 * constant-time over SHA-256 digests (equal length whatever the input). Without a configured admin
 * token the API is closed, not open. The actor recorded for decisions is `admin:<name>`, the name
 * taken from the `X-Airlock-Actor` header (e.g. the operator's login), default `admin`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AirlockError } from '../errors.js';
import { bearerToken } from '../identity/tokens.js';
import { sendJsonError } from './json-errors.js';

export interface AdminActor {
  kind: 'admin';
  id: string;
  name: string;
}

export type AdminRequest = Request & { actor?: AdminActor };

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

export function requireAdmin(adminToken: string | undefined) {
  const expected = adminToken === undefined ? undefined : digest(adminToken);
  return (req: AdminRequest, res: Response, next: NextFunction): void => {
    if (expected === undefined) {
      sendJsonError(res, new AirlockError('unauthorized', 'The admin API is disabled: set AIRLOCK_ADMIN_TOKEN on the gateway to enable it.'));
      return;
    }
    const token = bearerToken(req.header('authorization'));
    if (token === undefined || !timingSafeEqual(digest(token), expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="airlock-admin"');
      sendJsonError(res, new AirlockError('unauthorized', 'Send "Authorization: Bearer <AIRLOCK_ADMIN_TOKEN>" to use the admin API.'));
      return;
    }
    const name = (req.header('x-airlock-actor') ?? 'admin').replace(/[^\w.@-]/g, '').slice(0, 64) || 'admin';
    req.actor = { kind: 'admin', id: `admin:${name}`, name };
    next();
  };
}
