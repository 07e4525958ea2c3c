/**
 * Rate-limit checks on real Redis: exact counts under concurrency and across replicas, scopes,
 * all-or-nothing over several limits, and the sliding window on an injected clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { LimitResult } from '../src/limits/types.js';
import { testPrefix } from './helpers/approvals.js';
import { limit, manualClock, startLimiter, subject, type LimiterReplica } from './helpers/limits.js';

const replicas: LimiterReplica[] = [];
afterEach(() => {
  for (const replica of replicas.splice(0)) replica.close();
});

async function replica(prefix: string, now?: () => number): Promise<LimiterReplica> {
  const started = await startLimiter(prefix, now ? { now } : {});
  replicas.push(started);
  return started;
}

const admittedCount = (results: LimitResult[]) => results.filter((r) => r.admitted).length;
const refusals = (results: LimitResult[]) => results.filter((r): r is Extract<LimitResult, { admitted: false }> => !r.admitted);

describe('RedisRateLimiter', () => {
  const runJobRate = limit('run_job_rate', 60, 10, 'grant');

  it('admits exactly max of 15 concurrent calls and tells the rest when to retry', async () => {
    const { limiter } = await replica(testPrefix());
    const results = await Promise.all(Array.from({ length: 15 }, () => limiter.check([runJobRate], subject('agent-a'))));
    expect(admittedCount(results)).toBe(10);
    const refused = refusals(results);
    expect(refused).toHaveLength(5);
    for (const r of refused) {
      expect(r.limit).toEqual(runJobRate);
      expect(r.count).toBe(10);
      expect(r.retryAfterMs).toBeGreaterThan(0);
      expect(r.retryAfterMs).toBeLessThanOrEqual(60_000);
    }
  });

  it('gives every agent its own count under scope grant', async () => {
    const { limiter } = await replica(testPrefix());
    const a = await Promise.all(Array.from({ length: 12 }, () => limiter.check([runJobRate], subject('agent-a'))));
    const b = await Promise.all(Array.from({ length: 12 }, () => limiter.check([runJobRate], subject('agent-b'))));
    expect(admittedCount(a)).toBe(10);
    expect(admittedCount(b)).toBe(10);
  });

  it('gives every session its own count under scope session, whatever the agent', async () => {
    const { limiter } = await replica(testPrefix());
    const perSession = limit('run_job_session', 60, 3, 'session');
    const s1 = await Promise.all(Array.from({ length: 5 }, () => limiter.check([perSession], subject('agent-a', 's1'))));
    const s2 = await Promise.all(Array.from({ length: 5 }, () => limiter.check([perSession], subject('agent-a', 's2'))));
    expect(admittedCount(s1)).toBe(3);
    expect(admittedCount(s2)).toBe(3);
    expect((await limiter.check([perSession], subject('agent-b', 's1'))).admitted).toBe(false);
  });

  it('shares one count among all agents and sessions under scope global', async () => {
    const { limiter } = await replica(testPrefix());
    const global = limit('all_jobs', 60, 4, 'global');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => limiter.check([global], subject(`agent-${i}`, `session-${i}`))));
    expect(admittedCount(results)).toBe(4);
  });

  it('lets tools naming the same counter share it', async () => {
    const { limiter } = await replica(testPrefix());
    for (let i = 0; i < 2; i++) expect((await limiter.check([limit('shared', 60, 3)], subject())).admitted).toBe(true);
    // Another tool's entry names the same counter (with another max after a reload, say): same count.
    expect((await limiter.check([limit('shared', 60, 3)], subject())).admitted).toBe(true);
    expect(await limiter.check([limit('shared', 60, 5)], subject())).toMatchObject({ admitted: true });
    expect(await limiter.check([limit('shared', 60, 4)], subject())).toMatchObject({ admitted: false, count: 4 });
  });

  it('admits exactly max of 200 concurrent calls spread over two replicas on one Redis', async () => {
    const prefix = testPrefix();
    const [one, two] = [await replica(prefix), await replica(prefix)];
    const spec = limit('replicated', 60, 50, 'global');
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? one : two).limiter.check([spec], subject(`agent-${i % 7}`))));
    expect(admittedCount(results)).toBe(50);
    expect(await one.redis.zcard(`${prefix}limit:replicated:global`)).toBe(50);
  });

  it('does not use up limit A when limit B refuses the call', async () => {
    const { limiter } = await replica(testPrefix());
    const a = limit('a_per_minute', 60, 100, 'grant');
    const b = limit('b_per_minute', 60, 2, 'global');
    const results: LimitResult[] = [];
    for (let i = 0; i < 6; i++) results.push(await limiter.check([a, b], subject()));
    expect(admittedCount(results)).toBe(2);
    expect(refusals(results).map((r) => r.limit.counter)).toEqual(['b_per_minute', 'b_per_minute', 'b_per_minute', 'b_per_minute']);
    const usage = await limiter.inspect();
    expect(usage.find((u) => u.counter === 'a_per_minute')?.count).toBe(2);
    expect(usage.find((u) => u.counter === 'b_per_minute')?.count).toBe(2);
  });

  it('keeps counters apart even when counter or agent names contain the key separator', async () => {
    const { limiter } = await replica(testPrefix());
    const plain = limit('a', 60, 1, 'grant');
    const tricky = limit('a:grant:x', 60, 1, 'global');
    expect((await limiter.check([plain], subject('x'))).admitted).toBe(true);
    expect((await limiter.check([tricky], subject('y'))).admitted).toBe(true);
    expect((await limiter.check([plain], subject('x:*'))).admitted).toBe(true);
    expect((await limiter.check([plain], subject('x'))).admitted).toBe(false);
  });

  it('names the first refusing limit when several refuse', async () => {
    const { limiter } = await replica(testPrefix());
    const a = limit('first', 60, 1);
    const b = limit('second', 60, 1);
    expect((await limiter.check([a, b], subject())).admitted).toBe(true);
    expect(await limiter.check([b, a], subject())).toMatchObject({ admitted: false, limit: b, count: 1 });
  });
});

describe('the sliding window (injected clock, no sleeping)', () => {
  it('refuses at t + window − 1 ms and admits again at t + window', async () => {
    const clock = manualClock();
    const { limiter } = await replica(testPrefix(), clock.now);
    const spec = limit('rollover', 60, 3);
    const t = clock.now();
    for (let i = 0; i < 3; i++) expect((await limiter.check([spec], subject())).admitted).toBe(true);
    expect(await limiter.check([spec], subject())).toEqual({ admitted: false, limit: spec, count: 3, retryAfterMs: 60_000 });
    clock.set(t + 60_000 - 1);
    expect(await limiter.check([spec], subject())).toEqual({ admitted: false, limit: spec, count: 3, retryAfterMs: 1 });
    clock.set(t + 60_000);
    const again = await Promise.all(Array.from({ length: 5 }, () => limiter.check([spec], subject())));
    expect(admittedCount(again)).toBe(3);
  });

  it('gives a retry-after that is exact: retrying then is admitted, a millisecond earlier is not', async () => {
    const clock = manualClock();
    const { limiter } = await replica(testPrefix(), clock.now);
    const spec = limit('exact', 10, 2);
    const t = clock.now();
    await limiter.check([spec], subject());
    clock.set(t + 4_000);
    await limiter.check([spec], subject());
    clock.set(t + 7_000);
    const refused = await limiter.check([spec], subject());
    expect(refused).toMatchObject({ admitted: false, retryAfterMs: 3_000 });
    clock.set(t + 10_000 - 1);
    expect((await limiter.check([spec], subject())).admitted).toBe(false);
    clock.set(t + 10_000);
    expect((await limiter.check([spec], subject())).admitted).toBe(true);
  });

  it('never admits more than max in any window over a random sequence, matching a reference log', async () => {
    const clock = manualClock();
    const { limiter } = await replica(testPrefix(), clock.now);
    const windowMs = 1_000;
    const max = 5;
    const spec = limit('random', windowMs / 1_000, max);
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const reference: number[] = [];
    let t = clock.now();
    for (let i = 0; i < 400; i++) {
      t += Math.floor(random() * 450);
      clock.set(t);
      const inWindow = reference.filter((at) => at > t - windowMs);
      const expected = inWindow.length < max;
      const result = await limiter.check([spec], subject());
      expect(result.admitted).toBe(expected);
      if (expected) reference.push(t);
      else if (!result.admitted) expect(result.retryAfterMs).toBe((inWindow[inWindow.length - max] ?? 0) + windowMs - t);
    }
    expect(reference.length).toBeGreaterThan(100);
    for (const start of reference) expect(reference.filter((at) => at >= start && at < start + windowMs).length).toBeLessThanOrEqual(max);
  });

  it('keeps what a longer window counts when a shorter window shares the counter', async () => {
    const clock = manualClock();
    const { limiter } = await replica(testPrefix(), clock.now);
    const perMinute = limit('jobs', 60, 100);
    const perHour = limit('jobs', 3_600, 3);
    const t = clock.now();
    for (let i = 0; i < 3; i++) expect((await limiter.check([perHour], subject())).admitted).toBe(true);
    clock.set(t + 120_000);
    // The per-minute limit sees an empty minute but must not trim the hour's entries away.
    expect((await limiter.check([perMinute], subject())).admitted).toBe(true);
    expect(await limiter.check([perHour], subject())).toMatchObject({ admitted: false, count: 4 });
  });
});
