/**
 * The policy engine's lifecycle: which file decides for which agent, the hard stop on a broken
 * file at start, and hot reload (good change swapped in, broken change rejected, last good kept).
 */
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AirlockError } from '../src/errors.js';
import { PolicyEngine, policyEngineOptionsFromConfig, type PolicyEngineOptions } from '../src/policy/engine.js';
import { parseConfig } from '../src/config/load.js';
import type { Agent } from '../src/identity/tokens.js';
import type { PolicyPort } from '../src/front/call-pipeline.js';

const log = pino({ enabled: false });
const agent = (name: string, policy?: string): Agent => ({ name, owner: undefined, policy });
const engines: PolicyEngine[] = [];

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'airlock-policy-'));
}

function writePolicy(file: string, policy: unknown): void {
  // Write then rename, as editors and deploy tools do, so the watcher never reads half a file.
  const tmp = `${file}.tmp-${process.hrtime.bigint()}`;
  writeFileSync(tmp, typeof policy === 'string' ? policy : JSON.stringify(policy));
  renameSync(tmp, file);
}

async function startEngine(options: Omit<PolicyEngineOptions, 'log'>): Promise<PolicyEngine> {
  const engine = new PolicyEngine({ log, debounceMs: 20, ...options });
  engines.push(engine);
  await engine.start();
  return engine;
}

afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
});

const allowAll = { version: '1', default: 'allow' };
const denyRunJob = { version: '1', default: 'allow', tools: { run_job: { action: 'deny', reason: 'Not today.' } } };

