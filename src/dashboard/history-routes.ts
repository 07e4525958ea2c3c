/**
 * The audit history: a filtered page of events newest first (cursor paging) and the streamed
 * export of the same filter as CSV or JSON lines. Filters come from a GET query and are parsed at
 * the edge; a filter that cannot be read is shown back with what is wrong instead of being
 * silently dropped. The export is authenticated by the session cookie alone — no token in a URL.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import { parseTime, timeHelp } from '../audit/time.js';
import { auditEventTypes, type AuditEventType } from '../audit/types.js';
import { fragment, page, sendPage, type DashboardContext } from './context.js';
import { may } from './roles.js';
import type { DashboardAuditFilter, DashboardExportFormat } from './ports.js';
import { historyBody, type HistoryFilterText } from './views/history-page.js';

const pageSize = 50;
const text = z.string().trim().max(200).optional();
const HistoryQuery = z.object({ agent: text, tool: text, type: text, since: text, until: text, cursor: text, format: text });
const cursorPattern = /^\d{1,16}-\d{1,16}$/;

const media: Record<DashboardExportFormat, { contentType: string; extension: string }> = {
  jsonl: { contentType: 'application/x-ndjson; charset=utf-8', extension: 'jsonl' },
  csv: { contentType: 'text/csv; charset=utf-8', extension: 'csv' },
};

type ParsedHistory = { ok: true; filter: DashboardAuditFilter; cursor: string | undefined; format: DashboardExportFormat } | { ok: false; error: string };

/** The filters as typed and as the audit port wants them, or what is wrong with them. */
export function parseHistoryQuery(query: unknown, nowMs: number): { text: HistoryFilterText; parsed: ParsedHistory } {
  const raw = HistoryQuery.safeParse(query);
  const data = raw.success ? raw.data : {};
  const textFilters: HistoryFilterText = {
    agent: data.agent ?? '',
    tool: data.tool ?? '',
    type: data.type ?? '',
    since: data.since ?? '',
    until: data.until ?? '',
  };
  if (!raw.success)
    return { text: textFilters, parsed: { ok: false, error: 'The filters could not be read (each one may appear once, up to 200 characters).' } };
  const filter: DashboardAuditFilter = {};
  if (textFilters.agent) filter.agent = textFilters.agent;
  if (textFilters.tool) filter.tool = textFilters.tool;
  if (textFilters.type) {
    const types = textFilters.type
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const unknown = types.filter((t) => !isEventType(t));
    if (unknown.length > 0) return { text: textFilters, parsed: { ok: false, error: `Unknown event type ${unknown.join(', ')}.` } };
    filter.type = types.filter(isEventType);
  }
  for (const key of ['since', 'until'] as const) {
    if (!textFilters[key]) continue;
    const ms = parseTime(textFilters[key], nowMs);
    if (ms === undefined) return { text: textFilters, parsed: { ok: false, error: `"${key}" should be ${timeHelp}.` } };
    filter[key] = ms;
  }
  if (data.cursor !== undefined && data.cursor !== '' && !cursorPattern.test(data.cursor))
    return { text: textFilters, parsed: { ok: false, error: 'That page link is not valid; start again from the newest events.' } };
  const format = data.format === 'jsonl' ? 'jsonl' : 'csv';
  return { text: textFilters, parsed: { ok: true, filter, cursor: data.cursor || undefined, format } };
}

const EventTypeSchema = z.enum(auditEventTypes);

function isEventType(value: string): value is AuditEventType {
  return EventTypeSchema.safeParse(value).success;
}

export function addHistoryRoutes(router: Router, ctx: DashboardContext): void {
  const { audit } = ctx.deps;

  router.get(
    '/history',
    page(
      ctx,
      async (req, res, session) => {
        const { text: filters, parsed } = parseHistoryQuery(req.query, ctx.now());
        if (!parsed.ok) {
          sendPage(res, 400, {
            title: 'History',
            section: 'history',
            session,
            body: historyBody({ filters, events: [], nextCursor: undefined, paged: false, error: parsed.error, canExport: may(session.role, 'export') }),
          });
          return;
        }
        const result = await audit.query({ ...parsed.filter, limit: pageSize, ...(parsed.cursor ? { cursor: parsed.cursor } : {}) });
        const model = {
          filters,
          events: result.events,
          nextCursor: result.nextCursor,
          paged: parsed.cursor !== undefined,
          error: undefined,
          canExport: may(session.role, 'export'),
        };
        sendPage(res, 200, { title: 'History', section: 'history', session, body: historyBody(model) });
      },
      'history',
    ),
  );

  router.get(
    '/history/export',
    fragment(
      ctx,
      async (req, res, session) => {
        const { parsed } = parseHistoryQuery(req.query, ctx.now());
        if (!parsed.ok) {
          res.status(400).type('text').send(parsed.error);
          return;
        }
        await streamExport(req, res, ctx, parsed.filter, parsed.format, session.login);
      },
      'export',
    ),
  );
}

async function streamExport(
  req: Request,
  res: Response,
  ctx: DashboardContext,
  filter: DashboardAuditFilter,
  format: DashboardExportFormat,
  login: string,
): Promise<void> {
  const source = ctx.deps.audit.exportStream({ ...filter, format });
  const stamp = new Date(ctx.now()).toISOString().replace(/[:.]/g, '-');
  res.status(200);
  res.setHeader('Content-Type', media[format].contentType);
  res.setHeader('Content-Disposition', `attachment; filename="airlock-audit-${stamp}.${media[format].extension}"`);
  ctx.deps.log.info({ format, filter, path: req.path, login }, 'dashboard audit export');
  // pipeline() reads only as fast as the browser drains, and stops reading if it goes away.
  await pipeline(source instanceof Readable ? source : Readable.from(source), res);
}
