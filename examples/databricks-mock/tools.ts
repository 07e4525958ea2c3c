/**
 * The 11 tools of the real Databricks MCP server, with its shapes: every tool takes one required
 * object `params` (field names live only in the description), results are JSON text, and errors
 * come back as plain JSON text without `isError` — exactly what a gateway in front of it must handle.
 */
import type { Tool } from '@modelcontextprotocol/sdk/types.js';

interface MockTool {
  description: string;
  readOnly: boolean;
  run(params: Record<string, unknown>, state: MockState): unknown;
}

export interface MockState {
  nextRunId: number;
  runsByJob: Map<number, number>;
  clusters: Map<string, { cluster_id: string; cluster_name: string; state: string; spark_version: string; node_type_id: string; num_workers: number }>;
}

const jobs = [
  { job_id: 101, settings: { name: 'daily-ingest' } },
  { job_id: 102, settings: { name: 'feature-refresh' } },
  { job_id: 103, settings: { name: 'model-training' } },
  { job_id: 123, settings: { name: 'finance-close' } },
];

export function initialState(): MockState {
  return {
    nextRunId: 900_001,
    runsByJob: new Map(),
    clusters: new Map([
      [
        '0101-120000-abcd1234',
        {
          cluster_id: '0101-120000-abcd1234',
          cluster_name: 'shared-analytics',
          state: 'RUNNING',
          spark_version: '15.4.x-scala2.12',
          node_type_id: 'i3.xlarge',
          num_workers: 4,
        },
      ],
      [
        '0101-120000-efgh5678',
        {
          cluster_id: '0101-120000-efgh5678',
          cluster_name: 'etl',
          state: 'TERMINATED',
          spark_version: '15.4.x-scala2.12',
          node_type_id: 'i3.2xlarge',
          num_workers: 8,
        },
      ],
    ]),
  };
}

/** Thrown by a tool body; the server answers with `{"error": message}` as text, like the real one. */
export class DatabricksApiError extends Error {}

function required<T>(params: Record<string, unknown>, name: string, check: (v: unknown) => v is T, what: string): T {
  const value = params[name];
  if (!check(value)) throw new DatabricksApiError(`Missing or invalid parameter '${name}': expected ${what}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isJobId = (v: unknown): v is number | string => (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^\d+$/.test(v));

function cluster(params: Record<string, unknown>, state: MockState) {
  const id = required(params, 'cluster_id', isString, 'a cluster id string');
  const found = state.clusters.get(id);
  if (!found) throw new DatabricksApiError(`Cluster ${id} does not exist`);
  return found;
}

const mockTools: Record<string, MockTool> = {
  list_clusters: { description: 'List all Databricks clusters', readOnly: true, run: (_p, s) => ({ clusters: [...s.clusters.values()] }) },
  create_cluster: {
    description:
      'Create a new Databricks cluster with parameters: cluster_name (required), spark_version (required), node_type_id (required), num_workers, autotermination_minutes',
    readOnly: false,
    run: (p, s) => {
      const cluster_name = required(p, 'cluster_name', isString, 'a string');
      const spark_version = required(p, 'spark_version', isString, 'a string');
      const node_type_id = required(p, 'node_type_id', isString, 'a string');
      const cluster_id = `1124-${String(s.clusters.size).padStart(6, '0')}-mock${s.clusters.size}`;
      const num_workers = typeof p['num_workers'] === 'number' ? p['num_workers'] : 1;
      s.clusters.set(cluster_id, { cluster_id, cluster_name, state: 'PENDING', spark_version, node_type_id, num_workers });
      return { cluster_id };
    },
  },
  terminate_cluster: {
    description: 'Terminate a Databricks cluster with parameter: cluster_id (required)',
    readOnly: false,
    run: (p, s) => {
      cluster(p, s).state = 'TERMINATED';
      return {};
    },
  },
  get_cluster: { description: 'Get information about a specific Databricks cluster with parameter: cluster_id (required)', readOnly: true, run: cluster },
  start_cluster: {
    description: 'Start a terminated Databricks cluster with parameter: cluster_id (required)',
    readOnly: false,
    run: (p, s) => {
      cluster(p, s).state = 'PENDING';
      return {};
    },
  },
  list_jobs: { description: 'List all Databricks jobs', readOnly: true, run: () => ({ jobs, has_more: false }) },
  run_job: {
    description: 'Run a Databricks job with parameters: job_id (required), notebook_params (optional)',
    readOnly: false,
    run: (p, s) => {
      const jobId = Number(required(p, 'job_id', isJobId, 'an integer job id'));
      if (!jobs.some((j) => j.job_id === jobId)) throw new DatabricksApiError(`Job ${jobId} does not exist.`);
      const notebookParams = p['notebook_params'];
      if (notebookParams !== undefined && (typeof notebookParams !== 'object' || notebookParams === null || Array.isArray(notebookParams))) {
        throw new DatabricksApiError("Invalid parameter 'notebook_params': expected an object of string values");
      }
      const number_in_job = (s.runsByJob.get(jobId) ?? 0) + 1;
      s.runsByJob.set(jobId, number_in_job);
      return { run_id: s.nextRunId++, number_in_job };
    },
  },
  list_notebooks: {
    description: 'List notebooks in a workspace directory with parameter: path (required)',
    readOnly: true,
    run: (p) => {
      const path = required(p, 'path', isString, 'a workspace path');
      return { objects: [{ path: `${path.replace(/\/$/, '')}/ingest`, object_type: 'NOTEBOOK', language: 'PYTHON' }] };
    },
  },
  export_notebook: {
    description: 'Export a notebook from the workspace with parameters: path (required), format (optional, one of: SOURCE, HTML, JUPYTER, DBC)',
    readOnly: true,
    run: (p) => {
      const path = required(p, 'path', isString, 'a workspace path');
      return { content: Buffer.from(`# Databricks notebook source\n# ${path}\nprint("hello")\n`).toString('base64'), file_type: 'py' };
    },
  },
  list_files: {
    description: 'List files and directories in a DBFS path with parameter: dbfs_path (required)',
    readOnly: true,
    run: (p) => {
      const path = required(p, 'dbfs_path', isString, 'a DBFS path');
      return { files: [{ path: `${path.replace(/\/$/, '')}/part-0000.parquet`, is_dir: false, file_size: 1024 }] };
    },
  },
  execute_sql: {
    description: 'Execute a SQL statement with parameters: statement (required), warehouse_id (required), catalog (optional), schema (optional)',
    readOnly: false,
    run: (p) => {
      required(p, 'statement', isString, 'a SQL string');
      required(p, 'warehouse_id', isString, 'a warehouse id');
      return { statement_id: '01ef-mock', status: { state: 'SUCCEEDED' }, result: { row_count: 1, data_array: [['42']] } };
    },
  },
};

/** tools/list entries as the real server (FastMCP) generates them. */
export const toolDefinitions: Tool[] = Object.entries(mockTools).map(([name, tool]) => ({
  name,
  description: tool.description,
  inputSchema: {
    type: 'object',
    properties: { params: { type: 'object', additionalProperties: true, title: 'Params' } },
    required: ['params'],
    title: `${name}Arguments`,
  },
}));

export function runTool(name: string, params: Record<string, unknown>, state: MockState): unknown {
  const tool = mockTools[name];
  if (!tool) throw new DatabricksApiError(`Unknown tool: ${name}`);
  return tool.run(params, state);
}
