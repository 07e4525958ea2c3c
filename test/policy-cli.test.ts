/**
 * `airlock policy check | explain | init`, run in-process with captured output; `init` talks to
 * the real Databricks mock over stdio.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPolicyCommand, type CliIo } from '../src/cli/policy.js';
import { CliError } from '../src/cli/common.js';
import { parsePolicy } from '../src/policy/load.js';
import { starterPolicy } from '../src/policy/starter-policy.js';
import { databricksMockStdio, repoRoot } from './helpers/upstreams.js';

const databricks = path.join(repoRoot, 'policies/databricks.json');

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } };
  const code = await runPolicyCommand(args, io);
  return { code, stdout, stderr };
}

function workspace(config: Record<string, unknown>, files: Record<string, unknown> = {}): { dir: string; config: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-policy-cli-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  const configFile = path.join(dir, 'airlock.config.json');
  writeFileSync(configFile, JSON.stringify({ mcpServers: { databricks: { command: 'node' } }, ...config }));
  return { dir, config: configFile };
}

describe('airlock policy check', () => {
  it('prints OK with the version for a valid file and exits 0', async () => {
    const { code, stdout } = await run(['check', databricks]);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^OK ${databricks} version [0-9a-f]{12} \\(11 tool entries, default deny\\)\\n$`));
  });

  it('prints every problem as "file $.path: message" and exits 2', async () => {
    const { dir } = workspace({}, { 'bad.json': { default: 'maybe', tools: { run_job: { limits: [{ counter: 'c', window: 'minutes', max: 1 }] } } } });
    const bad = path.join(dir, 'bad.json');
    const { code, stdout } = await run(['check', databricks, bad]);
    expect(code).toBe(2);
    expect(stdout).toContain(`OK ${databricks}`);
    expect(stdout).toContain(`${bad} $.default: Invalid option`);
    expect(stdout).toContain(`${bad} $.tools.run_job.limits[0].window: window is`);
  });

  it("checks the config's default and per-agent policy files when no path is given", async () => {
    const { dir, config } = workspace(
      { policy: 'main.json', agents: { ops: { tokenSha256: 'a'.repeat(64), policy: 'ops.json' } } },
      { 'main.json': { version: '1', default: 'deny' }, 'ops.json': { tools: { t: { rules: [{ action: 'deny' }] } } } },
    );
    const { code, stdout } = await run(['check', '--config', config]);
    expect(code).toBe(2);
    expect(stdout).toContain(`OK ${path.join(dir, 'main.json')} version`);
    expect(stdout).toContain(`${path.join(dir, 'ops.json')} $.tools.t.rules[0]: a rule needs "when" conditions`);
  });
});

describe('airlock policy explain', () => {
  it('prints the decision, its settings and the trace', async () => {
    const { config } = workspace({ policy: databricks, agents: { 'analytics-bot': { tokenSha256: 'a'.repeat(64) } } });
    const { code, stdout } = await run([
      'explain',
      '--config',
      config,
      '--agent',
      'analytics-bot',
      '--tool',
      'run_job',
      '--args',
      '{"params": {"job_id": 101}}',
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain('decision  approve by tools.run_job');
    expect(stdout).toContain('show      params.job_id, params.notebook_params');
    expect(stdout).toContain('limit     run_job_per_grant: at most 10 per 1 min (scope grant)');
    expect(stdout).toContain('  1. "run_job" matched tools.run_job (exact name)');
  });

  it('prints the raw decision with --json', async () => {
    const { stdout } = await run([
      'explain',
      '--policy',
      databricks,
      '--agent',
      'any',
      '--tool',
      'execute_sql',
      '--args',
      '{"params": {"statement": "SELECT 1", "warehouse_id": "w"}}',
      '--json',
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ kind: 'allow', rule: { id: 'tools.execute_sql.rules[0]' }, trace: expect.any(Array) });
  });

  it('refuses an agent the config does not know and arguments that are not a JSON object', async () => {
    const { config } = workspace({ policy: databricks });
    await expect(run(['explain', '--config', config, '--agent', 'ghost', '--tool', 'run_job'])).rejects.toThrow(/no agent "ghost"/);
    await expect(run(['explain', '--policy', databricks, '--agent', 'a', '--tool', 't', '--args', '[1]'])).rejects.toBeInstanceOf(CliError);
  });
});

describe('airlock policy init', () => {
  it('drafts a policy from annotations: read-only allowed, destructive or unknown held, the rest denied', () => {
    const draft = starterPolicy(
      [
        { name: 'read', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } },
        { name: 'wipe', inputSchema: { type: 'object' }, annotations: { destructiveHint: true } },
        { name: 'mystery', inputSchema: { type: 'object' } },
      ],
      './schema.json',
    );
    expect(draft.policy).toMatchObject({
      $schema: './schema.json',
      default: 'deny',
      tools: { read: { action: 'allow' }, wipe: { action: 'approve' }, mystery: { action: 'approve' } },
    });
    expect(parsePolicy(draft.policy).ok).toBe(true);
  });

  it("writes a valid starting policy from the upstream's tools/list and refuses to overwrite it without --force", async () => {
    const { dir, config } = workspace({ mcpServers: { databricks: databricksMockStdio() } });
    const out = path.join(dir, 'policies', 'draft.json');
    mkdirSync(path.dirname(out));
    const first = await run(['init', '--config', config, '--out', out]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('11 tools (0 allowed, 11 need approval');
    const written = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>; // our own output, checked below
    expect(written).toMatchObject({ default: 'deny', tools: { run_job: { action: 'approve' } } });
    expect(String(written['$schema'])).toMatch(/schema\.json$/);
    expect((await run(['check', out])).code).toBe(0);
    await expect(run(['init', '--config', config, '--out', out])).rejects.toThrow(/already exists; pass --force/);
    expect((await run(['init', '--config', config, '--out', out, '--force'])).code).toBe(0);
    expect(existsSync(out)).toBe(true);
  });
});
