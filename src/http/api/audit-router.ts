/**
 * Admin REST channel for the audit history, mounted at `/api/audit`: query (newest first, cursor
 * paging), streamed export (JSONL or CSV), chain verification, and one held call's story. Guarded
 * by the admin token like the approvals API; queries are parsed by zod; errors go through
 * sendJsonError.
 *
 *   GET /api/audit?agent=&tool=&type=&approval=&since=&until=&limit=&cursor=  → {events, nextCursor}
 *   GET /api/audit/export?format=jsonl|csv&since=&until=&agent=&tool=&type=   → attachment, streamed
 *   GET /api/audit/verify                                                      → VerifyResult
 *   GET /api/audit/approvals/:id                                               → {approvalId, events}
 */
import { pipeline } from 'node:stream/promises';
import express, { type Response, type Router } from 'express';
import { z } from 'zod';
import type { AuditStore } from '../../audit/audit-store.js';
import { exportFormats, exportMedia } from '../../audit/export.js';
import { maxPageSize } from '../../audit/query.js';
import { streamIdPattern } from '../../audit/stream-entry.js';
import { parseTime, timeHelp } from '../../audit/time.js';
import { auditEventTypes } from '../../audit/types.js';
import { AirlockError } from '../../errors.js';
import { firstProblemLine } from '../../util/zod-problems.js';
import { requireAdmin, type AdminRequest } from '../admin-auth.js';
import { sendJsonError } from '../json-errors.js';

const timeParam = z.string().transform((text, ctx) => {
  const ms = parseTime(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected ${timeHelp}` });
    return z.NEVER;
  }
  return ms;
});

/** `type=denied` or `type=denied,rate_limited`. */
const typeParam = z
  .string()
  .transform((text) =>
    text
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.enum(auditEventTypes)).min(1));

const FilterQuery = {
  agent: z.string().min(1).optional(),
  tool: z.string().min(1).optional(),
  type: typeParam.optional(),
  approval: z.string().min(1).optional(),
  since: timeParam.optional(),
  until: timeParam.optional(),
};

const ListQuery = z.strictObject({
  ...FilterQuery,
  limit: z.coerce.number().int().min(1).max(maxPageSize).default(50),
  cursor: z.string().regex(streamIdPattern, 'cursor is a nextCursor from a previous page').optional(),
});

const ExportQuery = z.strictObject({ ...FilterQuery, format: z.enum(exportFormats).default('jsonl') });

/** Builds the /api/audit router over an audit store. */
export function auditRouter(store: AuditStore, adminToken: string | undefined): Router {
  const router = express.Router();
  router.use(requireAdmin(adminToken));

  router.get('/', async (req, res) => {
    try {
      const { limit, cursor, ...filter } = parseQuery(ListQuery, req.query);
      const page = await store.query({ ...filter, limit, ...(cursor ? { cursor } : {}) });
      res.json({ events: page.events, nextCursor: page.nextCursor ?? null, scanned: page.scanned });
    } catch (error) {
      sendJsonError(res, error);
    }
  });

  router.get('/export', async (req, res) => {
    try {
      const { format, ...filter } = parseQuery(ExportQuery, req.query);
      const media = exportMedia[format];
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      res.status(200);
      res.setHeader('Content-Type', media.contentType);
      res.setHeader('Content-Disposition', `attachment; filename="airlock-audit-${stamp}.${media.extension}"`);
      res.setHeader('Cache-Control', 'no-store');
      // pipeline() waits for the response to drain before reading on, and stops reading if the client goes.
      await pipeline(store.exportStream({ format, ...filter }), res);
    } catch (error) {
      // Before the first byte the client gets a JSON error; after it, the response is cut short.
      if (res.headersSent) res.destroy(error instanceof Error ? error : undefined);
      else sendJsonError(res, error);
    }
  });

  router.get('/verify', async (_req, res) => {
    try {
      res.json(await store.verify());
    } catch (error) {
      sendJsonError(res, error);
    }
  });

  router.get('/approvals/:id', async (req, res) => {
    try {
      const id = String(req.params['id']);
      const events = await store.story(id);
      if (events.length === 0) throw new AirlockError('not_found', `No audit events for approval ${id} (unknown id, or older than the retention).`);
      res.json({ approvalId: id, events });
    } catch (error) {
      sendJsonError(res, error);
    }
  });

  router.use((error: unknown, _req: AdminRequest, res: Response, _next: express.NextFunction) => sendJsonError(res, error));
  return router;
}

function parseQuery<T extends z.ZodType>(schema: T, query: unknown): z.output<T> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) throw new AirlockError('invalid_request', `Bad query: ${firstProblemLine(parsed.error)}`);
  return parsed.data;
}
