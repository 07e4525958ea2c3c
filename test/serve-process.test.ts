/**
 * `airlock serve` as a new user meets it: the compiled command in its own process, on a machine
 * with no Redis configured (an embedded redis-server is started from PATH), with redis-server
 * missing, and with the configured Redis down — and how it stops when asked.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { processAlive } from '../src/state/embedded-redis.js';
import { adminApi } from './helpers/admin-api.js';
import { runCli, startCli, type LogLine, type RunningCli } from './helpers/built-cli.js';
import { adminToken, connectClient, textOf } from './helpers/gateway.js';
import { freePort } from './helpers/redis-server.js';
import { repoRoot } from './helpers/upstreams.js';

const demoToken = 'alk_demo-only-not-a-secret';
const running: RunningCli[] = [];

// A gateway killed with SIGKILL would leave its embedded redis-server behind: stop it as an
// operator would (SIGTERM, then wait), and kill it only if it does not go.
afterEach(async () => {
  for (const cli of running.splice(0)) {
    if (cli.child.exitCode !== null || cli.child.signalCode !== null) continue;
    cli.child.kill('SIGTERM');
    const gone = await Promise.race([cli.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
    if (!gone) cli.kill();
  }
});

/** A config in a fresh folder: the compiled Databricks mock, the shipped reference policy, the demo agent. */
async function writeConfig(extra: Record<string, unknown>): Promise<{ file: string; port: number; dir: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-serve-'));
  const port = await freePort();
  const config = {
    port,
    host: '127.0.0.1',
    mcpServers: { databricks: { command: process.execPath, args: [path.join(repoRoot, 'dist/examples/databricks-mock/server.js')] } },
    agents: { 'demo-agent': { tokenSha256: '82b666d64bebcd09098c8b766d8291aa9ea4054998e2c89be0663792022583e3' } },
    policy: path.join(repoRoot, 'policies/databricks.json'),
    ...extra,
  };
  const file = path.join(dir, 'airlock.config.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, port, dir };
}

function serve(file: string, env: NodeJS.ProcessEnv = {}): RunningCli {
  const cli = startCli(['serve', '--config', file], { env: { AIRLOCK_ADMIN_TOKEN: adminToken, ...env } });
  running.push(cli);
  return cli;
}

/** Polls /readyz until it answers 200; resolves with the time it did. */
async function whenReady(baseUrl: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
    if (res?.status === 200) return Date.now();
    if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms: ${res ? await res.text() : 'no answer'}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const message = (pattern: RegExp) => (line: LogLine) => typeof line.msg === 'string' && pattern.test(line.msg);

describe('airlock serve with no Redis of its own', () => {
  it('starts an embedded redis-server when redis.url is "embedded": ready within 5 s, a held run_job approved through the API, still on record after a restart', async () => {
    const { file, port, dir } = await writeConfig({ redis: { url: 'embedded' }, shutdownGrace: '5s' });
    const baseUrl = `http://127.0.0.1:${port}`;
    const first = serve(file);
    const readyAt = await whenReady(baseUrl, 30_000);
    // Measured from the gateway's first log line (its modules are loaded, which on a loaded
    // machine alone can take seconds): starting redis-server and becoming ready take under 5 s.
    const firstLine = await first.waitForLine((line) => typeof line.time === 'number');
    expect(readyAt - (firstLine.time ?? first.spawnedAt)).toBeLessThan(5_000);
    const started = await first.waitForLine(message(/started an embedded redis-server/));
    expect(started.msg).toContain(path.join(dir, '.airlock', 'redis'));
    expect(started.msg).toMatch(/append-only file on/);
    expect(String(started['url'])).toMatch(/^redis:\/\/\*\*\*@127\.0\.0\.1:\d+$/); // the password never reaches the log
    const redisPid = Number(started['pid']);
    expect(processAlive(redisPid)).toBe(true);
    // The shipped policy names no approvers: said once at start.
    await first.waitForLine(message(/holds calls without naming approvers/));

    const client = await connectClient(`${baseUrl}/mcp`, demoToken);
    const call = client.callTool({ name: 'run_job', arguments: { params: { job_id: 123, notebook_params: { date: '2026-11-01' } } } }, CallToolResultSchema, {
      onprogress: () => undefined,
      resetTimeoutOnProgress: true,
      timeout: 30_000,
    }) as Promise<CallToolResult>;
    const api = adminApi(baseUrl);
    const [held] = await api.waitForPending(1, 20_000);
    const id = held?.id ?? '';
    // The operator hears of it without Slack: id, agent, tool, the policy's show values, the dashboard link.
    const heldLine = await first.waitForLine(message(/call held for approval/));
    expect(heldLine).toMatchObject({
      level: 30,
      approvalId: id,
      agent: 'demo-agent',
      tool: 'run_job',
      show: { 'params.job_id': 123, 'params.notebook_params': { date: '2026-11-01' } },
      link: `http://localhost:${port}/approvals/${id}`,
    });
    expect((await api.approve(id, 'ops')).status).toBe(200);
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(textOf(result))).toMatchObject({ run_id: expect.any(Number) });
    await first.waitForLine(message(new RegExp(`held call approved ${id}`)));
    await client.close();
    // The CLI finds the gateway's embedded Redis from the config alone.
    const listed = runCli(['approvals', 'list', '--config', file]);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+executed\\s+run_job\\s+demo-agent`));

    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(processAlive(redisPid)).toBe(false); // stopped with the gateway

    const second = serve(file);
    await whenReady(baseUrl, 30_000);
    const restarted = await second.waitForLine(message(/started an embedded redis-server/));
    expect(Number(restarted['pid'])).not.toBe(redisPid);
    const after = await api.get<{ approval: { status: string; execution?: { outcome: string } } }>(`/approvals/${id}`);
    expect(after.status).toBe(200);
    expect(after.body.approval).toMatchObject({ status: 'executed', execution: { outcome: 'success' } });
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });

  it('says how to install redis-server, and exits non-zero, when there is no Redis and redis-server is not on PATH', async () => {
    const { file } = await writeConfig({ redis: { url: 'embedded' } });
    const cli = serve(file, { PATH: path.join(tmpdir(), 'airlock-no-such-dir') });
    const { code } = await cli.exited;
    expect(code).toBe(1);
    const text = cli.lines.map((l) => l.msg ?? l['text']).join('\n');
    expect(text).toMatch(/redis-server is not installed \(not found on PATH\)/);
    expect(text).toMatch(/apt-get install redis-server/);
    expect(text).toMatch(/brew install redis/);
    expect(text).toMatch(/docker compose up/);
  });
});

describe('airlock serve while its Redis is down', () => {
  it('answers /healthz within 1 s of starting, says what is missing once, and one SIGTERM exits within shutdownGrace', async () => {
    const deadPort = await freePort();
    const { file, port } = await writeConfig({ redis: { url: `redis://127.0.0.1:${deadPort}` }, shutdownGrace: '4s' });
    const baseUrl = `http://127.0.0.1:${port}`;
    const cli = serve(file);
    // Measured from the gateway's first log line (the modules are loaded): it does not wait for Redis.
    const first = await cli.waitForLine((line) => typeof line.time === 'number', 30_000);
    let healthyAt = 0;
    while (healthyAt === 0) {
      const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
      if (res?.status === 200) healthyAt = Date.now();
      else if (Date.now() - (first.time ?? 0) > 10_000) throw new Error('no /healthz within 10 s');
      else await new Promise((r) => setTimeout(r, 20));
    }
    expect(healthyAt - (first.time ?? 0)).toBeLessThan(1_000);

    const ready = await fetch(`${baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { notReady: string[] };
    expect(body.notReady.join('\n')).toMatch(new RegExp(`redis: not reachable at redis://127\\.0\\.0\\.1:${deadPort} \\(.*ECONNREFUSED.*\\)`));
    expect(body.notReady).toContain('approvals and audit: waiting for Redis to start them');

    // ioredis retries every few hundred ms: the log says it once, not per retry.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(cli.lines.filter(message(/^redis not reachable/))).toHaveLength(1);
    expect(cli.lines.filter((l) => (l.level ?? 0) >= 40 && /redis|queue|worker/i.test(l.msg ?? '') && !/^redis not reachable/.test(l.msg ?? ''))).toEqual([]);

    const sentAt = Date.now();
    cli.child.kill('SIGTERM');
    const { code, at } = await cli.exited;
    expect(code).toBe(0);
    expect(at - sentAt).toBeLessThan(4_000);
  });
});
