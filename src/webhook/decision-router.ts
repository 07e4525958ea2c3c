/**
 * `POST /webhooks/decisions`: a decision signed with a webhook key (signature.ts), from a
 * receiver that asked a person (an e-mail reply, a Teams card, an incident tool). The key names
 * itself in `X-Airlock-Key`; the config binds each key to one Slack user ID, and the decision is
 * recorded as that identity through the approvals core's `decide()` — so the policy's approvers
 * and quorum apply exactly as to that user's clicks, and the core audits it like any decision.
 *
 * Refused before anything is decided: an unknown key, a bad signature, a timestamp outside the
 * replay window (older than `webhooks.replayWindow`, or more than a minute ahead), and a signature
 * already accepted once (remembered in Redis across replicas for the window, so a captured
 * request cannot be played again). When Redis cannot tell, the request is refused (503).
 */
import { createHash } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { ApprovalChannels } from '../approvals/ports.js';
import { toApprovalView } from '../approvals/approval-view.js';
import type { Actor, DecisionResult, EditRefused } from '../approvals/types.js';
import type { OnceStore } from '../channel-plugin.js';
import { AirlockError } from '../errors.js';
import { sendJsonError } from '../http/json-errors.js';
import type { Logger } from '../log.js';
import { firstProblemLine } from '../util/zod-problems.js';
import { isValidSignature, keyHeader, signatureHeader, timestampHeader } from './signature.js';

/** A key from `webhooks.keys`, its secret read from the environment. */
export interface WebhookKey {
  secret: string;
  /** The Slack user ID decisions signed with it count as. */
  identity: string;
  name: string;
}

export interface DecisionRouterOptions {
  approvals: Pick<ApprovalChannels, 'decide' | 'decideEdited'>;
  keys: ReadonlyMap<string, WebhookKey>;
  once: OnceStore;
  replayWindowMs: number;
  log: Logger;
  now: () => number;
}

/** How far ahead of our clock a decision may be stamped. */
const maxFutureSkewSec = 60;

const DecisionSchema = z
  .strictObject({
    approvalId: z.string().regex(/^apr_[a-z0-9]{1,40}$/, 'approvalId is the id from the request payload (apr_…)'),
    verdict: z.enum(['approve', 'deny']),
    reason: z.string().trim().max(2_000).optional(),
    /** Edit, then approve: argument path → new value, for paths the policy's `approval.editable` lists. */
    edits: z.record(z.string().min(1).max(256), z.unknown()).optional(),
  })
  .refine((d) => d.edits === undefined || d.verdict === 'approve', { message: '"edits" go with "verdict": "approve" only', path: ['edits'] })
  .refine((d) => d.verdict !== 'deny' || (d.reason ?? '') !== '', { message: 'a deny needs a "reason": the agent reads it', path: ['reason'] });

export function decisionRouter(options: DecisionRouterOptions): Router {
  const router = express.Router();
  router.post('/decisions', express.raw({ type: () => true, limit: '64kb' }), async (req, res) => {
    try {
      const { key, keyName } = await authenticate(req, options);
      const decision = parseDecision(req.body);
      const actor: Actor = { kind: 'webhook', id: key.identity, name: key.name };
      const result =
        decision.edits === undefined
          ? await options.approvals.decide(decision.approvalId, actor, decision.verdict, decision.reason)
          : await options.approvals.decideEdited(decision.approvalId, actor, decision.edits, decision.reason);
      options.log.info({ approval: decision.approvalId, key: keyName, identity: key.identity, result: result.kind }, 'webhook decision');
      respond(res, decision.approvalId, keyName, result);
    } catch (error) {
      sendJsonError(res, error);
    }
  });
  router.use((error: unknown, _req: Request, res: Response, _next: express.NextFunction) => {
    const type = (error as { type?: string }).type;
    sendJsonError(res, type === 'entity.too.large' ? new AirlockError('body_too_large', 'A decision body is at most 64kb.') : error);
  });
  return router;
}

