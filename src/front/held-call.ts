/**
 * The `approve` step of a tools/call: hold the call, keep the agent's request alive while a
 * person decides, then have the approvals core release it (at most once, across replicas) and
 * turn whatever happened into the agent's answer.
 *
 * Keeping the request alive, by what the client supports:
 *  1. it sent a progress token → `notifications/progress` every few seconds until the decision;
 *  2. otherwise → answer before typical client timeouts with "approval pending, retry the same
 *     call"; the identical retry attaches to the same approval and, once approved, runs it once.
 * If the agent cancels or its connection closes while waiting, the approval is withdrawn.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ApprovalCallPath, Release, ReleaseOutcome } from '../approvals/ports.js';
import type { ApprovalRecord, Edit } from '../approvals/types.js';
import { AirlockError } from '../errors.js';
import { formatDurationMs } from '../util/duration.js';
import type { CallContext } from './call-context.js';

export interface HeldCallOptions {
  approvals: ApprovalCallPath;
  /** Answer "pending, retry" after this long when progress cannot keep the request alive. */
  answerPendingAfterMs: number;
  progressIntervalMs: number;
  /** Where approval requests go, for messages ("#data-approvals", "the Airlock dashboard"). */
  describeChannel(channel: string | undefined): string;
  /**
   * Aborts when this gateway shuts down: waiting calls then answer "approval pending, retry"
   * (the hold lives on in Redis for another replica) instead of being withdrawn.
   */
  stopping?: AbortSignal;
}

export interface HeldCallInput {
  ctx: CallContext;
  record: ApprovalRecord;
  /** Sends the call upstream; the approvals core runs it at most once per approved execution. */
  release: Release;
  /** The release of the call as an approver edited it, or why it may no longer run; absent: edits are refused. */
  editedRelease?(record: ApprovalRecord, edit: Edit): { release: Release } | { refusal: AirlockError };
}

/** What a held call came to: the upstream's answer (run now or kept from its run), or why there is none. */
export type HeldOutcome = { result: CallToolResult } | { refusal: AirlockError };

/** Waits for the decision on a held call and turns it into the agent's answer. */
export async function runHeldCall(options: HeldCallOptions, input: HeldCallInput): Promise<HeldOutcome> {
  const { ctx } = input;
  let record = input.record;
  const wakeUp = options.stopping ? AbortSignal.any([ctx.signal, options.stopping]) : ctx.signal;
  if (record.status === 'pending') {
    const untilExpiry = record.expiresAt - Date.now() + 2_000;
    const waitMs = ctx.canWaitLong ? untilExpiry : Math.min(options.answerPendingAfterMs, untilExpiry);
    const stopProgress = ctx.canWaitLong ? startProgress(options, ctx, record, () => waitingMessage(options, record)) : () => undefined;
    try {
      record = await options.approvals.waitForOutcome(record.id, waitMs, wakeUp);
    } finally {
      stopProgress();
    }
    if (ctx.signal.aborted && record.status === 'pending') {
      await options.approvals.withdraw(record.id, 'the agent cancelled the call or its connection closed');
      throw new AirlockError('cancelled', 'The call was cancelled while waiting for approval; the approval request was withdrawn.');
    }
  }
  if (record.status === 'pending' || record.status === 'denied' || record.status === 'expired' || record.status === 'withdrawn') {
    return { refusal: notApprovedError(options, record) };
  }
  let release = input.release;
  if (record.edit) {
    const prepared = input.editedRelease
      ? input.editedRelease(record, record.edit)
      : {
          refusal: new AirlockError(
            'approval_denied',
            `Approval ${record.id} came with edited arguments, which this kind of request cannot take; it was NOT run.`,
          ),
        };
    if ('refusal' in prepared) return prepared;
    release = prepared.release;
  }
  const outcome = await options.approvals.releaseOnce(record, release, {
    // Another request running the same approval renews its lease while it runs: a client that
    // can wait long waits for its outcome; others are told to retry.
    waitMs: ctx.canWaitLong ? Math.max(options.answerPendingAfterMs, record.settings.timeoutMs) : options.answerPendingAfterMs,
    signal: wakeUp,
    onWaiting: (running) => (ctx.canWaitLong ? startProgress(options, ctx, running, () => runningMessage(running)) : () => undefined),
  });
  return answerFor(options, outcome);
}

