/**
 * The loaded policy for people: per file its version and load time, and per tools entry its
 * action, its limits with their current counts (from the rate limiter), and its approval
 * settings. Below, the `explain` form: what the policy would decide for an agent's call, with the
 * trace of how it got there. Nothing here is counted or held.
 */
import path from 'node:path';
import { anyApprover, type ApprovalSettings, type Decision, type LimitSpec } from '../../policy/types.js';
import { html, type SafeHtml } from '../html.js';
import type { DashboardLimitUsage, DashboardPolicyFile, DashboardPolicyTool } from '../ports.js';
import { formatSpan, timeElement } from './format.js';

export interface ExplainModel {
  agent: string;
  tool: string;
  argumentsText: string;
  result?: Decision | undefined;
  error?: string | undefined;
}

export interface PolicyModel {
  files: readonly DashboardPolicyFile[];
  /** Undefined when the counts could not be read (Redis down): the table says so. */
  usages: readonly DashboardLimitUsage[] | undefined;
  agentNames: readonly string[];
  explain: ExplainModel;
  csrfToken: string;
}

export function policyBody(model: PolicyModel): SafeHtml {
  return html`<h1>Policy</h1>
    ${model.usages === undefined && html`<div class="flash flash-error" role="alert">Current limit counts are unavailable (the state store did not answer); limits are shown without them.</div>`}
    ${model.files.map((file, index) => policyFile(file, index, model.usages))} ${explainSection(model)}`;
}

function policyFile(file: DashboardPolicyFile, index: number, usages: readonly DashboardLimitUsage[] | undefined): SafeHtml {
  const headingId = `policy-${index}`;
  const usedBy = file.isDefault ? 'the default policy' : `used by ${file.agents.join(', ') || 'no agent'}`;
  return html`<section class="policy-file" aria-labelledby="${headingId}">
    <h2 id="${headingId}">${path.basename(file.file)} <span class="muted">(${usedBy})</span></h2>
    <dl class="facts">
      <div class="fact">
        <dt>Version</dt>
        <dd><code>${file.version}</code></dd>
      </div>
      <div class="fact">
        <dt>Loaded</dt>
        <dd>${timeElement(file.loadedAt)}</dd>
      </div>
      <div class="fact">
        <dt>Anything else</dt>
        <dd>${file.default}${file.default === 'deny' && html` <span class="muted">— ${file.defaultReason}</span>`}</dd>
      </div>
      ${
        file.agents.length > 0 &&
        html`<div class="fact">
          <dt>Agents with this file</dt>
          <dd>${file.agents.join(', ')}</dd>
        </div>`
      }
    </dl>
    ${entryTable(`${headingId}-tools`, `Tools in ${path.basename(file.file)}`, 'Tool', file.tools, 'No tools entries: every tool gets the default.', usages)}
    ${file.resources.length > 0 && entryTable(`${headingId}-resources`, `Resources in ${path.basename(file.file)}`, 'Resource URI', file.resources, '', usages)}
    ${file.prompts.length > 0 && entryTable(`${headingId}-prompts`, `Prompts in ${path.basename(file.file)}`, 'Prompt', file.prompts, '', usages)}
  </section>`;
}

function entryTable(
  id: string,
  caption: string,
  subject: string,
  entries: readonly DashboardPolicyTool[],
  empty: string,
  usages: readonly DashboardLimitUsage[] | undefined,
): SafeHtml {
  return html`<div class="table-scroll" role="region" aria-labelledby="${id}-caption" tabindex="0">
    <table class="policy">
      <caption id="${id}-caption">
        ${caption}
      </caption>
      <thead>
        <tr>
          <th scope="col">${subject}</th>
          <th scope="col">Action</th>
          <th scope="col">Limits (now)</th>
          <th scope="col">Approval</th>
          <th scope="col">Notes</th>
        </tr>
      </thead>
      <tbody>
        ${
          entries.length === 0
            ? html`<tr>
                <td colspan="5">${empty}</td>
              </tr>`
            : entries.map((t) => toolRow(t, usages))
        }
      </tbody>
    </table>
  </div>`;
}

function toolRow(tool: DashboardPolicyTool, usages: readonly DashboardLimitUsage[] | undefined): SafeHtml {
  const notes = [
    tool.description,
    tool.reason && `reason: ${tool.reason}`,
    tool.rules > 0
      ? `${tool.rules} rule${tool.rules === 1 ? '' : 's'}${tool.ruleActions.length > 0 ? ` (can also ${tool.ruleActions.join(', ')})` : ''}`
      : undefined,
    tool.constraints > 0 ? `${tool.constraints} argument constraint${tool.constraints === 1 ? '' : 's'}` : undefined,
    tool.redact.length > 0 ? `redacted: ${tool.redact.join(', ')}` : undefined,
  ].filter((n): n is string => typeof n === 'string' && n !== '');
  return html`<tr>
    <th scope="row"><code>${tool.entry}</code>${tool.kind === 'glob' && html` <span class="muted">(pattern)</span>`}</th>
    <td><span class="badge badge-${tool.action}">${tool.action}</span></td>
    <td>
      ${
        tool.limits.length === 0
          ? html`<span class="muted">none</span>`
          : html`<ul class="plain">
              ${tool.limits.map((l) => html`<li>${limitText(l, usages)}</li>`)}
            </ul>`
      }
    </td>
    <td>${tool.approval ? approvalText(tool.approval) : html`<span class="muted">—</span>`}</td>
    <td>
      ${
        notes.length === 0
          ? ''
          : html`<ul class="plain">
              ${notes.map((n) => html`<li>${n}</li>`)}
            </ul>`
      }
    </td>
  </tr>`;
}

