/**
 * The `airlock` command is on hand the ways the README says: `npx airlock` in a checkout (the
 * package's own bin, the compiled CLI), and `airlock` on PATH after `npm install -g`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliEnv } from './helpers/built-cli.js';
import { repoRoot } from './helpers/upstreams.js';

function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: cliEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('the airlock command', () => {
  it('runs through npx in the checkout', async () => {
    const help = await run('npx', ['--no-install', 'airlock', '--help'], { cwd: repoRoot });
    expect(help.status, `npx exited ${String(help.status)}: ${help.stderr}`).toBe(0);
    expect(help.stdout).toMatch(/^airlock — human-in-the-loop approval gateway for MCP/);
  });

  it('is on PATH after npm install -g', async () => {
    const prefix = mkdtempSync(path.join(tmpdir(), 'airlock-global-'));
    const install = await run('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', repoRoot], { cwd: prefix });
    expect(install.status).toBe(0);
    const bin = path.join(prefix, 'bin');
    const help = await run('airlock', ['--help'], { cwd: prefix, env: { PATH: `${bin}${path.delimiter}${process.env['PATH'] ?? ''}` } });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/airlock doctor/);
  }, 120_000);
});
