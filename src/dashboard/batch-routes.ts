/**
 * Deciding several pending calls at once from the dashboard's list: the selected ids, one verdict,
 * and for a denial one reason for all. Each call goes through the approvals core's `decide()` on
 * its own — checked against its own policy's approvers and quorum, and audited on its own — so a
 * batch is exactly as safe as the same clicks one by one; the flash says what happened to each.
 */
import type { Router } from 'express';
import { z } from 'zod';
import type { DecisionResult } from '../approvals/types.js';
import { action, CsrfField, type DashboardContext } from './context.js';

/** Most calls one batch decides. */
export const maxBatch = 50;

const approvalId = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/);

const BatchForm = CsrfField.extend({
  ids: z
    .union([approvalId, z.array(approvalId).max(maxBatch)])
    .optional()
    .transform((ids) => (ids === undefined ? [] : Array.isArray(ids) ? [...new Set(ids)] : [ids])),
  verdict: z.enum(['approve', 'deny']),
  reason: z.string().trim().max(2_000).optional(),
});

export function addBatchRoutes(router: Router, ctx: DashboardContext): void {
  router.post(
    '/approvals/batch',
    action(
      ctx,
      BatchForm,
      async (_req, res, session, form) => {
        const reason = form.reason === undefined || form.reason === '' ? undefined : form.reason;
        if (form.ids.length === 0) {
          await ctx.sessions.setFlash(session.id, { level: 'error', text: 'No calls were selected; tick the calls to decide first. Nothing changed.' });
          return res.redirect(303, '/');
        }
        if (form.verdict === 'deny' && reason === undefined) {
          await ctx.sessions.setFlash(session.id, {
            level: 'error',
            text: 'Say why before denying the selected calls: each agent reads the reason. Nothing changed.',
          });
          return res.redirect(303, '/');
        }
        const results: Array<{ id: string; result: DecisionResult }> = [];
        for (const id of form.ids) results.push({ id, result: await ctx.deps.approvals.decide(id, session.actor, form.verdict, reason) });
        ctx.deps.log.info(
          { verdict: form.verdict, actor: session.actor.id, results: results.map((r) => `${r.id}:${r.result.kind}`) },
          'dashboard batch decision',
        );
        await ctx.sessions.setFlash(session.id, batchFlash(form.verdict, results));
        res.redirect(303, '/');
      },
      'decide',
    ),
  );
}

/** One line for the whole batch: how many were decided, and what happened to each of the others. */
function batchFlash(
  verdict: 'approve' | 'deny',
  results: ReadonlyArray<{ id: string; result: DecisionResult }>,
): { level: 'success' | 'info' | 'error'; text: string } {
  const done = results.filter((r) => r.result.kind === 'decided' || r.result.kind === 'vote_recorded');
  const others = results.filter((r) => !done.includes(r));
  const verb = verdict === 'approve' ? 'Approved' : 'Denied';
  const votes = done.filter((r) => r.result.kind === 'vote_recorded').length;
  const head = `${verb} ${done.length} of ${results.length} selected call${results.length === 1 ? '' : 's'}${votes > 0 ? ` (${votes} still waiting for more approvers)` : ''}.`;
  const why = others.map((r) => `${r.id}: ${reasonOf(r.result)}`);
  const text = why.length === 0 ? head : `${head} Not decided — ${why.join('; ')}.`;
  return { level: others.length === 0 ? 'success' : done.length === 0 ? 'error' : 'info', text };
}

function reasonOf(result: DecisionResult): string {
  switch (result.kind) {
    case 'not_authorized':
      return `not authorized (${result.why})`;
    case 'already_decided':
      return `already ${result.record.status}`;
    case 'duplicate_vote':
      return 'you already approved it';
    case 'not_found':
      return 'no longer exists';
    case 'not_rerunnable':
      return `is ${result.record.status}`;
    case 'decided':
    case 'vote_recorded':
      return 'decided';
  }
}
