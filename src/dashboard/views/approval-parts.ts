/**
 * The pieces of a held call on screen, shared by the pending list and the approval page: what
 * was asked (tool, agent, the policy's `show` highlights, every argument on demand — already
 * redacted by the core), how far the decision got (quorum progress, who voted) and the Approve
 * and Deny forms, which work without JavaScript.
 */
import type { ApprovalView } from '../../approvals/approval-view.js';
import { anyApprover } from '../../policy/types.js';
import { formatDurationMs } from '../../util/duration.js';
import { getPath, parsePath } from '../../util/paths.js';
import { html, type SafeHtml } from '../html.js';
import { actorText, countdown, statusBadge, timeElement, valueText } from './format.js';

/** The dashboard page of one held call. */
export function approvalPath(id: string): string {
  return `/approvals/${encodeURIComponent(id)}`;
}

/** The key facts of a held call as a description list. */
export function approvalFacts(view: ApprovalView, nowMs: number): SafeHtml {
  const highlights = view.highlights.map(
    (h) =>
      html`<div class="fact fact-wide">
        <dt><code>${h.path}</code></dt>
        <dd><pre class="value">${valueText(h.value)}</pre></dd>
      </div>`,
  );
  return html`<dl class="facts">
      <div class="fact">
        <dt>Status</dt>
        <dd>${statusBadge(view.status)}</dd>
      </div>
      <div class="fact">
        <dt>Agent</dt>
        <dd>${view.agent}${view.owner && html` <span class="muted">(owner ${view.owner})</span>`}</dd>
      </div>
      <div class="fact">
        <dt>Tool</dt>
        <dd><code>${view.tool}</code> <span class="muted">on ${view.upstream}</span></dd>
      </div>
      <div class="fact">
        <dt>Requested</dt>
        <dd>${timeElement(view.createdAt)}</dd>
      </div>
      <div class="fact">
        <dt>${view.status === 'pending' ? 'Expires' : 'Expiry was'}</dt>
        <dd>${view.status === 'pending' ? countdown(view.expiresAt, nowMs) : timeElement(view.expiresAt)}</dd>
      </div>
      <div class="fact">
        <dt>Rule</dt>
        <dd><code>${view.rule}</code> <span class="muted">policy ${view.policyVersion}</span></dd>
      </div>
      ${
        view.holdReason &&
        html`<div class="fact fact-wide">
          <dt>Why it is held</dt>
          <dd>${view.holdReason}</dd>
        </div>`
      }
      ${highlights} ${view.context && contextFacts(view.context)} ${view.previous && previousFact(view.previous)}
    </dl>
    <details class="arguments">
      <summary>All arguments</summary>
      <pre class="value">${valueText(view.arguments)}</pre>
    </details>`;
}

/** Quorum progress, the votes so far and who may decide. */
export function approvalProgress(view: ApprovalView): SafeHtml {
  const votes = view.votes.map((v) => html`<li>${actorText({ id: v.actor, name: v.name })} <span class="muted">at ${timeElement(v.at)}</span></li>`);
  const approvers = view.approvers.includes(anyApprover)
    ? 'anyone signed in (the policy names no approvers)'
    : view.approvers.length > 0
      ? view.approvers.join(', ')
      : 'admins only (no approvers listed)';
  return html`<div class="progress" data-part="progress">
    <p>
      <span class="label">Approvals</span> <strong>${view.approvals} of ${view.quorum}</strong>
      <progress max="${view.quorum}" value="${Math.min(view.approvals, view.quorum)}" aria-label="Approvals: ${view.approvals} of ${view.quorum}">
        ${view.approvals} of ${view.quorum}
      </progress>
    </p>
    ${
      votes.length > 0
        ? html`<ul class="votes" aria-label="Votes">
            ${votes}
          </ul>`
        : html`<p class="muted">No votes yet.</p>`
    }
    <p class="muted">Approvers: ${approvers}</p>
  </div>`;
}

