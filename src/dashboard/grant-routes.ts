/**
 * Standing grants in the dashboard: the list, and Revoke — through the approvals core's
 * `revokeGrant()`, the same function the REST API and the CLI use, as the signed-in person's actor
 * (admins, the grant's grantor and the policy's approvers may). Post/redirect/get with a flash.
 */
import type { Router } from 'express';
import { z } from 'zod';
import { pinsText, toGrantView } from '../approvals/grant-view.js';
import { action, CsrfField, page, sendPage, type DashboardContext } from './context.js';
import { may } from './roles.js';
import type { Flash } from './sessions.js';
import { grantsBody } from './views/grants-page.js';

const grantId = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/);
const RevokeForm = CsrfField.extend({ reason: z.string().trim().max(2_000).optional() });

export function addGrantRoutes(router: Router, ctx: DashboardContext): void {
  const { approvals } = ctx.deps;
  router.get(
    '/grants',
    page(ctx, async (_req, res, session) => {
      const [grants, flash] = await Promise.all([approvals.listGrants(500), ctx.sessions.takeFlash(session.id)]);
      const csrf = may(session.role, 'decide') ? session.csrfToken : undefined;
      sendPage(res, 200, { title: 'Standing grants', section: 'grants', session, flash, body: grantsBody(grants.map(toGrantView), csrf) });
    }),
  );
  router.post(
    '/grants/:id/revoke',
    action(
      ctx,
      RevokeForm,
      async (req, res, session, form) => {
        const id = grantId.safeParse(req.params['id']);
        const target = String(req.params['id']).slice(0, 80);
        const reason = form.reason === undefined || form.reason === '' ? undefined : form.reason;
        const result = id.success ? await approvals.revokeGrant(id.data, session.actor, reason) : ({ kind: 'not_found' } as const);
        ctx.deps.log.info({ grantId: target, actor: session.actor.id, result: result.kind }, 'dashboard grant revocation');
        let flash: Flash;
        switch (result.kind) {
          case 'revoked': {
            const view = toGrantView(result.grant);
            flash = { level: 'success', text: `Revoked ${view.id}: ${view.tool} from ${view.agent} with ${pinsText(view)} is held for approval again.` };
            break;
          }
          case 'not_authorized':
            flash = { level: 'error', text: `Not authorized to revoke ${target}: ${result.why}. Nothing changed.` };
            break;
          case 'not_found':
            flash = { level: 'info', text: `No live grant ${target}: it expired or was revoked already.` };
        }
        await ctx.sessions.setFlash(session.id, flash);
        res.redirect(303, '/grants');
      },
      'decide',
    ),
  );
}
