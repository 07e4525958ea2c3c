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

/**
 * The page body: heading, a polite live summary, the list; then approved calls that failed or
 * whose outcome is unknown — they need a person (check the effect, maybe approve a re-run).
 */
export function pendingBody(views: readonly ApprovalView[], csrfToken: string | undefined, nowMs: number, attention: readonly ApprovalView[] = []): SafeHtml {
  return html`<h1>Pending approvals</h1>
    <p class="lead" id="pending-summary" aria-live="polite">${pendingSummary(views.length)}</p>
    ${pendingList(views, csrfToken, nowMs)}
    ${
      attention.length > 0 &&
      html`<section aria-labelledby="attention-heading">
        <h2 id="attention-heading">Failed or outcome unknown</h2>
        <p class="lead">Approved calls that may or may not have acted upstream. Airlock does not run them again on its own.</p>
        ${attention.map((v) => approvalCard(v, csrfToken, nowMs))}
      </section>`
    }`;
}

function pendingSummary(count: number): string {
  return count === 1 ? '1 call is waiting for a decision.' : `${count} calls are waiting for a decision.`;
}
