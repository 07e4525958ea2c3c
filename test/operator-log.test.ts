/**
 * The operator's log lines: one `info` line per held call and per vote, decision, expiry,
 * withdrawal and release, with the approval id, agent, tool, the policy's `show` values and the
 * dashboard link; and the `show` paths added to the audit events for the history.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { operatorLogSink, showValues } from '../src/audit/operator-log.js';
import type { AuditEventInput } from '../src/audit/types.js';
import { memoryAudit } from './helpers/replicas.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: pino({ level: 'info' }, stream) };
}

const call = {
  agent: 'demo-agent',
  tool: 'run_job',
  approvalId: 'apr_1',
  arguments: { params: { job_id: 123, notebook_params: { date: '2026-11-01' }, secret: '[redacted]' } },
};

describe('the operator log', () => {
  it('says one line per step of a held call, with its id, agent, tool, show values and link, and adds the show paths to the events', async () => {
    const audit = memoryAudit();
    const { lines, log } = capture();
    const sink = operatorLogSink(audit, {
      log,
      showPaths: async () => ['params.job_id', 'params.notebook_params'],
      link: (id) => `http://localhost:8080/approvals/${id}`,
    });
    const steps: AuditEventInput[] = [
      { type: 'approval_requested', ...call, rule: 'tools.run_job' },
      { type: 'approval_vote', ...call, actor: { kind: 'slack', id: 'U0ALICE', name: 'alice' }, details: { approvals: 1, quorum: 2 } },
      { type: 'approval_denied', ...call, actor: { kind: 'dashboard', id: 'U0BOB', name: 'bob' }, reason: 'Not today.' },
      { type: 'expired', ...call, approvalId: 'apr_2', reason: 'approval timeout' },
      { type: 'withdrawn', ...call, approvalId: 'apr_3', reason: 'the agent cancelled the call' },
      { type: 'executed', ...call, approvalId: 'apr_4', outcome: 'success', details: { summary: 'run_id 42' } },
      { type: 'allowed', agent: 'demo-agent', tool: 'list_jobs' },
    ];
    for (const step of steps) await sink.append(step);
    await new Promise((r) => setImmediate(r));

    expect(lines.map((l) => l['msg'])).toEqual([
      'call held for approval apr_1: run_job from demo-agent (params.job_id=123, params.notebook_params={"date":"2026-11-01"}); decide at http://localhost:8080/approvals/apr_1 or with `airlock approvals approve|deny apr_1`',
      'approval vote recorded on apr_1: run_job from demo-agent (params.job_id=123, params.notebook_params={"date":"2026-11-01"}), by alice (U0ALICE)',
      'held call denied apr_1: run_job from demo-agent (params.job_id=123, params.notebook_params={"date":"2026-11-01"}), by bob (U0BOB): Not today.',
      'held call expired apr_2: run_job from demo-agent (params.job_id=123, params.notebook_params={"date":"2026-11-01"}): nobody decided in time',
      'held call withdrawn apr_3: run_job from demo-agent (params.job_id=123, params.notebook_params={"date":"2026-11-01"}): the agent cancelled the call',
      'approved call released upstream apr_4: run_job from demo-agent (params.job_id=123, params.notebook_params={"date":"2026-11-01"}): success',
    ]);
    expect(lines.every((l) => l['level'] === 30)).toBe(true);
    expect(lines[0]).toMatchObject({
      approvalId: 'apr_1',
      agent: 'demo-agent',
      tool: 'run_job',
      show: { 'params.job_id': 123, 'params.notebook_params': { date: '2026-11-01' } },
      link: 'http://localhost:8080/approvals/apr_1',
    });
    // Every approval event is stored with the show paths (merged into its own details); others as they were.
    expect(audit.events.slice(0, 6).map((e) => e.details?.['show'])).toEqual(Array(6).fill(['params.job_id', 'params.notebook_params']));
    expect(audit.events[1]?.details).toMatchObject({ approvals: 1, quorum: 2 });
    expect(audit.events[6]).toEqual({ type: 'allowed', agent: 'demo-agent', tool: 'list_jobs' });
    expect(showValues(audit.events[0] ?? {})).toEqual({ 'params.job_id': 123, 'params.notebook_params': { date: '2026-11-01' } });
  });

  it('still writes the event when the held call cannot be looked up, just without show values', async () => {
    const audit = memoryAudit();
    const sink = operatorLogSink(audit, {
      showPaths: async () => {
        throw new Error('Redis went away');
      },
    });
    await sink.append({ type: 'approved', ...call });
    expect(audit.events).toEqual([{ type: 'approved', ...call }]);
  });
});
