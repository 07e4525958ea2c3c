/**
 * `/metrics` scraped and parsed after a mix of real calls through the gateway: the counters,
 * histograms and gauges an on-call engineer reads must say what happened.
 */
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio } from './helpers/upstreams.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition → samples (comments skipped, label values unescaped). */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] ?? ''] = (pair[2] ?? '').replace(/\\(.)/g, '$1');
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return samples;
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('GET /metrics', () => {
  let gw: TestGateway;
  let samples: Sample[];
  let pendingWhileHeld: number | undefined;

  beforeAll(async () => {
    gw = await startTestGateway({
      mcpServers: { databricks: databricksMockStdio({ callLog: createCallLog() }) },
      policy: {
        version: '1',
        default: 'deny',
        hide_denied: false,
        tools: {
          list_jobs: { action: 'allow', limits: [{ counter: 'reads', window: 'hour', max: 2, scope: 'grant' }] },
          run_job: { action: 'approve', approval: { timeout: '1m' } },
        },
      },
      config: { approvals: { progressInterval: '300ms' } },
    });
    const client = await gw.connect('agent-a');
    const api = adminApi(gw.baseUrl);
    for (let i = 0; i < 3; i++) await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
    await client.callTool({ name: 'terminate_cluster', arguments: { params: { cluster_id: 'x' } } });
    const held = client.callTool({ name: 'run_job', arguments: { params: { job_id: 101 } } }, CallToolResultSchema, {
      onprogress: () => undefined,
      resetTimeoutOnProgress: true,
    });
    const [pending] = await api.waitForPending();
    pendingWhileHeld = value(parsePrometheus(await (await fetch(`${gw.baseUrl}/metrics`)).text()), 'airlock_approvals_pending');
    await api.approve(pending?.id ?? '');
    await held;
    const res = await fetch(`${gw.baseUrl}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    samples = parsePrometheus(await res.text());
  });
  afterAll(() => gw.close());

  it('counts calls by tool and decision, and rate-limit refusals by counter', () => {
    expect(value(samples, 'airlock_tool_calls_total', { tool: 'list_jobs', decision: 'allowed' })).toBe(2);
    expect(value(samples, 'airlock_tool_calls_total', { tool: 'list_jobs', decision: 'rate_limited' })).toBe(1);
    expect(value(samples, 'airlock_tool_calls_total', { tool: 'terminate_cluster', decision: 'denied' })).toBe(1);
    expect(value(samples, 'airlock_tool_calls_total', { tool: 'run_job', decision: 'held' })).toBe(1);
    expect(value(samples, 'airlock_rate_limited_total', { tool: 'list_jobs', counter: 'reads' })).toBe(1);
  });

  it('counts approvals by outcome, times decisions, and gauges what is pending', () => {
    expect(pendingWhileHeld).toBe(1);
    expect(value(samples, 'airlock_approvals_total', { tool: 'run_job', outcome: 'approved' })).toBe(1);
    expect(value(samples, 'airlock_approval_decision_seconds_count', { tool: 'run_job', outcome: 'approved' })).toBe(1);
    expect(value(samples, 'airlock_approvals_pending')).toBe(0);
  });

  it('counts released approved calls by outcome, with nothing waiting in memory for Redis and nothing given up', async () => {
    let current = samples;
    const written = () =>
      value(current, 'airlock_approved_executions_total', { tool: 'run_job', outcome: 'success' }) !== undefined &&
      value(current, 'airlock_execution_outcomes_pending') === 0;
    for (let i = 0; i < 50 && !written(); i++) {
      await new Promise((r) => setTimeout(r, 100)); // the executed event and the notification are written just after the answer
      current = parsePrometheus(await (await fetch(`${gw.baseUrl}/metrics`)).text());
    }
    expect(value(current, 'airlock_approved_executions_total', { tool: 'run_job', outcome: 'success' })).toBe(1);
    expect(value(current, 'airlock_execution_outcomes_pending')).toBe(0);
    expect(value(current, 'airlock_execution_outcomes_abandoned_total')).toBe(0);
  });

  it('times upstream calls by tool, and exposes Redis errors and event-loop lag', () => {
    expect(value(samples, 'airlock_upstream_call_seconds_count', { upstream: 'databricks', tool: 'list_jobs', outcome: 'success' })).toBe(2);
    expect(value(samples, 'airlock_upstream_call_seconds_count', { upstream: 'databricks', tool: 'run_job', outcome: 'success' })).toBe(1);
    expect(value(samples, 'airlock_redis_errors_total', { connection: 'airlock:calls' })).toBe(0);
    expect(value(samples, 'airlock_nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
  });
});
