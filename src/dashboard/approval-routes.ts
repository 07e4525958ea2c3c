/**
 * Held calls: the pending list (page and live fragment), one call's page with its story, and the
 * Approve and Deny actions. Deciding goes through the approvals core's `decide()` — the same
 * function Slack, the REST API and the CLI use — as the signed-in person's actor, so the policy's
 * approver list and quorum apply unchanged. The outcome is kept as a flash message and the
 * browser is redirected (post/redirect/get), so reloading never decides twice.
 */
import type { Router } from 'express';
import { z } from 'zod';
import { toApprovalView } from '../approvals/approval-view.js';
import type { GrantRequest } from '../approvals/grant-types.js';
import type { DecisionResult, Verdict } from '../approvals/types.js';
import { AirlockError, isAirlockError } from '../errors.js';
import { parseDurationMs } from '../util/duration.js';
import type { Flash } from './sessions.js';
import { action, CsrfField, fragment, page, sendPage, type ActiveSession, type DashboardContext } from './context.js';
import { may } from './roles.js';
import { decisionFlash } from './decision-flash.js';
import { approvalPath } from './views/approval-parts.js';
import { approvalBody, approvalTitle } from './views/approval-page.js';
import { errorBody } from './views/layout.js';
import { pendingBody, pendingList, type PendingListFilter } from './views/pending-page.js';

/** Most pending calls one page shows. */
const pendingLimit = 200;

const approvalId = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/);
const DecisionForm = CsrfField.extend({
  reason: z.string().trim().max(2_000).optional(),
  return: z.string().max(200).optional(),
  /** Empty: approve once; else a standing grant's duration (`3600s`). */
  grant: z.string().max(40).optional(),
  /** Checked pin paths (one field per checkbox); `pinsOffered` says the form showed them, so none checked pins nothing. */
  pin: z.union([z.string().max(512), z.array(z.string().max(512)).max(64)]).optional(),
  pinsOffered: z.literal('1').optional(),
});

/** The grant a decision form asks for, or undefined for approve-once; a bad duration is the approver's to fix. */
function grantOf(form: z.output<typeof DecisionForm>): GrantRequest | undefined {
  if (form.grant === undefined || form.grant === '') return undefined;
  const durationMs = parseDurationMs(form.grant);
  if (durationMs === undefined) throw new AirlockError('invalid_request', `"${form.grant}" is not a grant duration; pick one from the list.`);
  const pin = form.pin === undefined ? (form.pinsOffered ? [] : undefined) : typeof form.pin === 'string' ? [form.pin] : form.pin;
  return { durationMs, pin };
}

const editPrefix = 'edit:';
const EditForm = DecisionForm.catchall(z.string().max(60_000));

/** The edited values from the form's `edit:<path>` fields, each parsed as JSON. */
function editsOf(form: Record<string, unknown>): { ok: true; values: Record<string, unknown> } | { ok: false; why: string } {
  const values: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(form)) {
    if (!key.startsWith(editPrefix) || typeof text !== 'string') continue;
    const path = key.slice(editPrefix.length);
    try {
      values[path] = JSON.parse(text) as unknown;
    } catch (error) {
      return { ok: false, why: `The value for ${path} is not JSON (${(error as Error).message}); write it as JSON, e.g. "text" in quotes, {"key": "value"}.` };
    }
  }
  return { ok: true, values };
}

/** The CSRF token for decision forms, or undefined when the role may not decide (the pages then show none). */
function decideToken(session: ActiveSession): string | undefined {
  return may(session.role, 'decide') ? session.csrfToken : undefined;
}

/** The pending list's filter (`?agent=…&tool=…`, exact names); a bad value is ignored rather than refused. */
const PendingFilter = z.object({ agent: z.string().trim().max(128).optional().catch(undefined), tool: z.string().trim().max(256).optional().catch(undefined) });

