/**
 * Standing grants: every live grant (who may call what, pinned to which values, until when, given
 * by whom on which approval), each with a Revoke form for those who may decide.
 */
import type { GrantView } from '../../approvals/grant-view.js';
import { html, type SafeHtml } from '../html.js';
import { approvalPath } from './approval-parts.js';
import { actorText, timeElement, valueText } from './format.js';

export function grantsBody(views: readonly GrantView[], csrfToken: string | undefined): SafeHtml {
  return html`<h1>Standing grants</h1>
    <p class="lead">
      Calls a grant covers run without a new approval (rate limits still apply) until the grant expires or is revoked. A revocation holds on every replica from
      the next call on.
    </p>
    ${views.length === 0 ? html`<p class="empty">No live grants.</p>` : views.map((view) => grantCard(view, csrfToken))}`;
}

function grantCard(view: GrantView, csrfToken: string | undefined): SafeHtml {
  const headingId = `h-${view.id}`;
  return html`<article class="card grant" id="${view.id}" aria-labelledby="${headingId}">
    <h2 id="${headingId}"><code>${view.tool}</code> for ${view.agent} <span class="muted id">${view.id}</span></h2>
    <dl class="facts">
      <dt>Pinned</dt>
      <dd>
        ${
          view.pins.length === 0
            ? html`any arguments`
            : html`<ul>
                ${view.pins.map((pin) => html`<li><code>${pin.path}</code> = <code>${'value' in pin ? valueText(pin.value) : '(absent)'}</code></li>`)}
              </ul>`
        }
      </dd>
      <dt>Expires</dt>
      <dd>${timeElement(view.expiresAt)}</dd>
      <dt>Given by</dt>
      <dd>${actorText(view.createdBy)} on <a href="${approvalPath(view.approvalId)}">${view.approvalId}</a>${view.reason && html` — ${view.reason}`}</dd>
    </dl>
    ${
      csrfToken !== undefined &&
      html`<form method="post" action="/grants/${view.id}/revoke" class="deny-form">
        <input type="hidden" name="_csrf" value="${csrfToken}" />
        <label for="revoke-${view.id}">Reason for revoking <span class="muted">(optional)</span></label>
        <span class="inline">
          <input type="text" id="revoke-${view.id}" name="reason" maxlength="2000" autocomplete="off" />
          <button type="submit" class="button deny">Revoke<span class="vh"> grant ${view.id}</span></button>
        </span>
      </form>`
    }
  </article>`;
}