/** The outcome of a decided call: who decided, why, and how the released call went. */
export function approvalOutcome(view: ApprovalView): SafeHtml | undefined {
  if (view.status === 'pending') return undefined;
  const by = view.decidedBy ? actorText(view.decidedBy) : undefined;
  return html`<dl class="facts">
    <div class="fact">
      <dt>Decision</dt>
      <dd>${statusBadge(view.status)}${by && html` by ${by}`}${view.decidedAt && html` at ${timeElement(view.decidedAt)}`}</dd>
    </div>
    ${
      view.reason &&
      html`<div class="fact fact-wide">
        <dt>Reason</dt>
        <dd>${view.reason}</dd>
      </div>`
    }
    ${
      view.claim &&
      html`<div class="fact">
        <dt>Released${view.attempt > 1 ? html` (re-run ${view.attempt - 1})` : ''}</dt>
        <dd>${timeElement(view.claim.at)} <span class="muted">by ${view.claim.by}</span></dd>
      </div>`
    }
    ${
      view.status === 'outcome_unknown' &&
      html`<div class="fact fact-wide outcome-unknown">
        <dt>Outcome unknown</dt>
        <dd>
          The gateway replica running this call stopped (it crashed or lost its state store)${view.unknownAt && html` before ${timeElement(view.unknownAt)}`}
          without recording what happened, so nobody knows whether it acted. Airlock will not run it again on its own: check its effect, and approve a re-run
          only if it did not happen.
        </dd>
      </div>`
    }
    ${
      view.execution &&
      html`<div class="fact fact-wide">
        <dt>Execution</dt>
        <dd>
          ${view.execution.outcome} after ${view.execution.durationMs} ms:
          ${view.execution.summary}${view.execution.truncated && html` <span class="muted">(the kept copy of the result is truncated)</span>`}
        </dd>
      </div>`
    }
  </dl>`;
}

/** After `failed` or `outcome_unknown`: approve running the call once more (a new, audited decision). */
export function rerunForm(view: ApprovalView, csrfToken: string | undefined, returnTo: string): SafeHtml {
  if (csrfToken === undefined) return html`<p class="muted">Your dashboard role may not approve a re-run; an approver or admin can.</p>`;
  return html`<div class="decide">
    <form method="post" action="${approvalPath(view.id)}/rerun" class="rerun-form">
      <input type="hidden" name="_csrf" value="${csrfToken}" />
      <input type="hidden" name="return" value="${returnTo}" />
      <p class="muted">It may already have acted: approve a re-run only after checking it did not. It runs once more when the agent retries the call.</p>
      <button type="submit" class="button approve">Approve re-run<span class="vh"> of ${view.tool} call ${view.id}</span></button>
    </form>
  </div>`;
}

/**
 * Approve and Deny forms; `returnTo` is where the browser lands afterwards (a path of ours).
 * Approve asks for confirmation first — the form opens under "Approve…" — with plain HTML, so it
 * works without JavaScript too (and the live list leaves an opened card alone).
 */
export function decideForms(view: ApprovalView, csrfToken: string | undefined, returnTo: string): SafeHtml {
  if (csrfToken === undefined) return html`<p class="muted">Your dashboard role may not decide; an approver or admin can.</p>`;
  const reasonId = `reason-${view.id}`;
  const what = html`<span class="vh"> ${view.tool} call ${view.id}</span>`;
  return html`<div class="decide">
    <details class="approve-confirm">
      <summary class="button approve">Approve…${what}</summary>
      <form method="post" action="${approvalPath(view.id)}/approve" class="approve-form">
        <input type="hidden" name="_csrf" value="${csrfToken}" />
        <input type="hidden" name="return" value="${returnTo}" />
        <p>Run <code>${view.tool}</code> for ${view.agent} with the arguments above? It runs once, as soon as you confirm.</p>
        ${view.grantOptions && grantFields(view.id, view.grantOptions)}
        <button type="submit" class="button approve">Yes, approve${what}</button>
      </form>
    </details>
    ${editForm(view, csrfToken, returnTo)}
    <form method="post" action="${approvalPath(view.id)}/deny" class="deny-form">
      <input type="hidden" name="_csrf" value="${csrfToken}" />
      <input type="hidden" name="return" value="${returnTo}" />
      <label for="${reasonId}">Reason for denying <span class="muted">(told to the agent)</span></label>
      <span class="inline">
        <input type="text" id="${reasonId}" name="reason" maxlength="2000" autocomplete="off" />
        <button type="submit" class="button deny">Deny${what}</button>
      </span>
    </form>
  </div>`;
}

