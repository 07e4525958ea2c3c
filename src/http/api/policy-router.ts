/**
 * Admin REST for the policy: what is loaded (per file, per tool, with version and load time),
 * a reload that validates before swapping (a broken file is reported and the last good policy
 * keeps serving), and `explain` — the decision and its trace for an agent, tool and arguments,
 * so an operator can test a change before shipping it. Guarded by the admin token.
 */
import { canonicalArguments, explainLimits } from '../../util/canonical.js';
import express, { type Router } from 'express';
import { z } from 'zod';
import { AirlockError } from '../../errors.js';
import type { Authenticator } from '../../identity/tokens.js';
import type { PolicyEngine } from '../../policy/engine.js';
import type { UpstreamPool } from '../../upstream/upstream-pool.js';
import { firstProblemLine } from '../../util/zod-problems.js';
import { requireAdmin } from '../admin-auth.js';
import { sendJsonError } from '../json-errors.js';

export interface PolicyRouterDeps {
  policy: Pick<PolicyEngine, 'info' | 'reload' | 'evaluate' | 'validateInput'>;
  authenticator: Authenticator;
  pool: Pick<UpstreamPool, 'resolveTool'>;
}

const ExplainBody = z.strictObject({
  agent: z.string().min(1),
  tool: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).default({}),
});

export function policyRouter(deps: PolicyRouterDeps, adminToken: string | undefined): Router {
  const router = express.Router();
  router.use(requireAdmin(adminToken));
  router.use(express.json({ limit: '256kb' }));

  router.get('/', (_req, res) => {
    res.json({ policies: deps.policy.info() });
  });

  router.post('/reload', async (_req, res) => {
    try {
      const reports = await deps.policy.reload();
      const rejected = reports.some((r) => r.status === 'rejected');
      res.status(rejected ? 422 : 200).json({ reloaded: !rejected, files: reports });
    } catch (error) {
      sendJsonError(res, error);
    }
  });

  router.post('/explain', (req, res) => {
    try {
      const body = ExplainBody.safeParse(req.body ?? {});
      if (!body.success) throw new AirlockError('invalid_request', `Bad body: ${firstProblemLine(body.error)}`);
      const { agent: name, tool } = body.data;
      const canonical = canonicalArguments(body.data.arguments, explainLimits);
      if (!canonical.ok) throw new AirlockError('invalid_request', `Bad arguments: ${canonical.violation.path} ${canonical.violation.problem}.`);
      const args = canonical.value;
      const agent = deps.authenticator.agents.get(name);
      if (!agent) throw new AirlockError('not_found', `No agent "${name}" in the config; explain needs a configured agent name.`);
      const decision = deps.policy.evaluate(agent, tool, args);
      const definition = deps.pool.resolveTool(tool)?.definition;
      // What the upstream's own inputSchema says, when the tool is connected: held calls are checked against it too.
      const inputSchema = definition ? deps.policy.validateInput(definition, args) : undefined;
      res.json({ decision, inputSchema: inputSchema ?? 'tool not connected: inputSchema not checked' });
    } catch (error) {
      sendJsonError(res, error);
    }
  });

  router.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const type = (error as { type?: string }).type;
    sendJsonError(res, type === 'entity.parse.failed' ? new AirlockError('parse_error', 'Malformed JSON body.') : error);
  });
  return router;
}
