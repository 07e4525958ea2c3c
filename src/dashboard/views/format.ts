/**
 * Formatting shared by the dashboard's views: times (UTC, with a machine-readable `datetime`),
 * spans, JSON values, actors and audit event names in words. Pure functions of their inputs and
 * the given clock.
 */
import type { AuditActor, AuditEventType } from '../../audit/types.js';
import { html, type SafeHtml } from '../html.js';

/** `2026-11-01 09:30:12 UTC` from an ISO time or epoch ms. */
export function formatUtc(time: string | number): string {
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) return String(time);
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A `<time>` element showing UTC. */
export function timeElement(time: string | number): SafeHtml {
  const date = new Date(time);
  const iso = Number.isNaN(date.getTime()) ? String(time) : date.toISOString();
  return html`<time datetime="${iso}">${formatUtc(time)}</time>`;
}

/** `14 min 5 s`, `2 h 3 min`, `45 s`: a span people read at a glance. */
export function formatSpan(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1_000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return pair(minutes, 'min', seconds % 60, 's');
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return pair(hours, 'h', minutes % 60, 'min');
  return pair(Math.floor(hours / 24), 'd', hours % 24, 'h');
}

/** `15 min`, `15 min 4 s`: the smaller unit only when it is not zero. */
function pair(big: number, bigUnit: string, small: number, smallUnit: string): string {
  return small === 0 ? `${big} ${bigUnit}` : `${big} ${bigUnit} ${small} ${smallUnit}`;
}

/**
 * Time left before a deadline, as a `<time>` the dashboard script keeps counting down
 * (`data-countdown`); without the script it shows the value at render time.
 */
export function countdown(deadlineIso: string, nowMs: number): SafeHtml {
  const left = Date.parse(deadlineIso) - nowMs;
  const text = left > 0 ? `in ${formatSpan(left)}` : 'now (expiring)';
  return html`<time datetime="${deadlineIso}" data-countdown title="${formatUtc(deadlineIso)}">${text}</time>`;
}

/** A value as people read it: strings bare, everything else as indented JSON. */
export function valueText(value: unknown): string {
  if (typeof value === 'string') return value;
  const text = JSON.stringify(value, null, 2);
  return text ?? String(value);
}

/** An actor as one line: `alice (U012AB)`, `admin`, `system`. */
export function actorText(actor: AuditActor | { id: string; name?: string | undefined; kind?: string } | undefined): string {
  if (!actor) return '';
  if (actor.name === undefined || actor.name === actor.id) return actor.id;
  return `${actor.name} (${actor.id})`;
}

const eventLabels: Record<AuditEventType, string> = {
  allowed: 'Allowed',
  denied: 'Denied by policy',
  invalid_arguments: 'Invalid arguments',
  rate_limited: 'Rate limited',
  approval_requested: 'Approval requested',
  approval_vote: 'Approval vote',
  approval_reminded: 'Approvers reminded',
  approval_escalated: 'Escalated',
  approved: 'Approved',
  approval_denied: 'Denied by approver',
  expired: 'Expired',
  withdrawn: 'Withdrawn',
  unauthorized_approver: 'Refused: not an approver',
  edit_refused: 'Edit refused',
  executed: 'Executed',
  outcome_unknown: 'Outcome unknown',
  rerun_approved: 'Re-run approved',
  grant_created: 'Standing grant given',
  grant_used: 'Ran under a standing grant',
  grant_revoked: 'Standing grant revoked',
  would_have: 'Shadow rule would have decided',
  refused: 'Refused (not forwarded)',
  policy_loaded: 'Policy loaded',
  policy_rejected: 'Policy change rejected',
  retention_trimmed: 'Retention trim',
  dashboard_sign_in: 'Dashboard sign-in',
};

/** An audit event type in words. */
export function eventLabel(type: AuditEventType): string {
  return eventLabels[type];
}

/** Status words and the CSS class that colours them. */
export function statusBadge(status: string): SafeHtml {
  return html`<span class="badge badge-${status.replace(/[^a-z_]/g, '')}">${status}</span>`;
}
