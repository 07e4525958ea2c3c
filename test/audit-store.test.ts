/**
 * The audit store's write side on real Redis: every event type round-trips, the chain holds across
 * replicas, redacted arguments stay redacted, writes are never lost silently, retention is recorded.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type AuditStore } from '../src/audit/audit-store.js';
import { auditEventTypes, type AuditEvent } from '../src/audit/types.js';
import { isAirlockError } from '../src/errors.js';
import { collect, dumpPrefix, nth, openTestStore, parseJsonLines, readAll, sampleEvent, type TestStore } from './helpers/audit.js';
import { testPrefix } from './helpers/approvals.js';
import { startRedisServer } from './helpers/redis-server.js';

const opened: TestStore[] = [];
async function open(prefix: string, options: Parameters<typeof openTestStore>[1] = {}, url?: string): Promise<TestStore> {
  const handle = await openTestStore(prefix, options, url);
  opened.push(handle);
  return handle;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((h) => h.close()));
});

async function allEvents(store: AuditStore): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const chunk of store.events()) out.push(...chunk);
  return out;
}

describe('audit store: writing', () => {
  it('stores an event of every type and reads each back with its fields intact, in order', async () => {
    const { store } = await open(testPrefix());
    const inputs = auditEventTypes.map((type, i) =>
      sampleEvent(type, {
        approvalId: `appr-${i}`,
        actor: { kind: 'slack', id: 'U0APPROVER1', name: 'alice' },
        reason: `reason ${i}, with "quotes"`,
        outcome: 'success',
        latency: { heldMs: 1_500, decisionMs: 1_200, upstreamMs: 35.5, totalMs: 1_600 },
        details: { step: i, nested: { list: [1, 'two', null] } },
      }),
    );
    for (const input of inputs) await store.append(input);

    const events = await allEvents(store);
    expect(events.map((e) => e.type)).toEqual([...auditEventTypes]);
    events.forEach((event, i) => {
      expect(event).toMatchObject(nth(inputs, i));
      expect(event.seq).toBe(i + 1);
      expect(event.id).toMatch(/^\d+-\d+$/);
      expect(Date.parse(event.time)).not.toBeNaN();
      expect(event.hash).toMatch(/^[0-9a-f]{64}$/);
      if (i > 0) expect(event.prevHash).toBe(events[i - 1]?.hash);
    });
    const page = await store.query({ limit: 100 });
    expect(page.events.map((e) => e.seq)).toEqual(events.map((e) => e.seq).reverse());
    expect(await store.verify()).toMatchObject({ ok: true, events: auditEventTypes.length, firstSeq: 1, anchoredAt: 'genesis' });
  });

  it('keeps only the fields of the contract, so a stray raw-arguments field is never written', async () => {
    const prefix = testPrefix();
    const { store, redis } = await open(prefix);
    const input = { ...sampleEvent('allowed', { arguments: { params: { token: '[redacted]' } } }), rawArguments: { token: 'hunter2-raw' } };
    await store.append(input);
    expect(await dumpPrefix(redis, prefix)).not.toContain('hunter2-raw');
    const [event] = await allEvents(store);
    expect(event).not.toHaveProperty('rawArguments');
  });

  it('writes redacted arguments as given: the raw secret appears nowhere in Redis nor in any export', async () => {
    const prefix = testPrefix();
    const { store, redis } = await open(prefix);
    const secret = 'sk-live-5f3c9a1e-DO-NOT-LEAK';
    const raw = { params: { job_id: 7, notebook_params: { env: 'prod', api_key: secret } } };
    const redacted = { params: { job_id: 7, notebook_params: { env: 'prod', api_key: '[redacted]' } } };
    await store.append(sampleEvent('approval_requested', { arguments: redacted, argumentsHash: 'sha256:of-the-raw-arguments', approvalId: 'appr-secret' }));
    await store.append(sampleEvent('executed', { arguments: redacted, outcome: 'success', approvalId: 'appr-secret' }));

    expect(await dumpPrefix(redis, prefix)).not.toContain(secret);
    for (const format of ['jsonl', 'csv'] as const) expect(await collect(store.export({ format }))).not.toContain(secret);
    const [first] = await allEvents(store);
    expect(first?.arguments).toEqual(redacted);
    expect(JSON.stringify(raw)).toContain(secret); // the fixture does hold the secret
  });

  it('rejects an event that cannot be serialised without failing the events queued with it', async () => {
    const { store } = await open(testPrefix());
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const results = await Promise.allSettled([
      store.append(sampleEvent('allowed')),
      store.append(sampleEvent('denied', { details: cyclic })),
      store.append(sampleEvent('allowed')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await store.verify()).ok).toBe(true);
  });

  it('keeps one valid chain with no duplicate seq when two replicas append 500 events at once', async () => {
    const prefix = testPrefix();
    const a = await open(prefix);
    const b = await open(prefix);
    const writes = Array.from({ length: 500 }, (_, i) => (i % 2 === 0 ? a : b).store.append(sampleEvent('allowed', { details: { n: i } })));
    await Promise.all(writes);

    const events = await allEvents(a.store);
    expect(events).toHaveLength(500);
    expect(new Set(events.map((e) => e.seq)).size).toBe(500);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(new Set(events.map((e) => e.details?.['n'])).size).toBe(500);
    expect(await b.store.verify()).toMatchObject({ ok: true, events: 500, lastSeq: 500 });
    // Each replica keeps extending the chain after the race.
    await a.store.append(sampleEvent('denied'));
    await b.store.append(sampleEvent('denied'));
    expect(await a.store.verify()).toMatchObject({ ok: true, events: 502 });
  });

  it('throws state_store_unavailable after retrying when Redis is down, and stores again once it is back', async () => {
    const server = await startRedisServer();
    try {
      const prefix = testPrefix();
      const { store } = await open(prefix, { backoffMs: 20, attemptTimeoutMs: 500 }, server.url);
      await store.append(sampleEvent('allowed'));
      await server.stop();
      const started = Date.now();
      const error: unknown = await store.append(sampleEvent('denied')).catch((e: unknown) => e);
      expect(isAirlockError(error) && error.code).toBe('state_store_unavailable');
      expect(error instanceof Error && error.message).toMatch(
        /^Airlock cannot reach its state store \(Redis\) right now, so the audit history could not record this event after 4 attempts/,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(20 + 40 + 80 - 5);

      await server.restart();
      await expect
        .poll(
          () =>
            store.append(sampleEvent('denied')).then(
              () => true,
              () => false,
            ),
          { timeout: 10_000 },
        )
        .toBe(true);
      // The server was restarted empty (no persistence): the store starts a new chain rather than fork one.
      expect(await store.verify()).toMatchObject({ ok: true });
    } finally {
      await server.stop();
    }
  });

  it('does not write an event twice when a write it gave up waiting for did land', async () => {
    const prefix = testPrefix();
    const { store, redis } = await open(prefix, { attemptTimeoutMs: 30, backoffMs: 50 });
    await store.append(sampleEvent('allowed'));
    const admin = (await open(testPrefix())).redis;
    // Redis holds every write for 150 ms: the first attempts time out on the client yet run afterwards.
    await admin.client('PAUSE', 150, 'WRITE');
    await store.append(sampleEvent('executed', { details: { once: true } }));
    await store.append(sampleEvent('denied'));
    const events = await allEvents(store);
    expect(events.map((e) => e.type)).toEqual(['allowed', 'executed', 'denied']);
    expect(await store.verify()).toMatchObject({ ok: true, events: 3 });
    expect(await redis.xlen(store.keys.stream)).toBe(3);
  });

  it('mirrors every stored event, with its id and hashes, to the JSON-lines file', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-audit-')), 'audit.jsonl');
    const handle = await openTestStore(testPrefix(), { file });
    await Promise.all([handle.store.append(sampleEvent('allowed')), handle.store.append(sampleEvent('executed', { outcome: 'tool_error' }))]);
    await handle.close();
    const lines = parseJsonLines(readFileSync(file, 'utf8'));
    const stored = lines.map((l) => ({ seq: l.seq, type: l.type, id: l.id, hash: l.hash }));
    expect(stored).toEqual([
      { seq: 1, type: 'allowed', id: expect.stringMatching(/^\d+-\d+$/), hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
      { seq: 2, type: 'executed', id: expect.stringMatching(/^\d+-\d+$/), hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
    ]);
  });

  it('a mirror file that cannot be written does not stop events from being stored', async () => {
    const { store } = await open(testPrefix(), { file: path.join(tmpdir(), `no-such-dir-${Date.now()}`, 'audit.jsonl') });
    await store.append(sampleEvent('allowed'));
    await store.append(sampleEvent('allowed'));
    expect((await store.verify()).ok).toBe(true);
  });
});

describe('audit store: retention', () => {
  it('trims events older than the retention, records retention_trimmed, and verify passes from the first kept event', async () => {
    const prefix = testPrefix();
    const writer = await open(prefix);
    for (let i = 0; i < 5; i += 1) await writer.store.append(sampleEvent('allowed', { details: { old: i } }));
    await new Promise((r) => setTimeout(r, 15));
    const cut = Date.now();
    await new Promise((r) => setTimeout(r, 15));
    for (let i = 0; i < 3; i += 1) await writer.store.append(sampleEvent('allowed', { details: { recent: i } }));

    // A replica with a 1 h retention whose clock says it is an hour after the cut trims on start.
    const retentionMs = 3_600_000;
    const replica = await open(prefix, { retentionMs, now: () => cut + retentionMs });
    const events = await allEvents(replica.store);
    expect(events.map((e) => e.seq)).toEqual([6, 7, 8, 9]);
    const trimmed = events.at(-1);
    expect(trimmed).toMatchObject({ type: 'retention_trimmed', actor: { kind: 'system' }, details: { trimmedCount: 5, firstKeptSeq: 6 } });
    expect(await replica.store.verify()).toMatchObject({ ok: true, events: 4, firstSeq: 6, lastSeq: 9, anchoredAt: 'retention' });
    expect(await readAll(replica.redis, replica.store.keys.stream)).toHaveLength(4);
  });

  it('records nothing when there was nothing to trim', async () => {
    const prefix = testPrefix();
    const { store } = await open(prefix, { retentionMs: 3_600_000 });
    await store.append(sampleEvent('allowed'));
    expect(await store.trim()).toMatchObject({ trimmed: 0 });
    expect((await allEvents(store)).map((e) => e.type)).toEqual(['allowed']);
  });
});
