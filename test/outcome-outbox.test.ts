/**
 * The outbox that keeps an execution's writes while Redis is away: steps run in order, a failed
 * step is retried until it succeeds, the caller waits only for the first attempt, and what cannot
 * be written within its bounds (capacity, shutdown deadline) is reported, never silently dropped.
 * Its steps here are plain functions that fail while a flag says "Redis is down".
 */
import { describe, expect, it } from 'vitest';
import { OutcomeOutbox, type OutboxEntry } from '../src/approvals/outcome-outbox.js';
import { createLogger } from '../src/log.js';

const log = createLogger({ level: 'silent' });

function entry(name: string, written: string[], redis: { up: boolean }): OutboxEntry {
  const step = (what: string) => ({
    name: what,
    run: async () => {
      if (!redis.up) throw new Error('redis down');
      written.push(`${name}:${what}`);
    },
  });
  return { label: name, content: { name }, steps: [step('record'), step('audit')] };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

describe('the outcome outbox', () => {
  it('writes every step in order once Redis is back, keeping entries in the order they came', async () => {
    const redis = { up: false };
    const written: string[] = [];
    const outbox = new OutcomeOutbox({ log, capacity: 10, backoffMs: 10, maxBackoffMs: 20 });
    await outbox.submit(entry('a', written, redis)); // returns although the write failed
    await outbox.submit(entry('b', written, redis));
    expect(outbox.size).toBe(2);
    redis.up = true;
    outbox.kick();
    await until(() => outbox.size === 0);
    expect(written).toEqual(['a:record', 'a:audit', 'b:record', 'b:audit']);
  });

  it('gives up the oldest entry past its capacity, and whatever is left at the shutdown deadline, reporting each', async () => {
    const redis = { up: false };
    const written: string[] = [];
    let abandoned = 0;
    const outbox = new OutcomeOutbox({ log, capacity: 2, backoffMs: 10, maxBackoffMs: 20, onAbandoned: () => (abandoned += 1) });
    for (const name of ['a', 'b', 'c']) await outbox.submit(entry(name, written, redis));
    expect(abandoned).toBe(1);
    expect(outbox.size).toBe(2);
    await outbox.drain(100);
    expect(abandoned).toBe(3);
    expect(outbox.size).toBe(0);
    expect(written).toEqual([]);
  });

  it('lets shutdown wait for Redis within its deadline', async () => {
    const redis = { up: false };
    const written: string[] = [];
    let abandoned = 0;
    const outbox = new OutcomeOutbox({ log, capacity: 10, backoffMs: 10, maxBackoffMs: 20, onAbandoned: () => (abandoned += 1) });
    await outbox.submit(entry('a', written, redis));
    setTimeout(() => (redis.up = true), 100);
    await outbox.drain(5_000);
    expect(written).toEqual(['a:record', 'a:audit']);
    expect(abandoned).toBe(0);
  });
});
