/**
 * Policy replay and shadow rules end to end: the official SDK client makes real calls through a
 * real gateway (real Redis, the Databricks mock), which audits them; `airlock policy replay` runs
 * as an operator runs it (a separate process reading that Redis) and reports what a candidate
 * policy would have decided — and changes nothing. A shadow rule is evaluated on live calls,
 * audited as `would_have`, and not enforced.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import request from 'supertest';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../src/audit/types.js';
import type { ReplayReport } from '../src/policy/replay.js';
import { adminApi } from './helpers/admin-api.js';
import { adminToken, startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { connect } from './helpers/audit.js';
import { createCallLog, databricksMockStdio, repoRoot } from './helpers/upstreams.js';

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(policy: unknown): Promise<TestGateway> {
  const gw = await startTestGateway({ mcpServers: { databricks: databricksMockStdio({ callLog: createCallLog() }) }, policy });
  gateways.push(gw);
  return gw;
}

const runJob = (jobId: number, notebookParams: Record<string, string>) => ({
  name: 'run_job',
  arguments: { params: { job_id: jobId, notebook_params: notebookParams } },
});

function replayCli(gw: TestGateway, args: string[]) {
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'src/cli.ts'), 'policy', 'replay', ...args, '--config', path.join(gw.dir, 'airlock.config.json')],
    { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'silent' }, encoding: 'utf8', timeout: 60_000 },
  );
}

/** Every key and value under the gateway's prefix, to prove a replay wrote nothing. */
async function snapshot(prefix: string): Promise<string[]> {
  const redis = await connect();
  try {
    const keys = (await redis.keys(`${prefix}*`)).sort();
    const types = await Promise.all(keys.map((k) => redis.type(k)));
    return keys.map((k, i) => `${k}:${types[i]}`);
  } finally {
    redis.disconnect();
  }
}

