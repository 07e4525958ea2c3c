/**
 * `airlock doctor` as an operator runs it before (or instead of) starting the gateway: the compiled
 * command, a real Redis, real upstream processes, and Slack's Web API played by the fake.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateToken, hashToken } from '../src/identity/tokens.js';
import { runCliAsync } from './helpers/built-cli.js';
import { startFakeSlack, type FakeSlack } from './helpers/fake-slack.js';
import { databricksMockStdio } from './helpers/upstreams.js';

let slack: FakeSlack;

beforeAll(async () => {
  slack = await startFakeSlack();
});

afterAll(async () => {
  await slack.close();
});

const policy = {
  version: '1',
  default: 'deny',
  tools: {
    list_jobs: { action: 'allow' },
    run_job: { action: 'approve', approval: { approvers: ['U0APPROVER1'], show: ['params.job_id'] } },
    execute_sql: {
      action: 'approve',
      approval: { approvers: ['U0APPROVER1'] },
      rules: [{ when: { 'params.statement': { regex: '^SELECT' } }, action: 'allow' }],
    },
  },
};

function writeConfig(mcpServers: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-doctor-'));
  writeFileSync(path.join(dir, 'policy.json'), JSON.stringify(policy));
  const file = path.join(dir, 'airlock.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      redis: { url: inject('redisUrl'), prefix: `test-${randomUUID()}:` },
      mcpServers,
      agents: { bot: { tokenSha256: hashToken(generateToken()) } },
      policy: 'policy.json',
      slack: { defaultChannel: 'C0APPROVALS' },
    }),
  );
  return file;
}

const slackEnv = () => ({ SLACK_BOT_TOKEN: 'xoxb-test', SLACK_SIGNING_SECRET: 'secret', SLACK_API_URL: slack.url, AIRLOCK_ADMIN_TOKEN: 'admin' });

describe('airlock doctor', () => {
  it('reports a good config as all well (exit 0): Redis, the upstream and its tools, what the policy holds and denies, Slack and its channel', async () => {
    const file = writeConfig({ databricks: databricksMockStdio() });
    const run = await runCliAsync(['doctor', '--config', file], { env: slackEnv(), timeoutMs: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const out = run.stdout;
    expect(out).toMatch(/^ok\s+config\s+valid: 1 upstream \(databricks\)/m);
    expect(out).toMatch(/^ok\s+redis\s+redis:\/\/127\.0\.0\.1:\d+ answers/m);
    // The suite's throwaway Redis keeps nothing on disk: worth a warning, not a failure.
    expect(out).toMatch(/^warn\s+redis\s+Redis [\d.]+ does not persist .*\n\s+fix: turn the append-only file on/m);
    expect(out).toMatch(/^ok\s+upstream databricks\s+connected .*11 tool\(s\)/m);
    expect(out).toMatch(
      /Allowed: list_jobs\. Held for approval: run_job\. Denied: .*create_cluster.*\. Depends: execute_sql \(allow or approve, by arguments or agent\)\./,
    );
    expect(out).toMatch(/^ok\s+slack\s+the bot token works/m);
    expect(out).toMatch(/^ok\s+slack C0APPROVALS\s+reachable/m);
    expect(out).toMatch(/All is well: nothing needs fixing\./);
    expect(slack.calls('auth.test').length).toBeGreaterThan(0);
  });

  it('names a dead upstream and a bad Slack token, with the fix for each, and exits non-zero', async () => {
    const file = writeConfig({ databricks: { command: 'airlock-no-such-command', args: ['--stdio'] } });
    slack.failNext('auth.test', 1, 'invalid_auth');
    const run = await runCliAsync(['doctor', '--config', file], { env: slackEnv(), timeoutMs: 60_000 });
    expect(run.status).toBe(1);
    const out = run.stdout;
    expect(out).toMatch(/^FAIL\s+upstream databricks\s+cannot start: the command "airlock-no-such-command" was not found \(ENOENT/m);
    expect(out).toMatch(/fix: fix mcpServers\.databricks in .*airlock\.config\.json/);
    expect(out).toMatch(/^FAIL\s+slack\s+Slack refused SLACK_BOT_TOKEN \(auth\.test: invalid_auth\)\n\s+fix: set SLACK_BOT_TOKEN to the Bot User OAuth Token/m);
    expect(out).toMatch(/2 problems to fix/);
  });

  it('reports a config that does not load with every problem and its JSON path (exit 1)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-doctor-'));
    const file = path.join(dir, 'airlock.config.json');
    writeFileSync(file, JSON.stringify({ mcpServers: {}, redis: { url: 'localhost' } }));
    const run = await runCliAsync(['doctor', '--config', file]);
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/^FAIL\s+config\s+invalid configuration \(2 problems\)/m);
    expect(run.stdout).toMatch(/\$\.redis\.url: /);
    expect(run.stdout).toMatch(/\$\.mcpServers: configure at least one upstream/);
  });
});
