/**
 * policies/databricks.json, the reference policy for the Databricks MCP server's 11 tools, loads
 * and decides as documented.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { toolDefinitions } from '../examples/databricks-mock/tools.js';
import { formatProblems } from '../src/errors.js';
import type { CompiledPolicy } from '../src/policy/compiled.js';
import { evaluate, isVisible } from '../src/policy/evaluate.js';
import { parsePolicyText } from '../src/policy/load.js';

const root = path.resolve(import.meta.dirname, '..');
const file = path.join(root, 'policies/databricks.json');

function load(): CompiledPolicy {
  const result = parsePolicyText(readFileSync(file, 'utf8'), file);
  if (!result.ok) throw new Error(formatProblems(result.problems));
  return result.policy;
}

describe('policies/databricks.json', () => {
  const policy = load();
  const decide = (tool: string, params: Record<string, unknown> = {}) => evaluate(policy, 'analytics-bot', tool, { params });

  it('names every one of the mock server’s 11 tools and lists them all', () => {
    expect(policy.entries.map((e) => e.key).sort()).toEqual(toolDefinitions.map((t) => t.name).sort());
    for (const tool of toolDefinitions) expect(isVisible(policy, 'analytics-bot', tool.name)).toBe(true);
  });

  it('allows the read-only tools', () => {
    for (const tool of ['list_clusters', 'get_cluster', 'list_jobs', 'list_notebooks', 'export_notebook', 'list_files']) {
      expect(decide(tool).kind).toBe('allow');
    }
  });

  it('holds run_job for approval with its show paths and rate limits', () => {
    const decision = decide('run_job', { job_id: 101, notebook_params: { env: 'prod' } });
    expect(decision).toMatchObject({ kind: 'approve', rule: { id: 'tools.run_job' }, reason: expect.stringContaining('a person approves each run') });
    if (decision.kind !== 'approve') return;
    expect(decision.approval).toMatchObject({ show: ['params.job_id', 'params.notebook_params'], quorum: 1, timeoutMs: 15 * 60_000, allowSelfApproval: false });
    expect(decision.limits).toEqual([
      { counter: 'run_job_per_grant', windowSec: 60, max: 10, scope: 'grant' },
      { counter: 'run_job_global', windowSec: 3_600, max: 100, scope: 'global' },
    ]);
  });

  it('rejects run_job without a job_id before anyone is asked', () => {
    expect(decide('run_job', { notebook_params: {} })).toMatchObject({
      kind: 'invalid_arguments',
      violations: [{ path: 'params.job_id', problem: 'is missing' }],
    });
  });

  it('holds cluster changes for approval', () => {
    for (const tool of ['create_cluster', 'start_cluster', 'terminate_cluster']) {
      const params = { cluster_id: '0101-120000-abcd1234', cluster_name: 'x', spark_version: '15.4.x-scala2.12', node_type_id: 'i3.xlarge' };
      expect(decide(tool, params).kind).toBe('approve');
    }
  });

  it('allows one plain SELECT and holds everything else execute_sql could run', () => {
    const sql = (statement: string) => decide('execute_sql', { statement, warehouse_id: 'wh-1' }).kind;
    expect(sql('SELECT 1')).toBe('allow');
    expect(sql('  select * from sales where region = 1;')).toBe('allow');
    expect(sql('DROP TABLE x')).toBe('approve');
    expect(sql('SELECT 1; DROP TABLE x')).toBe('approve');
    expect(sql('selected_rows_cleanup()')).toBe('approve');
  });

  it('denies a tool it does not name, by default', () => {
    expect(decide('delete_workspace')).toMatchObject({ kind: 'deny', rule: { id: 'default' } });
    expect(isVisible(policy, 'analytics-bot', 'delete_workspace')).toBe(false);
  });
});