/** "Edit & approve…": the policy's editable paths as JSON text areas, prefilled with the values asked; the edited call is checked again before it runs. */
function editForm(view: ApprovalView, csrfToken: string, returnTo: string): SafeHtml | undefined {
  if (view.editable.length === 0 || view.approvals > 0) return undefined;
  const fields = view.editable.map((path) => {
    const value = getPath(view.arguments, parsePath(path));
    if (value === undefined) return html``;
    const fieldId = `edit-${view.id}-${path.replace(/[^\w-]/g, '_')}`;
    return html`<label for="${fieldId}"><code>${path}</code> <span class="muted">(JSON)</span></label>
      <textarea id="${fieldId}" name="edit:${path}" rows="4" spellcheck="false">${JSON.stringify(value, null, 2)}</textarea>`;
  });
  return html`<details class="edit-confirm">
    <summary class="button">Edit &amp; approve…<span class="vh"> ${view.tool} call ${view.id}</span></summary>
    <form method="post" action="${approvalPath(view.id)}/edit" class="edit-form">
      <input type="hidden" name="_csrf" value="${csrfToken}" />
      <input type="hidden" name="return" value="${returnTo}" />
      <p>Change these values, then approve: the changed call is checked against the policy again, runs once, and the agent is told what you changed.</p>
      ${fields}
      <button type="submit" class="button approve">Approve with these values<span class="vh"> ${view.tool} call ${view.id}</span></button>
    </form>
  </details>`;
}

/** What an approver changed before approving, before → after. */
export function editFacts(view: ApprovalView): SafeHtml | undefined {
  if (!view.edit) return undefined;
  const rows = view.edit.changes.map(
    (c) => html`<li><code>${c.path}</code>: <code>${JSON.stringify(c.before)}</code> → <code>${JSON.stringify(c.after)}</code></li>`,
  );
  return html`<div class="edit-facts">
    <p><strong>Edited before approval</strong> by ${actorText(view.edit.editor)} at ${timeElement(view.edit.at)}; it runs with:</p>
    <ul>
      ${rows}
    </ul>
  </div>`;
}

/** A change signature: the live list replaces a card only when this differs. */
export function approvalSignature(view: ApprovalView): string {
  return `${view.status}|${view.approvals}|${view.votes.map((v) => v.actor).join(',')}`;
}

/** One pending call as a card in the list. */
export function approvalCard(view: ApprovalView, csrfToken: string | undefined, nowMs: number): SafeHtml {
  const headingId = `h-${view.id}`;
  const selectable = csrfToken !== undefined && view.status === 'pending';
  return html`<article
    class="card approval"
    id="${view.id}"
    data-approval-id="${view.id}"
    data-sig="${approvalSignature(view)}"
    aria-labelledby="${headingId}"
    tabindex="-1"
  >
    <h2 id="${headingId}">
      ${selectable && html`<input type="checkbox" name="ids" value="${view.id}" form="batch-decide" class="select-call" aria-label="Select ${view.tool} call ${view.id}" />`}
      <a href="${approvalPath(view.id)}"><code>${view.tool}</code> from ${view.agent}</a> <span class="muted id">${view.id}</span>
    </h2>
    ${approvalFacts(view, nowMs)} ${editFacts(view)} ${approvalProgress(view)} ${view.status === 'pending' && decideForms(view, csrfToken, '/')}
    ${view.rerunnable && html`${approvalOutcome(view)} ${rerunForm(view, csrfToken, '/')}`}
  </article>`;
}

