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
export function pendingBody(
  views: readonly ApprovalView[],
  csrfToken: string | undefined,
  nowMs: number,
  attention: readonly ApprovalView[] = [],
  filter: PendingListFilter = {},
): SafeHtml {
  return html`<h1>Pending approvals</h1>
    <p class="lead" id="pending-summary" aria-live="polite">${pendingSummary(views.length)}</p>
    ${filterForm(filter)} ${csrfToken !== undefined && views.length > 0 && batchForm(csrfToken)}
    <p class="muted shortcuts">
      Keys: <kbd>j</kbd>/<kbd>k</kbd> move, <kbd>x</kbd> select, <kbd>a</kbd> approve (then confirm), <kbd>d</kbd> deny (type a reason).
    </p>
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

/** Which pending calls the list shows: exact agent and tool names (either or both). */
export interface PendingListFilter {
  agent?: string;
  tool?: string;
}

function filterForm(filter: PendingListFilter): SafeHtml {
  return html`<form method="get" action="/" class="filters pending-filter" role="search">
    <label for="filter-agent">Agent</label>
    <input type="text" id="filter-agent" name="agent" value="${filter.agent ?? ''}" maxlength="128" autocomplete="off" />
    <label for="filter-tool">Tool</label>
    <input type="text" id="filter-tool" name="tool" value="${filter.tool ?? ''}" maxlength="256" autocomplete="off" />
    <button type="submit" class="button secondary">Filter</button>
    ${(filter.agent || filter.tool) && html`<a href="/">Show all</a>`}
  </form>`;
}

/**
 * Deciding several calls at once: each card's checkbox belongs to this form (`form="batch-decide"`).
 * Approve asks for confirmation first; deny needs one reason for all. Each call is still checked
 * and audited on its own.
 */
function batchForm(csrfToken: string): SafeHtml {
  return html`<form method="post" action="/approvals/batch" id="batch-decide" class="batch-decide" aria-label="Decide the selected calls">
    <input type="hidden" name="_csrf" value="${csrfToken}" />
    <span class="label">Selected calls:</span>
    <details class="approve-confirm batch-confirm">
      <summary class="button approve">Approve selected…</summary>
      <p>Approve every selected call? Each runs once, as soon as you confirm; each is checked and audited on its own.</p>
      <button type="submit" name="verdict" value="approve" class="button approve">Yes, approve selected</button>
    </details>
    <span class="inline">
      <label for="batch-reason" class="vh">Reason for denying the selected calls (told to each agent)</label>
      <input type="text" id="batch-reason" name="reason" maxlength="2000" autocomplete="off" placeholder="Reason for denying (told to each agent)" />
      <button type="submit" name="verdict" value="deny" class="button deny">Deny selected</button>
    </span>
  </form>`;
}

function pendingSummary(count: number): string {
  return count === 1 ? '1 call is waiting for a decision.' : `${count} calls are waiting for a decision.`;
}
