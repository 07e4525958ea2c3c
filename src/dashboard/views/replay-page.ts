/**
 * The policy replay form and its report: paste a candidate policy, choose how far back, and see
 * what it would have decided differently for the audited calls — per tool and transition, with
 * examples and the count of decisions made uncertain by redacted values. Nothing is written.
 */
import type { ReplayReport } from '../../policy/replay.js';
import { html, type SafeHtml } from '../html.js';
import { valueText } from './format.js';

export interface ReplayModel {
  candidate: string;
  since: string;
  error?: string | undefined;
  report?: ReplayReport | undefined;
  /** Set when the replay stopped before the end of the range (its bound). */
  stoppedEarly?: string | undefined;
  csrfToken: string;
}

export const replaySpans = ['1d', '7d', '30d'] as const;

export function replayBody(model: ReplayModel): SafeHtml {
  return html`<p class="crumbs"><a href="/policy">Policy</a> › <span>Replay</span></p>
    <h1>Replay a candidate policy</h1>
    <p class="lead">
      Re-evaluates the calls in the audit history under the policy below and reports what would have changed. Nothing is written: rate limits are simulated in
      memory.
    </p>
    <form method="post" action="/policy/replay" class="explain">
      <input type="hidden" name="_csrf" value="${model.csrfToken}" />
      <div class="field field-wide">
        <label for="r-policy">Candidate policy (JSON)</label
        ><textarea id="r-policy" name="candidate" rows="12" spellcheck="false" required>${model.candidate}</textarea>
      </div>
      <div class="field">
        <label for="r-since">Calls from the last</label>
        <select id="r-since" name="since">
          ${replaySpans.map((span) => html`<option value="${span}" ${span === model.since ? html`selected` : ''}>${span}</option>`)}
        </select>
      </div>
      <button type="submit" class="button">Replay</button>
    </form>
    ${model.error && html`<div class="flash flash-error" role="alert">${model.error}</div>`} ${model.report && reportSection(model.report, model.stoppedEarly)}`;
}

function reportSection(report: ReplayReport, stoppedEarly: string | undefined): SafeHtml {
  return html`<section class="card" aria-labelledby="replay-heading">
    <h2 id="replay-heading">What would change</h2>
    ${stoppedEarly && html`<p class="flash flash-info" role="status">${stoppedEarly}</p>`}
    <p>
      ${report.calls} calls replayed${report.from && html` (${report.from} … ${report.to})`}: <strong>${report.changed} would change</strong>,
      ${report.unchanged} would not.${report.uncertain > 0 && html` ${report.uncertain} uncertain: the candidate reads values the history keeps redacted.`}
    </p>
    ${report.tools
      .filter((tool) => tool.changed > 0)
      .map(
        (tool) =>
          html`<h3><code>${tool.tool}</code>: ${tool.changed} of ${tool.calls} would change</h3>
            <table>
              <thead>
                <tr>
                  <th scope="col">from → to</th>
                  <th scope="col">calls</th>
                  <th scope="col">uncertain</th>
                  <th scope="col">examples</th>
                </tr>
              </thead>
              <tbody>
                ${tool.transitions.map(
                  (t) =>
                    html`<tr>
                      <td>${t.from} → ${t.to}</td>
                      <td>${t.count}</td>
                      <td>${t.uncertain}</td>
                      <td>
                        <ul>
                          ${t.examples.map((e) => html`<li>${e.time} ${e.agent ?? ''} <code>${valueText(e.arguments ?? {})}</code> → <code>${e.rule}</code></li>`)}
                        </ul>
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>`,
      )}
  </section>`;
}