/** Grant lengths offered, up to the policy's longest (which is always offered). */
const grantSteps = [15 * 60_000, 3_600_000, 4 * 3_600_000, 8 * 3_600_000, 86_400_000];

/** The approve form's choice: once (default) or a standing grant for a duration, pinned to this call's values. */
function grantFields(id: string, options: NonNullable<ApprovalView['grantOptions']>): SafeHtml {
  const durations = [...grantSteps.filter((ms) => ms < options.maxDurationMs), options.maxDurationMs];
  const selectId = `grant-${id}`;
  return html`<fieldset class="grant">
    <legend>Approve once, or also for later calls</legend>
    <label for="${selectId}">Let this agent's matching calls of this tool run without asking for</label>
    <select id="${selectId}" name="grant">
      <option value="" selected>— nothing more: approve once —</option>
      ${durations.map((ms) => html`<option value="${Math.round(ms / 1_000)}s">${formatDurationMs(ms)}</option>`)}
    </select>
    ${
      options.pins.length > 0 &&
      html`<p class="muted">…only while these arguments stay the same:</p>
        <ul class="pins">
          ${options.pins.map(
            (pin, i) =>
              html`<li>
                <input type="checkbox" id="${selectId}-pin-${i}" name="pin" value="${pin.path}" checked />
                <label for="${selectId}-pin-${i}"><code>${pin.path}</code> = <code>${'value' in pin ? valueText(pin.value) : '(absent)'}</code></label>
              </li>`,
          )}
        </ul>`
    }
    <input type="hidden" name="pinsOffered" value="1" />
  </fieldset>`;
}

/** The last approved call of the same tool (and pinned values), and what changed since. */
function previousFact(previous: NonNullable<ApprovalView['previous']>): SafeHtml {
  const value = (v: unknown) => html`<code>${valueText(v)}</code>`;
  const change = (c: NonNullable<ApprovalView['previous']>['changes'][number]) =>
    !('from' in c)
      ? html`<li><code>${c.path}</code> added: ${value(c.to)}</li>`
      : !('to' in c)
        ? html`<li><code>${c.path}</code> removed (was ${value(c.from)})</li>`
        : html`<li><code>${c.path}</code> changed from ${value(c.from)} to ${value(c.to)}</li>`;
  return html`<div class="fact fact-wide previous">
    <dt>Last approved</dt>
    <dd>
      ${timeElement(previous.decidedAt)}${previous.decidedBy && html` by ${actorText(previous.decidedBy)}`} (for ${previous.agent},
      <a href="${approvalPath(previous.approvalId)}">${previous.approvalId}</a>)
      ${
        previous.changes.length === 0
          ? html`<p>Same arguments as this call.</p>`
          : html`<ul class="changes">
              ${previous.changes.map(change)} ${previous.moreChanges > 0 && html`<li>…and ${previous.moreChanges} more</li>`}
            </ul>`
      }
    </dd>
  </div>`;
}

/** The policy's context calls' answers (or loading / unavailable). */
function contextFacts(context: NonNullable<ApprovalView['context']>): SafeHtml {
  if (!context.entries) {
    return html`<div class="fact fact-wide context">
      <dt>Context</dt>
      <dd class="muted">${context.labels.join(', ')}: loading…</dd>
    </div>`;
  }
  return html`${context.entries.map(
    (entry) =>
      html`<div class="fact fact-wide context">
        <dt>
          ${entry.label} <span class="muted">from <code>${entry.tool}</code></span>
        </dt>
        <dd>
          ${entry.state === 'ok' ? html`<pre class="value">${entry.text ?? ''}</pre>` : html`<span class="muted">context unavailable (${entry.why ?? 'no answer'})</span>`}
        </dd>
      </div>`,
  )}`;
}