/** The key that signed this request, once its signature, timestamp and freshness check out. */
async function authenticate(req: Request, options: DecisionRouterOptions): Promise<{ key: WebhookKey; keyName: string }> {
  const keyName = req.header(keyHeader) ?? '';
  const key = options.keys.get(keyName);
  if (!key) throw refused(options, req, `unknown webhook key ${JSON.stringify(keyName.slice(0, 64))}: send ${keyHeader} with a key name from webhooks.keys`);
  const stampedSec = Number(req.header(timestampHeader));
  if (!Number.isSafeInteger(stampedSec)) throw refused(options, req, `${timestampHeader} must be the Unix time in seconds when the request was signed`);
  const nowSec = Math.floor(options.now() / 1_000);
  const windowSec = Math.floor(options.replayWindowMs / 1_000);
  if (nowSec - stampedSec > windowSec)
    throw refused(
      options,
      req,
      `the request was signed ${nowSec - stampedSec}s ago, outside the ${windowSec}s replay window: sign it again with the current time`,
    );
  if (stampedSec - nowSec > maxFutureSkewSec)
    throw refused(
      options,
      req,
      `the request is stamped ${stampedSec - nowSec}s in the future (more than ${maxFutureSkewSec}s of clock skew): check the sender's clock`,
    );
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const signature = req.header(signatureHeader) ?? '';
  if (!isValidSignature(key.secret, stampedSec, body, signature)) {
    throw refused(
      options,
      req,
      `bad signature for key ${keyName}: ${signatureHeader} must be "v0=" + hex HMAC-SHA256 of "v0:{timestamp}:{raw body}" with the key's secret`,
    );
  }
  const fingerprint = createHash('sha256').update(signature).digest('hex');
  const fresh = await options.once.claim(`webhook-decision:${fingerprint}`, options.replayWindowMs + maxFutureSkewSec * 1_000);
  if (!fresh) {
    options.log.warn({ key: keyName }, 'refused a replayed webhook decision');
    throw new AirlockError(
      'conflict',
      'This signed request was already received once; a decision is never accepted twice. Sign a new request (a new timestamp) to send another.',
    );
  }
  return { key, keyName };
}

function parseDecision(body: unknown): z.output<typeof DecisionSchema> {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : '');
  } catch {
    throw new AirlockError('parse_error', 'The body must be JSON: {"approvalId": "apr_…", "verdict": "approve" | "deny", "reason": "…"}.');
  }
  const parsed = DecisionSchema.safeParse(json);
  if (!parsed.success) throw new AirlockError('invalid_request', `Bad decision: ${firstProblemLine(parsed.error)}`);
  return parsed.data;
}

function refused(options: DecisionRouterOptions, req: Request, why: string): AirlockError {
  options.log.warn({ key: (req.header(keyHeader) ?? '').slice(0, 64), why }, 'refused a webhook decision');
  return new AirlockError('unauthorized', `Webhook decision refused: ${why}. Nothing was decided.`);
}

/** 200 for a decision or a vote counted; 409/403/404 otherwise, always saying what happened. */
function respond(res: Response, id: string, keyName: string, result: DecisionResult | EditRefused): void {
  switch (result.kind) {
    case 'edit_refused':
      throw new AirlockError('invalid_request', `Edit refused: ${result.why}. Nothing was approved; ${id} still waits.`);
    case 'decided':
    case 'vote_recorded':
      res.json({ result: result.kind, approval: toApprovalView(result.record) });
      return;
    case 'duplicate_vote':
      throw new AirlockError(
        'conflict',
        `${result.record.id}: the identity of key ${keyName} already approved (${result.approvals} of ${result.quorum}); another approver must approve.`,
        { details: { approvals: result.approvals, quorum: result.quorum } },
      );
    case 'already_decided':
    case 'not_rerunnable':
      throw new AirlockError('conflict', `Approval ${id} is already ${result.record.status}; nothing changed.`, { details: { status: result.record.status } });
    case 'not_authorized':
      throw new AirlockError('forbidden', `Key ${keyName} may not decide ${id}: ${result.why} (the key acts as that identity). Nothing was decided.`);
    case 'not_found':
      throw new AirlockError('not_found', `No approval ${id} (it may have expired out of the store; see the audit history).`);
  }
}
