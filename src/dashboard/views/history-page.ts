/**
 * The audit history: a filter form (agent, tool, event type, since, until — a plain GET form, so
 * every view has a shareable URL without secrets), one page of events newest first with a link
 * to the next (older) page, each held call linked to its story, and export links that download
 * the filtered history as CSV or JSON lines from a cookie-authenticated route.
 */
import { auditEventTypes, type AuditEvent } from '../../audit/types.js';
import { html, localUrl, type SafeHtml } from '../html.js';
import { approvalPath } from './approval-parts.js';
import { showValues } from '../../audit/operator-log.js';
import { actorText, eventLabel, timeElement } from './format.js';

/** The filters as the person typed them (echoed back into the form). */
export interface HistoryFilterText {
  agent: string;
  tool: string;
  type: string;
  since: string;
  until: string;
}

export interface HistoryModel {
  filters: HistoryFilterText;
  events: readonly AuditEvent[];
  /** Present when there are older events. */
  nextCursor: string | undefined;
  /** Whether this is a later page (offers a link back to the newest). */
  paged: boolean;
  /** A filter that could not be read; no events are shown then. */
  error: string | undefined;
  /** Whether the signed-in role may export (admin). */
  canExport: boolean;
}

export function historyBody(model: HistoryModel): SafeHtml {
  const { filters } = model;
  const filterParams = { agent: filters.agent, tool: filters.tool, type: filters.type, since: filters.since, until: filters.until };
  return html`<h1>History</h1>
    ${filterForm(filters)} ${model.error && html`<div class="flash flash-error" role="alert">${model.error}</div>`}
    ${
      model.canExport &&
      html`<p class="exports">
        Export these events (oldest first):
        <a class="button secondary" href="${localUrl('/history/export', { format: 'csv', ...filterParams })}" download>CSV</a>
        <a class="button secondary" href="${localUrl('/history/export', { format: 'jsonl', ...filterParams })}" download>JSON lines</a>
      </p>`
    }
    ${model.error ? '' : eventsTable(model.events)}
    <nav class="pager" aria-label="Pages">
      ${model.paged && html`<a href="${localUrl('/history', filterParams)}">Newest events</a>`}
      ${model.nextCursor && html`<a href="${localUrl('/history', { ...filterParams, cursor: model.nextCursor })}" rel="next">Older events</a>`}
    </nav>`;
}

function filterForm(filters: HistoryFilterText): SafeHtml {
  const options = auditEventTypes.map((t) => html`<option value="${t}" ${filters.type === t ? html` selected` : ''}>${eventLabel(t)}</option>`);
  return html`<form class="filters" method="get" action="/history" role="search" aria-label="Filter events">
    <div class="field"><label for="f-agent">Agent</label><input id="f-agent" name="agent" value="${filters.agent}" autocomplete="off" /></div>
    <div class="field"><label for="f-tool">Tool</label><input id="f-tool" name="tool" value="${filters.tool}" autocomplete="off" /></div>
    <div class="field">
      <label for="f-type">Event</label
      ><select id="f-type" name="type">
        <option value="">Any event</option>
        ${options}
      </select>
    </div>
    <div class="field">
      <label for="f-since">Since</label
      ><input id="f-since" name="since" value="${filters.since}" placeholder="2026-11-01 or 1h" aria-describedby="time-help" autocomplete="off" />
    </div>
    <div class="field">
      <label for="f-until">Until</label
      ><input id="f-until" name="until" value="${filters.until}" placeholder="2026-11-02T09:30Z" aria-describedby="time-help" autocomplete="off" />
    </div>
    <p id="time-help" class="muted help">Times: ISO 8601 (UTC unless a zone is given) or a span back from now such as 15m, 1h, 7d.</p>
    <div class="actions"><button type="submit" class="button">Apply filters</button> <a href="/history">Clear</a></div>
  </form>`;
}

function eventsTable(events: readonly AuditEvent[]): SafeHtml {
  if (events.length === 0) return html`<p class="empty">No events match these filters.</p>`;
  return html`<div class="table-scroll" role="region" aria-labelledby="events-caption" tabindex="0">
    <table class="events">
      <caption id="events-caption">
        Audit events, newest first
      </caption>
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Event</th>
          <th scope="col">Agent</th>
          <th scope="col">Tool</th>
          <th scope="col">Key arguments</th>
          <th scope="col">Actor</th>
          <th scope="col">Reason / outcome</th>
          <th scope="col">Held call</th>
        </tr>
      </thead>
      <tbody>
        ${events.map(eventRow)}
      </tbody>
    </table>
  </div>`;
}

/** The policy's `show` values of a held call's event (`path=value`), as the pending list leads with them. */
function keyArguments(event: AuditEvent): SafeHtml | string {
  const values = Object.entries(showValues(event));
  if (values.length === 0) return '';
  return html`<ul class="key-arguments">
    ${values.map(([path, value]) => html`<li><code>${path}</code>=<code>${cutText(typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)), 120)}</code></li>`)}
  </ul>`;
}

function cutText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function eventRow(event: AuditEvent): SafeHtml {
  const note = [event.reason, event.outcome].filter((s): s is string => typeof s === 'string' && s !== '').join(' · ');
  return html`<tr data-event-type="${event.type}">
    <th scope="row">${timeElement(event.time)}</th>
    <td>${eventLabel(event.type)}</td>
    <td>${event.agent ?? ''}</td>
    <td>${event.tool && html`<code>${event.tool}</code>`}</td>
    <td>${keyArguments(event)}</td>
    <td>${actorText(event.actor)}</td>
    <td>${note}</td>
    <td>${event.approvalId && html`<a href="${approvalPath(event.approvalId)}">${event.approvalId}</a>`}</td>
  </tr>`;
}
