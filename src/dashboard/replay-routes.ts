/**
 * Policy replay in the dashboard (`/policy/replay`): the same replay as `airlock policy replay`
 * over the audit history, for a pasted candidate policy. It only reads; a replay is bounded in
 * time and events so one form cannot keep a replica busy, and says when it stopped early.
 * Reading the history needs the role that reads it.
 */
import type { Router } from 'express';
import { z } from 'zod';
import { formatProblems } from '../errors.js';
import { parsePolicyText } from '../policy/load.js';
import { PolicyReplay, replayedEventTypes } from '../policy/replay.js';
import { parseDurationMs } from '../util/duration.js';
import { action, CsrfField, page, sendPage, type ActiveSession, type DashboardContext } from './context.js';
import { replayBody, replaySpans, type ReplayModel } from './views/replay-page.js';

const ReplayForm = CsrfField.extend({ candidate: z.string().max(60_000).default(''), since: z.enum(replaySpans).default('7d') });

/** A dashboard replay stops after this long or this many calls, whichever comes first. */
const maxReplayMs = 20_000;
const maxReplayCalls = 2_000_000;

export function addReplayRoutes(router: Router, ctx: DashboardContext): void {
  const { audit, log } = ctx.deps;
  const render = (res: Parameters<typeof sendPage>[0], session: ActiveSession, status: number, model: Omit<ReplayModel, 'csrfToken'>) =>
    sendPage(res, status, { title: 'Replay a policy', section: 'policy', session, body: replayBody({ ...model, csrfToken: session.csrfToken }) });

  router.get(
    '/policy/replay',
    page(ctx, async (_req, res, session) => render(res, session, 200, { candidate: '', since: '7d' }), 'history'),
  );

  router.post(
    '/policy/replay',
    action(
      ctx,
      ReplayForm,
      async (_req, res, session, form) => {
        const echo = { candidate: form.candidate, since: form.since };
        const compiled = parsePolicyText(form.candidate, 'candidate policy');
        if (!compiled.ok) return render(res, session, 400, { ...echo, error: `The candidate policy has problems:\n${formatProblems(compiled.problems)}` });
        const replay = new PolicyReplay(compiled.policy);
        const since = ctx.now() - (parseDurationMs(form.since) ?? 0);
        const started = Date.now(); // the bound is wall-clock time, whatever clock the gateway is given
        let stoppedEarly: string | undefined;
        for await (const chunk of audit.calls({ types: replayedEventTypes, since })) {
          for (const event of chunk) replay.observe(event);
          const report = replay.report();
          if (Date.now() - started > maxReplayMs || report.calls >= maxReplayCalls) {
            stoppedEarly = `Stopped after ${report.calls} calls (up to ${report.to}): a dashboard replay is bounded; run \`airlock policy replay\` for the whole range.`;
            break;
          }
        }
        const report = replay.report();
        log.info({ actor: session.actor.id, calls: report.calls, changed: report.changed }, 'dashboard policy replay');
        render(res, session, 200, { ...echo, report, stoppedEarly });
      },
      'history',
    ),
  );
}