/** The agent's answer for what releasing did; only `released` and `replayed` carry the upstream's result. */
function answerFor(options: HeldCallOptions, outcome: ReleaseOutcome): HeldOutcome {
  const { record } = outcome;
  const released = record.claim ? ` at ${new Date(record.claim.at).toISOString()}` : '';
  const rerun = `An approver can approve a re-run of approval ${record.id} (dashboard, Slack, \`airlock approvals rerun ${record.id}\`, or POST /api/approvals/${record.id}/rerun); after that, retry this exact call once.`;
  const details = { approvalId: record.id, status: record.status, attempt: record.attempt };
  switch (outcome.kind) {
    case 'released':
      return { result: outcome.result };
    case 'replayed':
      return outcome.result
        ? { result: outcome.result }
        : {
            refusal: new AirlockError(
              'conflict',
              `${record.tool} already ran for approval ${record.id}${released} (${record.execution?.outcome ?? 'done'}: ${record.execution?.summary ?? ''}), and its result is no longer kept. It will not run again; call with different arguments or after the retry window to ask anew.`,
              { details },
            ),
          };
    case 'failed':
      return {
        refusal: new AirlockError(
          'upstream_failed',
          `${record.tool} (approval ${record.id}) was released to the upstream${released} and the upstream call failed: ${record.execution?.summary ?? 'no detail'}. It may or may not have acted, so Airlock will not run it again on its own. Check its effect first. ${rerun}`,
          { details },
        ),
      };
    case 'outcome_unknown':
      return {
        refusal: new AirlockError(
          'outcome_unknown',
          `${record.tool} (approval ${record.id}) was approved and sent to the upstream${released}, but the Airlock replica running it stopped (it crashed or lost its state store) before recording what happened, so nobody knows whether it acted. Airlock will not run it again on its own; retrying alone changes nothing. Check its effect first (for run_job: look for the run). If it did not happen: ${rerun}`,
          { details },
        ),
      };
    case 'executing':
      return {
        refusal: new AirlockError(
          'execution_in_progress',
          `${record.tool} was approved (approval ${record.id}) and is running right now in another request${released}. It will not run twice. Retry this exact call in about 5 s to collect its result.`,
          { retryAfterSec: 5, details },
        ),
      };
    case 'not_approved':
      return { refusal: notApprovedError(options, record) };
  }
}

function notApprovedError(options: HeldCallOptions, record: ApprovalRecord): AirlockError {
  switch (record.status) {
    case 'denied':
      return deniedError(record);
    case 'expired':
      return new AirlockError(
        'approval_expired',
        `Nobody decided on ${record.tool} (approval ${record.id}) within ${formatDurationMs(record.settings.timeoutMs)}, so it was not run. Retrying sends a new approval request; consider telling the user an approval is needed.`,
        { details: { approvalId: record.id } },
      );
    case 'withdrawn':
      return new AirlockError(
        'approval_withdrawn',
        `The approval request ${record.id} for ${record.tool} was withdrawn, so it was not run. Call again to ask anew.`,
        {
          details: { approvalId: record.id },
        },
      );
    default:
      return pendingError(options, record);
  }
}

function waitingMessage(options: HeldCallOptions, record: ApprovalRecord): string {
  const elapsedSec = Math.round((Date.now() - record.createdAt) / 1_000);
  const when =
    elapsedSec < 1
      ? `sent just now; expires in ${formatDurationMs(record.settings.timeoutMs)}`
      : `${formatDurationMs(elapsedSec * 1_000)} of ${formatDurationMs(record.settings.timeoutMs)}`;
  return `waiting for approval ${record.id} from ${options.describeChannel(record.settings.channel)} (${when})`;
}

function runningMessage(record: ApprovalRecord): string {
  return `approval ${record.id} approved; ${record.tool} is running in another request, waiting for its result`;
}

/**
 * Progress every `progressIntervalMs`, the first at once. The second comes after a random part of
 * the interval, so calls held in the same instant do not all tick in the same millisecond ever
 * after (10,000 held calls would otherwise stall the event loop in bursts). Progress is the time
 * since the call was held, so it only grows, as MCP requires.
 */
function startProgress(options: HeldCallOptions, ctx: CallContext, record: ApprovalRecord, message: () => string): () => void {
  const total = Math.max(1, Math.round(record.settings.timeoutMs / 1_000));
  const tick = () => {
    const elapsedMs = Date.now() - record.createdAt;
    // Seconds with one decimal: strictly increasing from tick to tick, as MCP requires.
    void ctx.sendProgress({ progress: Math.round(elapsedMs / 100) / 10, total, message: message() }).catch(() => undefined);
  };
  tick();
  let timer: NodeJS.Timeout;
  const next = () => {
    tick();
    timer = setTimeout(next, options.progressIntervalMs);
  };
  timer = setTimeout(next, options.progressIntervalMs * (0.5 + Math.random() / 2));
  return () => clearTimeout(timer);
}

function pendingError(options: HeldCallOptions, record: ApprovalRecord): AirlockError {
  const left = Math.max(0, record.expiresAt - Date.now());
  const retryAfterSec = Math.max(5, Math.min(30, Math.round(left / 1_000)));
  return new AirlockError(
    'approval_pending',
    `${record.tool} needs a person's approval and has NOT run yet. Approval ${record.id} was sent to ${options.describeChannel(record.settings.channel)} and expires in ${formatDurationMs(left)}. ` +
      `Retry this exact call (same tool, same arguments) in about ${retryAfterSec} s to pick up the decision; a retry does not send a second request, and once approved the call runs once.`,
    { retryAfterSec, details: { approvalId: record.id, expiresAt: new Date(record.expiresAt).toISOString() } },
  );
}

function deniedError(record: ApprovalRecord): AirlockError {
  const who = record.decidedBy ? (record.decidedBy.name ? `${record.decidedBy.name} (${record.decidedBy.id})` : record.decidedBy.id) : 'an approver';
  const reason = record.reason ? ` Reason: ${quotedSentence(record.reason)}` : ' No reason was given.';
  return new AirlockError(
    'approval_denied',
    `${record.tool} was denied by ${who}, so it was not run.${reason} Do not retry the same call unchanged; address the reason or ask the user.`,
    { details: { approvalId: record.id, decidedBy: record.decidedBy?.id, reason: record.reason } },
  );
}

/** `"Not today."` — a sentence that already ends in . ! or ? gets no second full stop; others get one. */
function quotedSentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?…]["'”’)]*$/.test(trimmed) ? `"${trimmed}"` : `"${trimmed}".`;
}
