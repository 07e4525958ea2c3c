/**
 * One held call on its own page: what was asked, the decide forms while it is pending, the
 * outcome once decided, and its story from the audit history (requested → votes → decision →
 * execution). The story outlives the approval record, so a call decided long ago still has a page.
 */
import type { ApprovalView } from '../../approvals/approval-view.js';
import type { AuditEvent } from '../../audit/types.js';
import { html, SafeHtml } from '../html.js';
import { approvalFacts, approvalOutcome, approvalPath, approvalProgress, decideForms, editFacts, rerunForm } from './approval-parts.js';
import { actorText, eventLabel, formatSpan, timeElement, valueText } from './format.js';

export interface ApprovalPageModel {
  id: string;
  /** Undefined once the record has left the store (the story remains). */
  view: ApprovalView | undefined;
  story: readonly AuditEvent[];
  /** Undefined when the signed-in role may not decide (no decision forms then). */
  csrfToken: string | undefined;
  nowMs: number;
}

export function approvalTitle(model: ApprovalPageModel): string {
  const first = model.story[0];
  const tool = model.view?.tool ?? first?.tool ?? 'Held call';
  const agent = model.view?.agent ?? first?.agent;
  return agent === undefined ? tool : `${tool} from ${agent}`;
}

function heading(model: ApprovalPageModel): SafeHtml {
  const first = model.story[0];
  const tool = model.view?.tool ?? first?.tool;
  const agent = model.view?.agent ?? first?.agent;
  if (tool === undefined) return html`Held call`;
  return html`<code>${tool}</code>${agent !== undefined && html` from ${agent}`}`;
}

export function approvalBody(model: ApprovalPageModel): SafeHtml {
  const { view } = model;
  return html`<p class="crumbs"><a href="/">Pending</a> › <a href="/history">History</a> › <span>${model.id}</span></p>
    <h1>${heading(model)}</h1>
    <p class="muted id">Approval <code>${model.id}</code></p>
    ${view ? summary(view, model) : html`<p>This call's record is no longer kept (records of decided calls expire); its story from the audit history follows.</p>`}
    <section aria-labelledby="story-heading">
      <h2 id="story-heading">Story</h2>
      ${model.story.length === 0 ? html`<p>No audit events for this call (they may be older than the retention).</p>` : storyList(model.story)}
    </section>`;
}

function summary(view: ApprovalView, model: ApprovalPageModel): SafeHtml {
  return html`<section class="card" aria-labelledby="call-heading">
    <h2 id="call-heading">The call</h2>
    ${approvalFacts(view, model.nowMs)} ${editFacts(view)} ${approvalProgress(view)} ${approvalOutcome(view)}
    ${view.status === 'pending' && decideForms(view, model.csrfToken, approvalPath(view.id))}
    ${view.rerunnable && rerunForm(view, model.csrfToken, approvalPath(view.id))}
  </section>`;
}

/** The events of one call, oldest first, as an ordered timeline. */
export function storyList(events: readonly AuditEvent[]): SafeHtml {
  return html`<ol class="timeline">
    ${events.map(storyItem)}
  </ol>`;
}

function storyItem(event: AuditEvent): SafeHtml {
  const latency = event.latency ?? {};
  const spans = [
    latency.decisionMs !== undefined ? `decided after ${formatSpan(latency.decisionMs)}` : undefined,
    latency.heldMs !== undefined ? `held ${formatSpan(latency.heldMs)}` : undefined,
    latency.upstreamMs !== undefined ? `upstream ${latency.upstreamMs} ms` : undefined,
  ].filter((s): s is string => s !== undefined);
  const summaryText = typeof event.details?.['summary'] === 'string' ? event.details['summary'] : undefined;
  const quorum =
    event.type === 'approval_vote' && event.details ? `${valueText(event.details['approvals'])} of ${valueText(event.details['quorum'])} approvals` : undefined;
  const facts = [
    event.actor && html`<li>by ${actorText(event.actor)}</li>`,
    quorum && html`<li>${quorum}</li>`,
    event.reason && html`<li>reason: ${event.reason}</li>`,
    event.outcome && html`<li>outcome: ${event.outcome}${summaryText && html` — ${summaryText}`}</li>`,
    spans.length > 0 && html`<li>${spans.join(', ')}</li>`,
  ].filter((fact): fact is SafeHtml => fact instanceof SafeHtml);
  return html`<li class="event event-${event.type}">
    <p><strong>${eventLabel(event.type)}</strong> <span class="muted">${timeElement(event.time)}</span></p>
    ${
      facts.length > 0 &&
      html`<ul class="event-facts">
        ${facts}
      </ul>`
    }
  </li>`;
}
