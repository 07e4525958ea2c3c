/**
 * The CLI reads the same config as the gateway: relative paths in it mean the same wherever the
 * command is started from, and the commands that read Redis use the config's URL and key prefix.
 * The compiled `airlock` command in processes of its own.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { generateToken, hashToken } from '../src/identity/tokens.js';
import { openTestStore, sampleEvent } from './helpers/audit.js';
import { builtCli, cliEnv, runCliAsync } from './helpers/built-cli.js';
import { runJobHold, startApprovalReplica, type Replica } from './helpers/replicas.js';
import { repoRoot } from './helpers/upstreams.js';

const replicas: Replica[] = [];
afterEach(async () => {
  for (const replica of replicas.splice(0)) await replica.close();
});

function folder(): string {
  return mkdtempSync(path.join(tmpdir(), 'airlock-cli-config-'));
}

describe('airlock stdio --config from another working directory', () => {
  it("starts the upstream named by a path relative to the config file, and lists the mock's tools", async () => {
    // The shipped layout: the config next to the upstream it names with a relative path.
    const dir = folder();
    symlinkSync(path.join(repoRoot, 'dist/examples/databricks-mock'), path.join(dir, 'mock'));
    mkdirSync(path.join(dir, 'policies'));
    writeFileSync(path.join(dir, 'policies', 'allow.json'), JSON.stringify({ version: '1', default: 'allow' }));
    const token = generateToken();
    const file = path.join(dir, 'airlock.config.json');
    writeFileSync(
      file,
      JSON.stringify({
        redis: { url: inject('redisUrl'), prefix: `test-${randomUUID()}:` },
        mcpServers: { databricks: { command: process.execPath, args: ['mock/server.js'] } },
        agents: { 'local-agent': { tokenSha256: hashToken(token) } },
        policy: 'policies/allow.json',
      }),
    );
    const elsewhere = folder();
    const client = new Client({ name: 'stdio-elsewhere', version: '1' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [builtCli, 'stdio', '--config', file],
        cwd: elsewhere,
        env: cliEnv({ AIRLOCK_TOKEN: token, LOG_LEVEL: 'silent' }) as Record<string, string>,
      }),
    );
    try {
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toContain('run_job');
      expect(tools.tools).toHaveLength(11);
    } finally {
      await client.close();
    }
  });
});

describe('the CLI and the Redis of its --config', () => {
  it('lists and decides held calls, and reads the audit history, in the Redis and under the key prefix the config names', async () => {
    const prefix = `test-${randomUUID()}:`;
    const replica = await startApprovalReplica(inject('redisUrl'), prefix);
    replicas.push(replica);
    const { record } = await replica.approvals.hold(runJobHold());
    const dir = folder();
    const file = path.join(dir, 'airlock.config.json');
    writeFileSync(file, JSON.stringify({ redis: { url: inject('redisUrl'), prefix }, mcpServers: { x: { command: 'x' } } }));
    // No REDIS_URL in the environment (the helper removes it): the config alone says where.
    const listed = await runCliAsync(['approvals', 'list', '--config', file], { cwd: folder() });
    expect(listed.stderr).toBe('');
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${record.id}\\s+pending\\s+run_job\\s+agent-a`));

    const approved = await runCliAsync(['approvals', 'approve', record.id, '--config', file]);
    expect(approved.stdout).toBe(`${record.id}: approved\n`);
    expect(approved.status).toBe(0);
    expect((await replica.approvals.get(record.id))?.status).toBe('approved');

    const story = await runCliAsync(['audit', 'list', '--config', file, '--approval', record.id, '--json']);
    expect(story.status).toBe(0);
    const events = (JSON.parse(story.stdout) as { events: Array<{ type: string; details?: { show?: string[] } }> }).events;
    // The CLI's decision is audited with the policy's show paths, as the gateway's decisions are.
    expect(events.find((e) => e.type === 'approved')?.details?.show).toEqual(['params.job_id', 'params.notebook_params']);

    // Another prefix is another deployment: the CLI says where it looked, not just "none".
    const other = path.join(dir, 'other.config.json');
    writeFileSync(other, JSON.stringify({ redis: { url: inject('redisUrl'), prefix: 'elsewhere:' }, mcpServers: { x: { command: 'x' } } }));
    const empty = await runCliAsync(['approvals', 'list', '--config', other]);
    expect(empty.stdout).toBe(`no approvals in ${inject('redisUrl')} under the key prefix "elsewhere:"\n`);
  });

  it('counts a long export on a terminal (stderr), and prints nothing extra when not on one', async () => {
    const prefix = `test-${randomUUID()}:`;
    const audit = await openTestStore(prefix);
    try {
      await Promise.all(Array.from({ length: 2_000 }, (_, i) => audit.store.append(sampleEvent('allowed', { agent: `agent-${i % 7}` }))));
    } finally {
      await audit.close();
    }
    const dir = folder();
    const file = path.join(dir, 'airlock.config.json');
    writeFileSync(file, JSON.stringify({ redis: { url: inject('redisUrl'), prefix }, mcpServers: { x: { command: 'x' } } }));
    const out = path.join(dir, 'audit.jsonl');
    // `script` runs the command on a pseudo-terminal, as a person at a shell would.
    const command = [process.execPath, builtCli, 'audit', 'export', '--config', file, '--out', out].map((a) => `'${a}'`).join(' ');
    const onTerminal = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const child = spawn('script', ['-qec', command, '/dev/null'], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      child.once('exit', (code) => resolve({ code, text }));
    });
    expect(onTerminal.code).toBe(0);
    expect(onTerminal.text).toMatch(/exported 2,000 events of 2,000 in the history\r?\n/);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(2_000);

    const piped = await runCliAsync(['audit', 'export', '--config', file, '--out', out]);
    expect(piped.status).toBe(0);
    expect(piped.stderr).toBe('');
  });

  it('says which Redis it could not reach, from which config, and exits 1', async () => {
    const dir = folder();
    const file = path.join(dir, 'airlock.config.json');
    writeFileSync(file, JSON.stringify({ redis: { url: 'redis://127.0.0.1:1' }, mcpServers: { x: { command: 'x' } } }));
    const run = await runCliAsync(['limits', 'show', '--config', file]);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`airlock: cannot reach Redis at redis://127.0.0.1:1 (from ${file} or REDIS_URL): is it running?\n`);
  });
});
