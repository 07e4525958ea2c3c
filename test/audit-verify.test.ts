/**
 * `verify` against the tampering someone with Redis access could do: edit an event (with or
 * without recomputing its hash), delete one (in the middle, at the start, at the end), reorder two.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chainHash } from '../src/audit/chain.js';
import { decodeEntry, encodeFields } from '../src/audit/stream-entry.js';
import { canonicalJson } from '../src/util/canonical.js';
import { nth, openTestStore, readAll, rewriteStream, sampleEvent, setField, type TestStore } from './helpers/audit.js';
import { testPrefix } from './helpers/approvals.js';

const opened: TestStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((h) => h.close()));
});

/** A store holding `count` events (seq 1..count). */
async function storeWith(count: number): Promise<TestStore> {
  const handle = await openTestStore(testPrefix());
  opened.push(handle);
  for (let i = 0; i < count; i += 1) await handle.store.append(sampleEvent(i % 3 === 0 ? 'allowed' : 'executed', { details: { n: i } }));
  return handle;
}

describe('audit verify', () => {
  it('passes on an untouched log and reports what it checked', async () => {
    const { store, redis } = await storeWith(2_345);
    const entries = await readAll(redis, store.keys.stream);
    expect(await store.verify()).toEqual({
      ok: true,
      events: 2_345,
      firstSeq: 1,
      lastSeq: 2_345,
      firstId: entries[0]?.[0],
      lastId: entries.at(-1)?.[0],
      anchoredAt: 'genesis',
    });
  });

  it('passes on an empty log', async () => {
    const { store } = await storeWith(0);
    expect(await store.verify()).toEqual({ ok: true, events: 0, anchoredAt: 'genesis' });
  });

  it('fails on an edited event, naming it', async () => {
    const { store, redis } = await storeWith(10);
    const entries = await readAll(redis, store.keys.stream);
    await rewriteStream(redis, store.keys.stream, (all) => {
      setField(nth(all, 4)[1], 'agent', 'someone-else');
      return all;
    });
    expect(await store.verify()).toMatchObject({ ok: false, at: entries[4]?.[0], seq: 5, problem: 'edited', events: 4 });
  });

  it('fails on an edited event whose hash was recomputed, at the link it breaks', async () => {
    const { store, redis } = await storeWith(10);
    await rewriteStream(redis, store.keys.stream, (all) => {
      const entry = nth(all, 4);
      const decoded = decodeEntry(entry);
      if (!decoded.ok) throw new Error('fixture');
      const { id: _id, seq, prevHash, hash: _hash, ...content } = decoded.event;
      const edited = { ...content, reason: 'nothing to see here' };
      entry[1] = encodeFields(edited, seq, prevHash, chainHash(canonicalJson(edited), seq, prevHash));
      return all;
    });
    expect(await store.verify()).toMatchObject({ ok: false, seq: 6, problem: 'broken_link' });
  });

  it('fails on a deleted event (XDEL)', async () => {
    const { store, redis } = await storeWith(10);
    const entries = await readAll(redis, store.keys.stream);
    await redis.xdel(store.keys.stream, nth(entries, 6)[0]);
    const result = await store.verify();
    expect(result).toMatchObject({ ok: false, at: entries[7]?.[0], seq: 8, problem: 'deleted' });
    expect(!result.ok && result.message).toMatch(/seq 7 is missing/);
  });

  it('fails when the oldest events are deleted without a retention trim recording it', async () => {
    const { store, redis } = await storeWith(10);
    const entries = await readAll(redis, store.keys.stream);
    await redis.xdel(store.keys.stream, nth(entries, 0)[0], nth(entries, 1)[0]);
    expect(await store.verify()).toMatchObject({ ok: false, seq: 3, problem: 'truncated' });
  });

  it('fails when the newest events are deleted (the chain head remembers them)', async () => {
    const { store, redis } = await storeWith(10);
    const entries = await readAll(redis, store.keys.stream);
    await redis.xdel(store.keys.stream, nth(entries, 9)[0]);
    expect(await store.verify()).toMatchObject({ ok: false, seq: 9, problem: 'deleted' });
  });

  it('fails on a reordered pair of events', async () => {
    const { store, redis } = await storeWith(10);
    const entries = await readAll(redis, store.keys.stream);
    await rewriteStream(redis, store.keys.stream, (all) => {
      const [third, fourth] = [nth(all, 3), nth(all, 4)];
      all[3] = fourth;
      all[4] = third;
      return all;
    });
    expect(await store.verify()).toMatchObject({ ok: false, at: entries[3]?.[0], seq: 5, problem: 'reordered' });
  });

  it('fails on an entry that is not an event at all', async () => {
    const { store, redis } = await storeWith(3);
    await redis.xadd(store.keys.stream, '*', 'note', 'injected');
    expect(await store.verify()).toMatchObject({ ok: false, problem: 'malformed', events: 3 });
  });

  it('keeps verifying after more appends on top of a checked chain', async () => {
    const { store } = await storeWith(5);
    expect((await store.verify()).ok).toBe(true);
    await Promise.all(Array.from({ length: 50 }, () => store.append(sampleEvent('denied'))));
    expect(await store.verify()).toMatchObject({ ok: true, events: 55, lastSeq: 55 });
  });
});
