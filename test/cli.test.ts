/**
 * The `airlock` command as operators and local agents run it: a separate process, real stdio.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { describe, expect, inject, it } from 'vitest';
import { generateToken, hashToken } from '../src/identity/tokens.js';
import { textOf } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio, repoRoot } from './helpers/upstreams.js';

const cli = path.join(repoRoot, 'src/cli.ts');

function airlock(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });
}

function writeConfig(config: unknown): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-cli-')), 'airlock.config.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

function writePolicy(policy: unknown): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-policy-')), 'policy.json');
  writeFileSync(file, JSON.stringify(policy));
  return file;
}

describe('airlock stdio', () => {
  it('serves an SDK client over stdin/stdout with the token from AIRLOCK_TOKEN', async () => {
    const token = generateToken();
    const callLog = createCallLog();
    const file = writeConfig({
      redis: { url: inject('redisUrl'), prefix: `test-${randomUUID()}:` },
      mcpServers: { databricks: databricksMockStdio({ callLog }) },
      agents: { 'local-agent': { tokenSha256: hashToken(token) } },
      policy: writePolicy({ version: '1', default: 'allow' }),
    });
    const client = new Client({ name: 'stdio-test', version: '1' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: ['--import', 'tsx', cli, 'stdio', '--config', file],
        cwd: repoRoot,
        env: { ...(process.env as Record<string, string>), AIRLOCK_TOKEN: token, LOG_LEVEL: 'silent' },
      }),
    );
    try {
      const tools = await client.listTools();
      expect(tools.tools).toHaveLength(11);
      const result = await client.callTool({ name: 'run_job', arguments: { params: { job_id: 101, notebook_params: { env: 'dev' } } } });
      expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number), number_in_job: 1 });
      expect(callLog.calls()).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it('refuses to start without a known AIRLOCK_TOKEN and forwards nothing', () => {
    const callLog = createCallLog();
    const file = writeConfig({
      redis: { url: inject('redisUrl') },
      mcpServers: { databricks: databricksMockStdio({ callLog }) },
      agents: { 'local-agent': { tokenSha256: hashToken(generateToken()) } },
    });
    const run = airlock(['stdio', '--config', file], { AIRLOCK_TOKEN: 'alk_wrong' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/AIRLOCK_TOKEN is not a known agent token/);
    expect(run.stdout).toBe('');
    expect(callLog.calls()).toHaveLength(0);
  });
});

describe('airlock agents token', () => {
  it('prints a fresh token and the config line holding only its SHA-256', () => {
    const run = airlock(['agents', 'token', 'analytics-bot']);
    expect(run.status).toBe(0);
    const token = /\b(alk_[A-Za-z0-9_-]{43})\b/.exec(run.stdout)?.[1];
    expect(token).toBeDefined();
    expect(run.stdout).toContain(`"analytics-bot": { "tokenSha256": "${hashToken(token as string)}" }`);
    const again = airlock(['agents', 'token', 'analytics-bot']);
    expect(again.stdout).not.toContain(token as string);
  });

  it('does the same for a dashboard user, with a place for their Slack ID', () => {
    const run = airlock(['dashboard', 'token', 'alice']);
    expect(run.status).toBe(0);
    const token = /\b(alk_[A-Za-z0-9_-]{43})\b/.exec(run.stdout)?.[1] ?? '';
    expect(run.stdout).toContain(`"alice": { "tokenSha256": "${hashToken(token)}", "slackUserId": "U…", "role": "viewer" }`);
    expect(airlock(['dashboard', 'token']).status).toBe(2);
  });
});

describe('airlock serve with a broken config', () => {
  it('reports every problem at once with its JSON path, and exits 2', () => {
    const file = writeConfig({
      port: 'eighty',
      mcpServers: { databricks: { command: '' }, 'bad name!': { url: 'not a url' } },
      agents: { bot: { tokenSha256: 'abc' } },
      approvals: { defaultTimeout: 'soon' },
      extra: true,
    });
    const run = airlock(['serve', '--config', file], { DATABRICKS_TOKEN: '' });
    expect(run.status).toBe(2);
    const lines = run.stderr;
    expect(lines).toMatch(/\$\.port: .*number/);
    expect(lines).toMatch(/\$\.mcpServers\.databricks\.command: command must name the program/);
    expect(lines).toMatch(/\$\.mcpServers\["bad name!"\]/);
    expect(lines).toMatch(/\$\.agents\.bot\.tokenSha256: .*airlock agents token/);
    expect(lines).toMatch(/\$\.approvals\.defaultTimeout: expected a duration/);
    expect(lines).toMatch(/unknown key "extra"/);
  });
});
