/**
 * The policy page: the loaded policy files as tables (with the rate limiter's current counts)
 * and the explain form. Explain is a POST (its arguments can be long and should not sit in a
 * URL or a log line) guarded like every other POST, though it changes nothing: the decision is
 * computed by the policy engine's pure evaluate() and nothing is counted or held.
 */
import type { Response, Router } from 'express';
import { z } from 'zod';
import { canonicalArguments, explainLimits } from '../util/canonical.js';
import { action, CsrfField, page, sendPage, type ActiveSession, type DashboardContext } from './context.js';
import type { DashboardLimitUsage } from './ports.js';
import { policyBody, type ExplainModel } from './views/policy-page.js';

const ExplainForm = CsrfField.extend({
  agent: z.string().trim().max(64).default(''),
  tool: z.string().trim().max(200).default(''),
  arguments: z.string().max(60_000).default(''),
});
const ArgumentsSchema = z.record(z.string(), z.unknown());

const exampleArguments = '{\n  "params": {\n    "job_id": 123,\n    "notebook_params": { "env": "prod" }\n  }\n}';

export function addPolicyRoutes(router: Router, ctx: DashboardContext): void {
  const { policy, limits, log } = ctx.deps;

  const render = async (res: Response, session: ActiveSession, status: number, explain: ExplainModel) => {
    let usages: DashboardLimitUsage[] | undefined;
    try {
      usages = await limits.inspect();
    } catch (error) {
      log.warn({ err: error instanceof Error ? error.message : String(error) }, 'dashboard could not read limit counts');
    }
    const body = policyBody({ files: policy.info(), usages, agentNames: policy.agentNames(), explain, csrfToken: session.csrfToken });
    sendPage(res, status, { title: 'Policy', section: 'policy', session, body });
  };

  router.get(
    '/policy',
    page(ctx, async (_req, res, session) => {
      const firstAgent = policy.agentNames()[0] ?? '';
      await render(res, session, 200, { agent: firstAgent, tool: 'run_job', argumentsText: exampleArguments });
    }),
  );

  router.post(
    '/policy/explain',
    action(ctx, ExplainForm, async (_req, res, session, form) => {
      const echo = { agent: form.agent, tool: form.tool, argumentsText: form.arguments };
      if (form.agent === '' || form.tool === '') {
        await render(res, session, 400, { ...echo, error: 'Give an agent name and a tool name.' });
        return;
      }
      const args = parseArguments(form.arguments);
      if (!args.ok) {
        await render(res, session, 400, { ...echo, error: args.error });
        return;
      }
      await render(res, session, 200, { ...echo, result: policy.explain(form.agent, form.tool, args.value) });
    }),
  );
}

function parseArguments(text: string): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } {
  if (text.trim() === '') return { ok: true, value: {} };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `The arguments are not valid JSON: ${error instanceof Error ? error.message : String(error)}.` };
  }
  const parsed = ArgumentsSchema.safeParse(json);
  if (!parsed.success) return { ok: false, error: 'The arguments must be a JSON object, such as {"params": {"job_id": 123}}.' };
  // The same canonical form the gateway evaluates (prototype-free, nesting bounded).
  const canonical = canonicalArguments(json, explainLimits);
  return canonical.ok
    ? { ok: true, value: canonical.value }
    : { ok: false, error: `The arguments were refused: ${canonical.violation.path} ${canonical.violation.problem}.` };
}