describe('airlock policy replay', () => {
  it('reports the transitions a changed policy would make over a recorded history, counts redacted reads as uncertain, and writes nothing', async () => {
    // What ran: every tool allowed, notebook tokens redacted from the history.
    const gw = await gateway({ version: '1', default: 'allow', redact: ['params.notebook_params.token'] });
    const client = await gw.connect('agent-a');
    for (const call of [
      runJob(101, { env: 'dev' }),
      runJob(102, { env: 'prod' }),
      runJob(103, { env: 'prod' }),
      runJob(123, { env: 'dev', token: 'secret-1' }),
      { name: 'list_jobs', arguments: { params: {} } },
      { name: 'list_jobs', arguments: { params: {} } },
    ]) {
      expect((await client.callTool(call)).isError).toBeFalsy();
    }
    const api = adminApi(gw.baseUrl);
    await expect
      .poll(async () => (await api.get<{ events: AuditEvent[] }>('/audit?type=allowed&limit=100')).body.events.filter((e) => e.argumentsHash).length)
      .toBe(6);

    // The candidate: prod runs need approval, a run carrying a token is denied, two runs a minute at most, everything else denied.
    const candidate = path.join(gw.dir, 'candidate.json');
    writeFileSync(
      candidate,
      JSON.stringify({
        version: '1',
        default: 'deny',
        tools: {
          run_job: {
            limits: [{ counter: 'runs', window: 'minute', max: 2 }],
            rules: [
              { when: { 'params.notebook_params.env': { eq: 'prod' } }, action: 'approve' },
              { when: { 'params.notebook_params.token': { exists: true } }, action: 'deny', reason: 'no tokens in notebook params' },
            ],
          },
        },
      }),
    );
    const before = await snapshot(gw.prefix);
    const result = replayCli(gw, ['--policy', candidate, '--since', '1h', '--json']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout) as ReplayReport;
    expect(await snapshot(gw.prefix)).toEqual(before);

    expect({ calls: report.calls, changed: report.changed, unchanged: report.unchanged, uncertain: report.uncertain }).toEqual({
      calls: 6,
      changed: 5,
      unchanged: 1,
      uncertain: 1,
    });
    const byTool = Object.fromEntries(report.tools.map((t) => [t.tool, t.transitions.map((x) => [`${x.from}→${x.to}`, x.count, x.uncertain])]));
    expect(byTool['list_jobs']).toEqual([['allow→deny', 2, 0]]);
    expect(byTool['run_job']).toEqual(
      expect.arrayContaining([
        ['allow→approve', 1, 0],
        ['allow→rate_limited', 1, 0],
        ['allow→deny', 1, 1],
      ]),
    );
    const run = report.tools.find((t) => t.tool === 'run_job');
    expect(run).toMatchObject({ calls: 4, changed: 3 });
    const denied = run?.transitions.find((t) => t.to === 'deny');
    expect(denied?.examples).toEqual([
      expect.objectContaining({
        agent: 'agent-a',
        arguments: { params: { job_id: 123, notebook_params: { env: 'dev', token: '[redacted]' } } },
        rule: 'tools.run_job.rules[1]',
        uncertain: true,
      }),
    ]);

    const text = replayCli(gw, ['--policy', candidate, '--since', '1h']);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('Replayed 6 audited calls');
    expect(text.stdout).toContain('5 would change, 1 would not.');
    expect(text.stdout).toContain('1 decision uncertain');
    expect(text.stdout).toContain('  allow → approve: 1');

    // The dashboard form runs the same replay.
    const browser = request.agent(gw.baseUrl);
    const login = await browser.get('/login').expect(200);
    const loginCsrf = /name="_csrf" value="([^"]+)"/.exec(login.text)?.[1];
    await browser.post('/login').set('Origin', gw.baseUrl).type('form').send({ _csrf: loginCsrf, user: 'admin', token: adminToken }).expect(303);
    const form = await browser.get('/policy/replay').expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1];
    const page = await browser
      .post('/policy/replay')
      .set('Origin', gw.baseUrl)
      .type('form')
      .send({ _csrf: csrf, candidate: readFileSync(candidate, 'utf8'), since: '1d' })
      .expect(200);
    expect(page.text).toContain('6 calls replayed');
    expect(page.text).toContain('<strong>5 would change</strong>');
    expect(page.text).toContain('<td>allow → rate_limited</td>');
    const notSessions = (keys: string[]) => keys.filter((k) => !k.startsWith(`${gw.prefix}dashboard-`)); // signing in made a session
    expect(notSessions(await snapshot(gw.prefix))).toEqual(notSessions(before));
    const broken = await browser
      .post('/policy/replay')
      .set('Origin', gw.baseUrl)
      .type('form')
      .send({ _csrf: csrf, candidate: '{"version": "2"}', since: '1d' });
    expect(broken.status).toBe(400);
    expect(broken.text).toContain('The candidate policy has problems');

    const bad = replayCli(gw, ['--since', '1h']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--policy CANDIDATE is required');
  }, 120_000);
});

describe('a shadow rule', () => {
  it('is audited as would_have when it would have decided, and leaves the call as the enforced policy decides', async () => {
    const gw = await gateway({
      version: '1',
      default: 'allow',
      tools: {
        run_job: {
          rules: [{ when: { 'params.notebook_params.env': { eq: 'prod' } }, action: 'deny', reason: 'prod runs go through the release train', mode: 'shadow' }],
        },
      },
    });
    const client = await gw.connect('agent-a');
    const prod = await client.callTool(runJob(102, { env: 'prod' }));
    expect(prod.isError).toBeFalsy();
    expect(JSON.parse(textOf(prod))).toHaveProperty('run_id');
    expect((await client.callTool(runJob(101, { env: 'dev' }))).isError).toBeFalsy();

    const api = adminApi(gw.baseUrl);
    await expect.poll(async () => (await api.get<{ events: AuditEvent[] }>('/audit?type=allowed&tool=run_job')).body.events.length).toBe(2);
    const wouldHave = (await api.get<{ events: AuditEvent[] }>('/audit?type=would_have')).body.events;
    expect(wouldHave).toHaveLength(1);
    expect(wouldHave[0]).toMatchObject({
      agent: 'agent-a',
      tool: 'run_job',
      rule: 'tools.run_job.rules[0]',
      reason: 'prod runs go through the release train',
      arguments: { params: { job_id: 102, notebook_params: { env: 'prod' } } },
      details: { wouldHave: 'deny', enforced: 'allow', enforcedRule: 'tools.run_job', differs: true },
    });
  }, 60_000);
});