/** `run_job_rate: 10 per minute per agent — now agent-a 3, agent-b 1`. */
function limitText(limit: LimitSpec, usages: readonly DashboardLimitUsage[] | undefined): SafeHtml {
  const per = limit.scope === 'global' ? 'in total' : limit.scope === 'grant' ? 'per agent' : 'per session';
  const rule = `${limit.max} per ${windowText(limit.windowSec)} ${per}`;
  return html`<code>${limit.counter}</code>: ${rule}<br /><span class="muted">now: ${currentCounts(limit, usages)}</span>`;
}

function currentCounts(limit: LimitSpec, usages: readonly DashboardLimitUsage[] | undefined): string {
  if (usages === undefined) return 'unavailable';
  const rows = usages.filter((u) => u.counter === limit.counter && u.scope === limit.scope && u.count > 0);
  if (rows.length === 0) return `0 of ${limit.max}`;
  if (limit.scope === 'global') return rows.map((u) => `${u.count} of ${limit.max}`).join(', ');
  const sorted = [...rows].sort((a, b) => b.count - a.count);
  const shown = sorted.slice(0, 5).map((u) => `${u.subject ?? '?'} ${u.count} of ${limit.max}`);
  return sorted.length > 5 ? `${shown.join(', ')} and ${sorted.length - 5} more` : shown.join(', ');
}

const namedWindows: Record<number, string> = { 1: 'second', 60: 'minute', 3_600: 'hour', 86_400: 'day' };

function windowText(windowSec: number): string {
  return namedWindows[windowSec] ?? formatSpan(windowSec * 1_000);
}

function approvalText(approval: ApprovalSettings): SafeHtml {
  const approvers = approval.approvers.includes(anyApprover)
    ? 'anyone signed in (none named)'
    : approval.approvers.length > 0
      ? approval.approvers.join(', ')
      : 'admins only';
  return html`<ul class="plain">
    <li>approvers: ${approvers}</li>
    <li>quorum: ${approval.quorum}</li>
    <li>timeout: ${approval.timeoutMs === undefined ? 'the gateway default' : formatSpan(approval.timeoutMs)}</li>
    ${approval.channel && html`<li>channel: ${approval.channel}</li>`} ${approval.show.length > 0 && html`<li>shows: ${approval.show.join(', ')}</li>`}
    ${approval.allowSelfApproval && html`<li>owners may approve their own agents</li>`}
  </ul>`;
}

function explainSection(model: PolicyModel): SafeHtml {
  const { explain } = model;
  const agents = model.agentNames.map((name) => html`<option value="${name}"></option>`);
  return html`<section class="card" aria-labelledby="explain-heading">
    <h2 id="explain-heading">Explain a call</h2>
    <p><a href="/policy/replay">Replay a candidate policy over the audit history</a></p>
    <p class="muted">What the policy would decide for this agent and arguments, step by step. Nothing is counted or held.</p>
    <form method="post" action="/policy/explain#explain-heading" class="explain">
      <input type="hidden" name="_csrf" value="${model.csrfToken}" />
      <div class="field">
        <label for="x-agent">Agent</label><input id="x-agent" name="agent" list="agent-names" value="${explain.agent}" required autocomplete="off" />
      </div>
      <datalist id="agent-names">${agents}</datalist>
      <div class="field"><label for="x-tool">Tool</label><input id="x-tool" name="tool" value="${explain.tool}" required autocomplete="off" /></div>
      <div class="field field-wide">
        <label for="x-args">Arguments (JSON object)</label
        ><textarea id="x-args" name="arguments" rows="5" spellcheck="false">${explain.argumentsText}</textarea>
      </div>
      <div class="actions"><button type="submit" class="button">Explain</button></div>
    </form>
    ${explain.error && html`<div class="flash flash-error" role="alert">${explain.error}</div>`} ${explain.result && decisionResult(explain.result)}
  </section>`;
}

function decisionResult(decision: Decision): SafeHtml {
  const detail =
    decision.kind === 'deny'
      ? html`<p>Reason: ${decision.reason}</p>`
      : decision.kind === 'approve'
        ? html`<p>Held for approval: ${decision.reason}</p>
            ${approvalText(decision.approval)}`
        : decision.kind === 'invalid_arguments'
          ? html`<ul>
              ${decision.violations.map((v) => html`<li><code>${v.path}</code> ${v.rule}: ${v.problem}</li>`)}
            </ul>`
          : html`<p>Forwarded to the upstream.</p>`;
  const limits = decision.kind === 'allow' || decision.kind === 'approve' ? decision.limits : [];
  return html`<div class="decision" role="status" aria-labelledby="decision-heading">
    <h3 id="decision-heading">
      Decision: <span class="badge badge-${decision.kind}">${decision.kind}</span>
      <span class="muted">by <code>${decision.rule.id}</code>, policy ${decision.policyVersion}</span>
    </h3>
    ${detail}
    ${limits.length > 0 && html`<p>Limits checked next: ${limits.map((l) => `${l.counter} (${l.max} per ${windowText(l.windowSec)})`).join(', ')}</p>`}
    ${decision.redact.length > 0 && html`<p>Redacted from display and audit: ${decision.redact.join(', ')}</p>`}
    <h4>Trace</h4>
    <ol class="trace">
      ${decision.trace.map((step) => html`<li>${step}</li>`)}
    </ol>
  </div>`;
}
