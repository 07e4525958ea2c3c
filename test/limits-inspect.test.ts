/**
 * What operators see of rate limits: `inspect()` (counts, windows, reset times) and
 * `airlock limits show`, run in-process against the test Redis.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { runLimitsCommand } from '../src/cli/limits.js';
import { testPrefix } from './helpers/approvals.js';
import { limit, manualClock, startLimiter, subject, type LimiterReplica } from './helpers/limits.js';

const replicas: LimiterReplica[] = [];
afterEach(() => {
  for (const replica of replicas.splice(0)) replica.close();
  vi.restoreAllMocks();
});

async function replica(prefix: string, now?: () => number): Promise<LimiterReplica> {
  const started = await startLimiter(prefix, now ? { now } : {});
  replicas.push(started);
  return started;
}

/** Fills counters the way a few calls through the gateway would. */
async function someTraffic(prefix: string, now?: () => number): Promise<void> {
  const { limiter } = await replica(prefix, now);
  const runJob = limit('run_job_rate', 60, 10, 'grant');
  for (let i = 0; i < 3; i++) await limiter.check([runJob], subject('analytics-bot', 's1'));
  await limiter.check([runJob], subject('ops:bot*', 's2'));
  await limiter.check([limit('all_calls', 3_600, 1_000, 'global'), limit('per_session', 1, 5, 'session')], subject('analytics-bot', 'sess/1 :x'));
}

describe('RedisRateLimiter.inspect', () => {
  it('reports each counter and subject with its count, max, window and when it next frees a slot', async () => {
    const prefix = testPrefix();
    const clock = manualClock();
    const t = clock.now();
    await someTraffic(prefix, clock.now);
    clock.set(t + 500);
    const { limiter } = await replica(prefix, clock.now);
    const usages = await limiter.inspect();
    expect(usages).toEqual([
      {
        counter: 'all_calls',
        scope: 'global',
        subject: undefined,
        count: 1,
        max: 1_000,
        windowSec: 3_600,
        resetsInMs: 3_600_000 - 500,
        resetsAt: new Date(t + 3_600_000).toISOString(),
      },
      {
        counter: 'per_session',
        scope: 'session',
        subject: 'sess/1 :x',
        count: 1,
        max: 5,
        windowSec: 1,
        resetsInMs: 500,
        resetsAt: new Date(t + 1_000).toISOString(),
      },
      {
        counter: 'run_job_rate',
        scope: 'grant',
        subject: 'analytics-bot',
        count: 3,
        max: 10,
        windowSec: 60,
        resetsInMs: 59_500,
        resetsAt: new Date(t + 60_000).toISOString(),
      },
      {
        counter: 'run_job_rate',
        scope: 'grant',
        subject: 'ops:bot*',
        count: 1,
        max: 10,
        windowSec: 60,
        resetsInMs: 59_500,
        resetsAt: new Date(t + 60_000).toISOString(),
      },
    ]);
  });

  it('leaves out counters whose window has emptied', async () => {
    const prefix = testPrefix();
    const clock = manualClock();
    await someTraffic(prefix, clock.now);
    clock.set(clock.now() + 1_000);
    const { limiter } = await replica(prefix, clock.now);
    expect((await limiter.inspect()).map((u) => u.counter)).not.toContain('per_session');
  });

  it('shows for one agent its grant counters and the global ones', async () => {
    const prefix = testPrefix();
    await someTraffic(prefix);
    const { limiter } = await replica(prefix);
    const usages = await limiter.inspect({ agent: 'ops:bot*' });
    expect(usages.map((u) => [u.counter, u.subject])).toEqual([
      ['all_calls', undefined],
      ['run_job_rate', 'ops:bot*'],
    ]);
  });

  it('sees nothing of another prefix', async () => {
    await someTraffic(testPrefix());
    const { limiter } = await replica(testPrefix());
    expect(await limiter.inspect()).toEqual([]);
  });
});

describe('airlock limits show', () => {
  function configFor(prefix: string): string {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-limits-')), 'airlock.config.json');
    writeFileSync(file, JSON.stringify({ redis: { url: inject('redisUrl'), prefix }, mcpServers: { databricks: { command: 'true' } } }));
    return file;
  }

  async function run(args: string[]): Promise<{ code: number; out: string }> {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return true;
    });
    const code = await runLimitsCommand(args);
    vi.restoreAllMocks();
    return { code, out };
  }

  it('prints a table of counters with their counts and reset times', async () => {
    const prefix = testPrefix();
    await someTraffic(prefix);
    const { code, out } = await run(['show', '--config', configFor(prefix)]);
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^COUNTER\s+SCOPE\s+SUBJECT\s+COUNT\s+MAX\s+WINDOW\s+RESETS IN$/);
    expect(lines).toHaveLength(5);
    expect(lines.find((l) => l.includes('analytics-bot'))).toMatch(/^run_job_rate\s+grant\s+analytics-bot\s+3\s+10\s+1 min\s+(\d+(\.\d)? s|1 min)$/);
    expect(lines.find((l) => l.startsWith('all_calls'))).toMatch(/^all_calls\s+global\s+-\s+1\s+1000\s+1 h\s+/);
  });

  it('filters by agent and prints JSON with --json', async () => {
    const prefix = testPrefix();
    await someTraffic(prefix);
    const { code, out } = await run(['show', '--agent', 'analytics-bot', '--json', '--config', configFor(prefix)]);
    expect(code).toBe(0);
    const usages: unknown = JSON.parse(out);
    expect(usages).toEqual([
      expect.objectContaining({ counter: 'all_calls', scope: 'global', count: 1 }),
      expect.objectContaining({ counter: 'run_job_rate', scope: 'grant', subject: 'analytics-bot', count: 3, max: 10, windowSec: 60 }),
    ]);
  });

  it('says so when no counter holds any call', async () => {
    const { code, out } = await run(['show', '--config', configFor(testPrefix())]);
    expect(code).toBe(0);
    expect(out).toBe('no calls counted in any rate-limit window\n');
  });

  it('rejects an unknown subcommand with the usage line', async () => {
    await expect(runLimitsCommand(['reset', '--config', configFor(testPrefix())])).rejects.toThrow(/usage: airlock limits show/);
  });
});
