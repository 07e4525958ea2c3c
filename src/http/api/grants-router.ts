/**
 * Admin REST channel for standing grants: list, show, revoke — through the same approvals core as
 * the dashboard, the CLI and Slack. Guarded by the admin token; the acting operator is named by
 * `X-Airlock-Actor`. A revocation holds on every replica from the next call on (checks read Redis).
 */
import express, { type Response, type Router } from 'express';
import { z } from 'zod';
import { toGrantView } from '../../approvals/grant-view.js';
import type { ApprovalChannels } from '../../approvals/ports.js';
import { AirlockError } from '../../errors.js';
import { firstProblemLine } from '../../util/zod-problems.js';
import { requireAdmin, type AdminRequest } from '../admin-auth.js';
import { sendJsonError } from '../json-errors.js';

const ListQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1_000).default(200) });
const RevokeBody = z.strictObject({ reason: z.string().trim().max(2_000).optional() });

export function grantsRouter(approvals: Pick<ApprovalChannels, 'listGrants' | 'getGrant' | 'revokeGrant'>, adminToken: string | undefined): Router {
  const router = express.Router();
  router.use(requireAdmin(adminToken));
  router.use(express.json({ limit: '16kb' }));

  router.get('/', async (req, res) => {
    try {
      const query = ListQuery.safeParse(req.query);
      if (!query.success) throw new AirlockError('invalid_request', `Bad query: ${firstProblemLine(query.error)}`);
      res.json({ grants: (await approvals.listGrants(query.data.limit)).map(toGrantView) });
    } catch (error) {
      sendJsonError(res, error);
    }
  });

  router.get('/:id', async (req, res) => {
    try {
      const grant = await approvals.getGrant(req.params.id);
      if (!grant) throw notFound(req.params.id);
      res.json({ grant: toGrantView(grant) });
    } catch (error) {
      sendJsonError(res, error);
    }
  });

  router.post('/:id/revoke', async (req: AdminRequest, res: Response) => {
    try {
      const body = RevokeBody.safeParse(req.body ?? {});
      if (!body.success) throw new AirlockError('invalid_request', `Bad body: ${firstProblemLine(body.error)}`);
      const id = String(req.params['id']);
      const actor = req.actor ?? { kind: 'admin' as const, id: 'admin:admin', name: 'admin' };
      const result = await approvals.revokeGrant(id, actor, body.data.reason);
      switch (result.kind) {
        case 'revoked':
          res.json({ result: 'revoked', grant: toGrantView(result.grant) });
          return;
        case 'not_authorized':
          throw new AirlockError('forbidden', `Not allowed to revoke ${id}: ${result.why}.`);
        case 'not_found':
          throw notFound(id);
      }
    } catch (error) {
      sendJsonError(res, error);
    }
  });
  router.use((error: unknown, _req: AdminRequest, res: Response, _next: express.NextFunction) => {
    const type = (error as { type?: string }).type;
    sendJsonError(res, type === 'entity.parse.failed' ? new AirlockError('parse_error', 'Malformed JSON body.') : error);
  });
  return router;
}

function notFound(id: string): AirlockError {
  return new AirlockError('not_found', `No live grant ${id} (it may have expired or been revoked; see the audit history).`);
}
