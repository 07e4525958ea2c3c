/**
 * The `approve` step of a tools/call: hold the call, keep the agent's request alive while a
 * person decides, then release it to the upstream exactly once or answer with the reason.
 *
 * Keeping the request alive, by what the client supports:
 *  1. it sent a progress token → `notifications/progress` every few seconds until the decision;
 *  2. otherwise → answer before typical client timeouts with "approval pending, retry the same
 *     call"; the identical retry attaches to the same approval and, once approved, runs it once.
 * If the agent cancels or its connection closes while waiting, the approval is withdrawn.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ApprovalService } from '../approvals/approval-service.js';
import type { ApprovalRecord, Execution } from '../approvals/types.js';
import { AirlockError } from '../errors.js';
import { formatDurationMs } from '../util/duration.js';
import type { CallContext } from './call-context.js';
import { toolErrorResult } from './wire.js';

export interface HeldCallOptions {
  approvals: ApprovalService;
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
  /** Sends the call upstream; runs at most once per approval. */
  release(): Promise<CallToolResult>;
}

/** Waits for the decision on a held call and turns it into the agent's answer. */
export async function runHeldCall(options: HeldCallOptions, input: HeldCallInput): Promise<CallToolResult> {
  const { ctx } = input;
  let record = input.record;
  if (record.status === 'pending') {
    const untilExpiry = record.expiresAt - Date.now() + 2_000;
    const waitMs = ctx.canWaitLong ? untilExpiry : Math.min(options.answerPendingAfterMs, untilExpiry);
    const stopProgress = ctx.canWaitLong ? startProgress(options, input) : () => undefined;
    try {
      const wakeUp = options.stopping ? AbortSignal.any([ctx.signal, options.stopping]) : ctx.signal;
      record = await options.approvals.waitForOutcome(record.id, waitMs, wakeUp);
    } finally {
      stopProgress();
    }
    if (ctx.signal.aborted && record.status === 'pending') {
      await options.approvals.withdraw(record.id, 'the agent cancelled the call or its connection closed');
      throw new AirlockError('cancelled', 'The call was cancelled while waiting for approval; the approval request was withdrawn.');
    }
  }
  switch (record.status) {
    case 'pending':
      return toolErrorResult(pendingError(options, record));
    case 'approved':
      return execute(options.approvals, record, input.release);
    case 'denied':
      return toolErrorResult(deniedError(record));
    case 'expired':
      return toolErrorResult(
        new AirlockError(
          'approval_expired',
          `Nobody decided on ${record.tool} (approval ${record.id}) within ${formatDurationMs(record.settings.timeoutMs)}, so it was not run. Retrying sends a new approval request; consider telling the user an approval is needed.`,
          { details: { approvalId: record.id } },
        ),
      );
    case 'withdrawn':
      return toolErrorResult(
        new AirlockError(
          'approval_withdrawn',
          `The approval request ${record.id} for ${record.tool} was withdrawn, so it was not run. Call again to ask anew.`,
          {
            details: { approvalId: record.id },
          },
        ),
      );
  }
}

/** Runs an approved call once; a concurrent identical retry gets the same result instead of a second run. */
async function execute(approvals: ApprovalService, record: ApprovalRecord, release: () => Promise<CallToolResult>): Promise<CallToolResult> {
  if (record.execution) return collectResult(approvals, record);
  const claim = await approvals.claimExecution(record.id);
  if (claim === 'taken') return collectResult(approvals, record);
  if (claim !== 'claimed') {
    throw new AirlockError('conflict', `Approval ${record.id} is ${claim}; it cannot be released.`, { details: { approvalId: record.id } });
  }
  const started = Date.now();
  let result: CallToolResult;
  let outcome: Execution['outcome'];
  try {
    result = await release();
    outcome = result.isError || looksLikeErrorText(result) ? 'tool_error' : 'success';
  } catch (error) {
    const execution: Execution = {
      outcome: 'upstream_failure',
      at: Date.now(),
      durationMs: Date.now() - started,
      summary: (error as Error).message.slice(0, 300),
    };
    await approvals.recordExecution(record, execution, null);
    throw error;
  }
  const execution: Execution = { outcome, at: Date.now(), durationMs: Date.now() - started, summary: summarize(result) };
  await approvals.recordExecution(record, execution, result);
  return result;
}

/** Waits (briefly) for another request's run of the same approval, then returns its stored result. */
async function collectResult(approvals: ApprovalService, record: ApprovalRecord): Promise<CallToolResult> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const stored = await approvals.store.result(record.id);
    if (stored !== undefined && stored !== null) return stored as CallToolResult; // written by execute() from a CallToolResult
    const fresh = await approvals.get(record.id);
    if (fresh?.execution && stored === null) {
      throw new AirlockError('upstream_failed', `The approved call ${record.id} was released but the upstream failed: ${fresh.execution.summary}`, {
        details: { approvalId: record.id },
      });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new AirlockError('upstream_timeout', `The approved call ${record.id} is still running in another request; check its effect before retrying.`);
}

/**
 * Progress every `progressIntervalMs`, the first at once. The second comes after a random part of
 * the interval, so calls held in the same instant do not all tick in the same millisecond ever
 * after (10,000 held calls would otherwise stall the event loop in bursts).
 */
function startProgress(options: HeldCallOptions, input: HeldCallInput): () => void {
  const { record, ctx } = input;
  const total = Math.max(1, Math.round(record.settings.timeoutMs / 1_000));
  const where = options.describeChannel(record.settings.channel);
  const tick = () => {
    const elapsedMs = Date.now() - record.createdAt;
    const elapsedSec = Math.round(elapsedMs / 1_000);
    const when =
      elapsedSec < 1
        ? `sent just now; expires in ${formatDurationMs(record.settings.timeoutMs)}`
        : `${formatDurationMs(elapsedSec * 1_000)} of ${formatDurationMs(record.settings.timeoutMs)}`;
    const message = `waiting for approval ${record.id} from ${where} (${when})`;
    // Seconds with one decimal: strictly increasing from tick to tick, as MCP requires.
    void ctx.sendProgress({ progress: Math.round(elapsedMs / 100) / 10, total, message }).catch(() => undefined);
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

/** Servers such as Databricks' report errors as plain text `{"error": …}` without isError. */
function looksLikeErrorText(result: CallToolResult): boolean {
  const first = result.content[0];
  if (first?.type !== 'text') return false;
  try {
    const parsed: unknown = JSON.parse(first.text);
    return parsed !== null && typeof parsed === 'object' && 'error' in parsed;
  } catch {
    return false;
  }
}

/** A one-line summary for channels: the run id when the result has one, else the start of the text. */
function summarize(result: CallToolResult): string {
  const text = result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join(' ');
  const runId = /"run_id"\s*:\s*(\d+)/.exec(text)?.[1];
  return runId ? `run_id ${runId}` : text.slice(0, 300);
}
