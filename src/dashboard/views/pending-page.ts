/**
 * The home page: every held call still waiting for a decision, newest first, as cards with the
 * Approve and Deny forms. The list is also served alone as a fragment, which the dashboard
 * script fetches every few seconds and merges card by card (see assets/dashboard-js.ts).
 */
import type { ApprovalView } from '../../approvals/approval-view.js';
import { html, type SafeHtml } from '../html.js';
import { approvalCard, approvalSignature } from './approval-parts.js';

/** The live list: the element the dashboard script refreshes. */
export function pendingList(views: readonly ApprovalView[], csrfToken: string | undefined, nowMs: number): SafeHtml {
  const signature = views.map((v) => `${v.id}:${approvalSignature(v)}`).join(';');
  const summary = pendingSummary(views.length);
  return html`<div class="pending-list" data-live="pending" data-sig="${signature}" data-summary="${summary}">
    ${views.length === 0 ? html`<p class="empty" data-empty>No calls are waiting for a decision.</p>` : views.map((v) => approvalCard(v, csrfToken, nowMs))}
  </div>`;
}

/** The page body: heading, a polite live summary, the list. */
export function pendingBody(views: readonly ApprovalView[], csrfToken: string | undefined, nowMs: number): SafeHtml {
  return html`<h1>Pending approvals</h1>
    <p class="lead" id="pending-summary" aria-live="polite">${pendingSummary(views.length)}</p>
    ${pendingList(views, csrfToken, nowMs)}`;
}

function pendingSummary(count: number): string {
  return count === 1 ? '1 call is waiting for a decision.' : `${count} calls are waiting for a decision.`;
}