describe('PolicyEngine', () => {
  it('denies everything with a built-in policy when no policy file is configured, and says what to set', async () => {
    const engine = await startEngine({ defaultFile: undefined, watch: false });
    const port: PolicyPort = engine; // the engine is exactly what the call pipeline consumes
    expect(port.isVisible(agent('bot'), 'x')).toBe(false);
    const decision = engine.evaluate(agent('bot'), 'list_jobs', {});
    expect(decision).toMatchObject({ kind: 'deny', rule: { id: 'default' } });
    expect(decision.kind === 'deny' && decision.reason).toContain('set "policy" in airlock.config.json');
    expect(engine.isVisible(agent('bot'), 'list_jobs')).toBe(false);
    expect(engine.info()[0]).toMatchObject({ file: '(built-in deny-all)', isDefault: true, default: 'deny' });
  });

  it('refuses to start on an invalid file, listing every problem with its file and path', async () => {
    const dir = tempDir();
    const good = path.join(dir, 'good.json');
    const bad = path.join(dir, 'bad.json');
    writePolicy(good, allowAll);
    writePolicy(bad, { default: 'maybe', tools: { t: { actoin: 1 } } });
    const engine = new PolicyEngine({ log, defaultFile: good, agentFiles: { ops: bad }, watch: false });
    const error = await engine.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(error instanceof AirlockError)) throw new Error('expected an AirlockError');
    expect(error.code).toBe('policy_invalid');
    expect(error.message).toContain(`${bad} $.default:`);
    expect(error.message).toContain(`${bad} $.tools.t: unknown key "actoin"`);
  });

  it("decides with the agent's own file when it has one, else the default file", async () => {
    const dir = tempDir();
    const main = path.join(dir, 'main.json');
    const ops = path.join(dir, 'ops.json');
    writePolicy(main, denyRunJob);
    writePolicy(ops, allowAll);
    const config = parseConfig(
      {
        mcpServers: { databricks: { command: 'node' } },
        policy: 'main.json',
        agents: { ops: { tokenSha256: 'a'.repeat(64), policy: 'ops.json' }, bot: { tokenSha256: 'b'.repeat(64) } },
      },
      path.join(dir, 'airlock.config.json'),
      {},
    );
    const engine = await startEngine({ ...policyEngineOptionsFromConfig(config), watch: false });
    expect(engine.evaluate(agent('bot'), 'run_job', {}).kind).toBe('deny');
    expect(engine.evaluate(agent('ops', ops), 'run_job', {}).kind).toBe('allow');
    expect(engine.evaluate(agent('ops'), 'run_job', {}).kind).toBe('allow');
    expect(engine.info().map((f) => ({ file: f.file, isDefault: f.isDefault, agents: f.agents }))).toEqual([
      { file: main, isDefault: true, agents: [] },
      { file: ops, isDefault: false, agents: ['ops'] },
    ]);
  });

  it('denies an agent whose policy file was never loaded instead of falling back to the default', async () => {
    const dir = tempDir();
    writePolicy(path.join(dir, 'main.json'), allowAll);
    const engine = await startEngine({ defaultFile: path.join(dir, 'main.json'), watch: false });
    const decision = engine.evaluate(agent('late', path.join(dir, 'other.json')), 'run_job', {});
    expect(decision.kind === 'deny' && decision.reason).toContain('is not loaded');
  });

  it('swaps in a good change (emitting "changed") and keeps the last good policy when a broken one follows', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'policy.json');
    writePolicy(file, allowAll);
    const onLoaded = vi.fn();
    const onRejected = vi.fn();
    const engine = await startEngine({ defaultFile: file, onLoaded, onRejected });
    const changed = vi.fn();
    engine.on('changed', changed);
    const first = engine.info()[0]?.version;
    expect(onLoaded).toHaveBeenCalledWith({ file, version: first, previousVersion: undefined, trigger: 'start' });

    writePolicy(file, denyRunJob);
    await vi.waitFor(() => expect(engine.evaluate(agent('bot'), 'run_job', {}).kind).toBe('deny'), { timeout: 5_000 });
    const second = engine.info()[0]?.version;
    expect(second).not.toBe(first);
    expect(onLoaded).toHaveBeenLastCalledWith({ file, version: second, previousVersion: first, trigger: 'watch' });
    expect(changed).toHaveBeenCalledTimes(1);

    writePolicy(file, '{"version": "1", "tools": {"run_job": {"action": "allow", "limits": [{"counter": "c", "window": "fortnight", "max": 1}]}}}');
    await vi.waitFor(() => expect(onRejected).toHaveBeenCalled(), { timeout: 5_000 });
    expect(onRejected.mock.calls[0]?.[0]).toMatchObject({
      file,
      keptVersion: second,
      trigger: 'watch',
      problems: [{ file, path: '$.tools.run_job.limits[0].window', message: expect.stringContaining('window is') }],
    });
    expect(engine.evaluate(agent('bot'), 'run_job', {})).toMatchObject({ kind: 'deny', policyVersion: second });

    writeFileSync(file, JSON.stringify(allowAll)); // written in place this time, not renamed
    await vi.waitFor(() => expect(engine.evaluate(agent('bot'), 'run_job', {}).kind).toBe('allow'), { timeout: 5_000 });
    expect(onLoaded).toHaveBeenLastCalledWith({ file, version: first, previousVersion: second, trigger: 'watch' });
  });

  it('reports what reload() did per file and swaps nothing when only formatting changed', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'policy.json');
    writePolicy(file, allowAll);
    const engine = await startEngine({ defaultFile: file, watch: false });
    const version = engine.info()[0]?.version;
    writeFileSync(file, JSON.stringify(allowAll, null, 4));
    expect(await engine.reload()).toEqual([{ file, status: 'unchanged', version, problems: [] }]);
    writeFileSync(file, '{ nope');
    const [rejected] = await engine.reload();
    expect(rejected).toMatchObject({ file, status: 'rejected', version, problems: [{ path: '$', message: expect.stringContaining('not valid JSON') }] });
    writeFileSync(file, JSON.stringify(denyRunJob));
    expect((await engine.reload())[0]).toMatchObject({ status: 'loaded' });
    expect(engine.evaluate(agent('bot'), 'run_job', {}).kind).toBe('deny');
  });

  it('describes each tool entry for the dashboard', async () => {
    const engine = await startEngine({ defaultFile: path.resolve('policies/databricks.json'), watch: false });
    const [info] = engine.info();
    expect(info).toMatchObject({ default: 'deny', hideDenied: true, isDefault: true, version: expect.stringMatching(/^[0-9a-f]{12}$/) });
    expect(info?.tools.find((t) => t.entry === 'run_job')).toMatchObject({
      kind: 'exact',
      action: 'approve',
      rules: 0,
      constraints: 1,
      limits: [
        { counter: 'run_job_per_grant', windowSec: 60, max: 10, scope: 'grant' },
        { counter: 'run_job_global', windowSec: 3600, max: 100, scope: 'global' },
      ],
      approval: { show: ['params.job_id', 'params.notebook_params'] },
    });
    expect(info?.tools.find((t) => t.entry === 'execute_sql')).toMatchObject({ action: 'approve', ruleActions: ['allow'], rules: 1 });
  });
});
