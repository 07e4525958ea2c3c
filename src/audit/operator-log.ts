/**
 * Tells the person running the gateway what happens to held calls, without Slack: one `info` line
 * per held call (approval id, agent, tool, the policy's `show` values, where to decide) and per
 * vote, decision, expiry, withdrawal and release. It sits on the audit stream — every one of those
 * steps is an audit event — so it sees them from every channel without touching the approvals
 * core, and it adds the `show` paths to those events (`details.show`) so the history can lead
 * with the same key arguments.
 */
import type { Logger } from '../log.js';
import { getPath, parsePath } from '../util/paths.js';
import type { AuditEventInput, AuditEventType, AuditSink } from './types.js';

export interface OperatorLogOptions {
  /** Where the lines go; omit to only add the `show` paths (the CLI). */
  log?: Logger;
  /** The policy's `show` paths for a held call, from its record; undefined when unknown. */
  showPaths(approvalId: string): Promise<readonly string[] | undefined>;
  /** The dashboard page of a held call. */
  link?(approvalId: string): string;
}

const approvalEvents: ReadonlySet<AuditEventType> = new Set([
  'approval_requested',
  'approval_vote',
  'approval_reminded',
  'approval_escalated',
  'approved',
  'approval_denied',
  'expired',
  'withdrawn',
  'executed',
]);

/** Wraps a sink: approval events get `details.show` and, with a logger, one line for the operator. */
export function operatorLogSink(sink: AuditSink, options: OperatorLogOptions): AuditSink {
  return {
    async append(event) {
      if (!approvalEvents.has(event.type) || event.approvalId === undefined) return sink.append(event);
      const paths = await options.showPaths(event.approvalId).catch(() => undefined);
      const enriched: AuditEventInput = paths && paths.length > 0 ? { ...event, details: { ...event.details, show: [...paths] } } : event;
      try {
        await sink.append(enriched);
      } finally {
        if (options.log) logLine(options.log, enriched, paths ?? [], options.link?.(event.approvalId));
      }
    },
  };
}

/** The `show` values of an event's (redacted) arguments, path → value. */
export function showValues(event: Pick<AuditEventInput, 'arguments' | 'details'>): Record<string, unknown> {
  const paths = event.details?.['show'];
  if (!Array.isArray(paths)) return {};
  const out: Record<string, unknown> = {};
  for (const path of paths) {
    if (typeof path !== 'string') continue;
    const value = getPath(event.arguments, parsePath(path));
    if (value !== undefined) out[path] = value;
  }
  return out;
}

function logLine(log: Logger, event: AuditEventInput, paths: readonly string[], link: string | undefined): void {
  const show = showValues({ arguments: event.arguments, details: { show: paths } });
  const shown = Object.entries(show).map(([path, value]) => `${path}=${JSON.stringify(value)}`);
  const who = event.actor ? (event.actor.name ? `${event.actor.name} (${event.actor.id})` : event.actor.id) : undefined;
  const fields = { approvalId: event.approvalId, agent: event.agent, tool: event.tool, show, ...(link ? { link } : {}) };
  const call = `${event.approvalId}: ${event.tool ?? 'a tool'} from ${event.agent ?? 'an agent'}${shown.length > 0 ? ` (${shown.join(', ').slice(0, 300)})` : ''}`;
  switch (event.type) {
    case 'approval_requested':
      log.info(
        { ...fields, rule: event.rule },
        `call held for approval ${call}; decide at ${link ?? 'the dashboard'} or with \`airlock approvals approve|deny ${event.approvalId}\``,
      );
      return;
    case 'approval_vote':
      log.info({ ...fields, by: who, votes: event.details }, `approval vote recorded on ${call}, by ${who ?? 'an approver'}`);
      return;
    case 'approval_reminded':
      log.info({ ...fields, step: event.details?.['step'] }, `approvers reminded of ${call}: still waiting for a decision`);
      return;
    case 'approval_escalated':
      log.info({ ...fields, step: event.details?.['step'], escalation: event.details }, `held call escalated ${call}: still waiting for a decision`);
      return;
    case 'approved':
      log.info({ ...fields, by: who }, `held call approved ${call}, by ${who ?? 'an approver'}`);
      return;
    case 'approval_denied':
      log.info(
        { ...fields, by: who, reason: event.reason },
        `held call denied ${call}, by ${who ?? 'an approver'}${event.reason ? `: ${event.reason.slice(0, 200)}` : ''}`,
      );
      return;
    case 'expired':
      log.info({ ...fields, reason: event.reason }, `held call expired ${call}: nobody decided in time`);
      return;
    case 'withdrawn':
      log.info({ ...fields, reason: event.reason }, `held call withdrawn ${call}${event.reason ? `: ${event.reason}` : ''}`);
      return;
    case 'executed':
      log.info(
        { ...fields, outcome: event.outcome, summary: event.details?.['summary'] },
        `approved call released upstream ${call}: ${event.outcome ?? 'done'}`,
      );
      return;
    default:
      return;
  }
}
