/**
 * Admin REST channel for approvals: list, show, approve, deny, approve a re-run — through the
 * same core as Slack, the dashboard and the CLI. Guarded by the admin token; the acting operator
 * is named by the `X-Airlock-Actor` header (recorded, but one admin token is one approver for the
 * quorum whatever name it sends). Bodies are parsed by zod; every answer is JSON; reads while
 * Redis is unreachable answer 503 `state_store_unavailable`.
 */
import express, { type Response, type Router } from 'express';
import { z } from 'zod';
import type { ApprovalChannels } from '../../approvals/ports.js';
import { toApprovalView } from '../../approvals/approval-view.js';
import { approvalStatuses, type DecisionResult, type Verdict } from '../../approvals/types.js';
import { AirlockError } from '../../errors.js';
import { durationHelp, parseDurationMs } from '../../util/duration.js';
import { firstProblemLine } from '../../util/zod-problems.js';
import { toGrantView } from '../../approvals/grant-view.js';
import { requireAdmin, type AdminRequest } from '../admin-auth.js';
import { sendJsonError } from '../json-errors.js';

const ListQuery = z.strictObject({
  status: z.enum(approvalStatuses).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
/** A standing grant asked for with an approval: its duration and (optionally) fewer pinned paths than the policy allows. */
export const GrantBody = z.strictObject({
  duration: z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDurationMs(value);
    if (ms === undefined || ms < 1_000) {
      ctx.addIssue({ code: 'custom', message: `grant.duration must be ${durationHelp}, at least 1 second` });
      return z.NEVER;
    }
    return ms;
  }),
  pin: z.array(z.string().max(512)).max(64).optional(),
});
const DecisionBody = z.strictObject({
  reason: z.string().trim().max(2_000).optional(),
  /** Edit, then approve: argument path → new value, for paths the policy's `approval.editable` lists. */
  edits: z.record(z.string().min(1).max(256), z.unknown()).optional(),
  /** Approve with a standing grant (policy `approval.grants`). */
  grant: GrantBody.optional(),
});

export function approvalsRouter(approvals: Pick<ApprovalChannels, 'get' | 'list' | 'decide' | 'decideEdited'>, adminToken: string | undefined): Router {
  const router = express.Router();
  router.use(requireAdmin(adminToken));
  router.use(express.json({ limit: '64kb' }));

  router.get('/', async (req, res) => {
    try {
      const query = ListQuery.safeParse(req.query);
      if (!query.success) throw new AirlockError('invalid_request', `Bad query: ${firstProblemLine(query.error)}`);
      const records = await approvals.list({ limit: query.data.limit, ...(query.data.status ? { status: query.data.status } : {}) });
      res.json({ approvals: records.map(toApprovalView) });
    } catch (error) {
      sendJsonError(res, error);
    }
  });

  router.get('/:id', async (req, res) => {
    try {
      const record = await approvals.get(req.params.id);
      if (!record) throw notFound(req.params.id);
      res.json({ approval: toApprovalView(record) });
    } catch (error) {
      sendJsonError(res, error);
    }
  });

  const decide = (verdict: Verdict) => async (req: AdminRequest, res: Response) => {
    try {
      const body = DecisionBody.safeParse(req.body ?? {});
      if (!body.success) throw new AirlockError('invalid_request', `Bad body: ${firstProblemLine(body.error)}`);
      const id = String(req.params['id']);
      const actor = req.actor ?? { kind: 'admin' as const, id: 'admin:admin', name: 'admin' };
      const { edits, reason, grant } = body.data;
      if (edits !== undefined && grant !== undefined)
        throw new AirlockError('invalid_request', '"edits" and "grant" cannot go together: approve an edited call once.');
      if (edits !== undefined && verdict !== 'approve')
        throw new AirlockError('invalid_request', '"edits" go with approve only: POST /api/approvals/ID/approve.');
      const result =
        edits === undefined
          ? await approvals.decide(id, actor, verdict, reason, grant ? { grant: { durationMs: grant.duration, pin: grant.pin } } : {})
          : await approvals.decideEdited(id, actor, edits, reason);
      if (result.kind === 'edit_refused') {
        throw new AirlockError(
          'invalid_request',
          `Edit refused: ${result.why}. Nothing was approved; ${id} still waits (fix the edit, or approve or deny it as asked).`,
          {
            details: { status: result.record.status },
          },
        );
      }
      respondToDecision(res, id, result);
    } catch (error) {
      sendJsonError(res, error);
    }
  };
  router.post('/:id/approve', decide('approve'));
  router.post('/:id/deny', decide('deny'));
  router.post('/:id/rerun', decide('rerun'));
  router.use((error: unknown, _req: AdminRequest, res: Response, _next: express.NextFunction) => {
    const type = (error as { type?: string }).type;
    sendJsonError(res, type === 'entity.parse.failed' ? new AirlockError('parse_error', 'Malformed JSON body.') : error);
  });
  return router;
}

/** Maps a DecisionResult to HTTP: 200 for a decision or vote, 409/403/404 otherwise, always with the approval. */
export function respondToDecision(res: Response, id: string, result: DecisionResult): void {
  switch (result.kind) {
    case 'decided':
      res.json({ result: result.kind, approval: toApprovalView(result.record), ...(result.grant ? { grant: toGrantView(result.grant) } : {}) });
      return;
    case 'vote_recorded':
      res.json({ result: result.kind, approval: toApprovalView(result.record) });
      return;
    case 'duplicate_vote':
      sendJsonError(
        res,
        new AirlockError(
          'conflict',
          `The admin token already approved ${id} (one admin token is one approver, whatever X-Airlock-Actor names it); ${result.approvals} of ${result.quorum} approvals so far. Another person must approve.`,
          { details: { approvals: result.approvals, quorum: result.quorum } },
        ),
      );
      return;
    case 'already_decided': {
      const by = result.record.decidedBy?.name ?? result.record.decidedBy?.id ?? 'the system';
      sendJsonError(
        res,
        new AirlockError('conflict', `Approval ${id} was already ${result.record.status} by ${by}; nothing changed.`, {
          details: { status: result.record.status },
        }),
      );
      return;
    }
    case 'not_rerunnable':
      sendJsonError(
        res,
        new AirlockError(
          'conflict',
          `Approval ${id} is ${result.record.status}: a re-run is only for a call that failed or whose outcome is unknown; nothing changed.`,
          {
            details: { status: result.record.status },
          },
        ),
      );
      return;
    case 'not_authorized':
      sendJsonError(res, new AirlockError('forbidden', `Not allowed to decide ${id}: ${result.why}.`));
      return;
    case 'not_found':
      sendJsonError(res, notFound(id));
  }
}

function notFound(id: string): AirlockError {
  return new AirlockError('not_found', `No approval ${id} (it may have expired out of the store; see the audit history).`);
}