export function addApprovalRoutes(router: Router, ctx: DashboardContext): void {
  const { approvals, audit } = ctx.deps;
  const pendingViews = async (filter: PendingListFilter = {}) =>
    (await approvals.list({ status: 'pending', limit: pendingLimit }))
      .filter((r) => (!filter.agent || r.agent === filter.agent) && (!filter.tool || r.tool === filter.tool))
      .map(toApprovalView);
  const filterOf = (query: unknown): PendingListFilter => {
    const parsed = PendingFilter.safeParse(query);
    if (!parsed.success) return {};
    return { ...(parsed.data.agent ? { agent: parsed.data.agent } : {}), ...(parsed.data.tool ? { tool: parsed.data.tool } : {}) };
  };
  const attentionViews = async () => {
    const [unknown, failed] = await Promise.all([approvals.list({ status: 'outcome_unknown', limit: 50 }), approvals.list({ status: 'failed', limit: 50 })]);
    return [...unknown, ...failed].map(toApprovalView);
  };

  router.get(
    '/',
    page(ctx, async (req, res, session) => {
      const filter = filterOf(req.query);
      const [views, attention, flash] = await Promise.all([pendingViews(filter), attentionViews(), ctx.sessions.takeFlash(session.id)]);
      sendPage(res, 200, {
        title: 'Pending approvals',
        section: 'pending',
        session,
        flash,
        body: pendingBody(views, decideToken(session), ctx.now(), attention, filter),
      });
    }),
  );

  router.get(
    '/fragments/pending',
    fragment(ctx, async (req, res, session) => {
      const views = await pendingViews(filterOf(req.query));
      res
        .status(200)
        .type('html')
        .send(pendingList(views, decideToken(session), ctx.now()).value);
    }),
  );

  router.get(
    '/approvals/:id',
    page(ctx, async (req, res, session) => {
      const id = approvalId.safeParse(req.params['id']);
      const notFound = () =>
        sendPage(res, 404, {
          title: 'Not found',
          section: 'none',
          session,
          body: errorBody('No such held call', 'There is no approval with this id, and no audit events mention it (they may be older than the retention).'),
        });
      if (!id.success) return notFound();
      const [record, story, flash] = await Promise.all([approvals.get(id.data), audit.story(id.data), ctx.sessions.takeFlash(session.id)]);
      if (!record && story.length === 0) return notFound();
      const model = { id: id.data, view: record && toApprovalView(record), story, csrfToken: decideToken(session), nowMs: ctx.now() };
      sendPage(res, 200, { title: approvalTitle(model), section: 'none', session, flash, body: approvalBody(model) });
    }),
  );

  const decide = (verdict: Verdict) =>
    action(
      ctx,
      DecisionForm,
      async (req, res, session, form) => {
        const id = approvalId.safeParse(req.params['id']);
        const target = id.success ? id.data : String(req.params['id']).slice(0, 80);
        const reason = form.reason === undefined || form.reason === '' ? undefined : form.reason;
        const unknown: DecisionResult = { kind: 'not_found' };
        let flash: Flash;
        try {
          const grant = verdict === 'approve' ? grantOf(form) : undefined;
          const result = id.success ? await approvals.decide(id.data, session.actor, verdict, reason, grant ? { grant } : {}) : unknown;
          ctx.deps.log.info({ approvalId: target, verdict, actor: session.actor.id, result: result.kind }, 'dashboard decision');
          flash = decisionFlash(target, verdict, result);
        } catch (error) {
          if (!isAirlockError(error) || error.fault !== 'client') throw error;
          flash = { level: 'error', text: `${error.message} Nothing changed.` };
        }
        await ctx.sessions.setFlash(session.id, flash);
        res.redirect(303, id.success && form.return === approvalPath(id.data) ? approvalPath(id.data) : '/');
      },
      'decide',
    );
  // Edit, then approve: one textarea per editable path (`edit:<path>`), each holding JSON.
  router.post(
    '/approvals/:id/edit',
    action(
      ctx,
      EditForm,
      async (req, res, session, form) => {
        const id = approvalId.safeParse(req.params['id']);
        const target = id.success ? id.data : String(req.params['id']).slice(0, 80);
        const back = id.success && form.return === approvalPath(id.data) ? approvalPath(id.data) : '/';
        const edits = editsOf(form);
        if (!edits.ok) {
          await ctx.sessions.setFlash(session.id, { level: 'error', text: `${edits.why} Nothing was approved; ${target} still waits.` });
          return res.redirect(303, back);
        }
        const reason = form.reason === undefined || form.reason === '' ? undefined : form.reason;
        const result = id.success ? await approvals.decideEdited(id.data, session.actor, edits.values, reason) : ({ kind: 'not_found' } as const);
        ctx.deps.log.info({ approvalId: target, verdict: 'approve', edited: true, actor: session.actor.id, result: result.kind }, 'dashboard edit and approve');
        const flash =
          result.kind === 'edit_refused'
            ? { level: 'error' as const, text: `Edit refused: ${result.why}. Nothing was approved; ${target} still waits.` }
            : decisionFlash(target, 'approve', result);
        await ctx.sessions.setFlash(session.id, flash);
        res.redirect(303, back);
      },
      'decide',
    ),
  );
  router.post('/approvals/:id/approve', decide('approve'));
  router.post('/approvals/:id/deny', decide('deny'));
  router.post('/approvals/:id/rerun', decide('rerun'));
}
