/**
 * Reading the audit history on real Redis: filters and time ranges, cursor paging under
 * concurrent appends, the scan budget, CSV and JSONL exports, a held call's story, time parsing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { csvColumns } from '../src/audit/csv.js';
import { parseTime } from '../src/audit/time.js';
import { collect, openTestStore, parseJsonLines, sampleEvent, type TestStore } from './helpers/audit.js';
import { testPrefix } from './helpers/approvals.js';

const opened: TestStore[] = [];
async function open(options: Parameters<typeof openTestStore>[1] = {}, prefix = testPrefix()): Promise<TestStore> {
  const handle = await openTestStore(prefix, options);
  opened.push(handle);
  return handle;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((h) => h.close()));
});

/** A minimal RFC 4180 reader, to check the writer against. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charAt(i);
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 1;
    } else field += c;
  }
  return rows;
}

describe('audit query', () => {
  it('filters by agent, tool, type and approval, newest first', async () => {
    const { store } = await open();
    await store.append(sampleEvent('allowed', { agent: 'a', tool: 'list_jobs' }));
    await store.append(sampleEvent('denied', { agent: 'b', tool: 'delete_job' }));
    await store.append(sampleEvent('approval_requested', { agent: 'a', tool: 'run_job', approvalId: 'appr-1' }));
    await store.append(sampleEvent('approved', { agent: 'a', tool: 'run_job', approvalId: 'appr-1' }));
    await store.append(sampleEvent('rate_limited', { agent: 'b', tool: 'run_job' }));

    const types = async (query: Parameters<typeof store.query>[0]) => (await store.query(query)).events.map((e) => e.type);
    expect(await types({ agent: 'a' })).toEqual(['approved', 'approval_requested', 'allowed']);
    expect(await types({ tool: 'run_job' })).toEqual(['rate_limited', 'approved', 'approval_requested']);
    expect(await types({ type: 'denied' })).toEqual(['denied']);
    expect(await types({ type: ['denied', 'rate_limited'] })).toEqual(['rate_limited', 'denied']);
    expect(await types({ approval: 'appr-1' })).toEqual(['approved', 'approval_requested']);
    expect(await types({ agent: 'b', tool: 'run_job' })).toEqual(['rate_limited']);
    expect(await types({ agent: 'nobody' })).toEqual([]);
  });

  it('selects a time range by the events’ stream ids', async () => {
    const { store } = await open();
    await store.append(sampleEvent('allowed', { details: { n: 1 } }));
    await new Promise((r) => setTimeout(r, 10));
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    await store.append(sampleEvent('allowed', { details: { n: 2 } }));
    await new Promise((r) => setTimeout(r, 5));
    const until = Date.now();
    await new Promise((r) => setTimeout(r, 10));
    await store.append(sampleEvent('allowed', { details: { n: 3 } }));
    const page = await store.query({ since, until });
    expect(page.events.map((e) => e.details?.['n'])).toEqual([2]);
    const exported = parseJsonLines(await collect(store.export({ format: 'jsonl', since })));
    expect(exported.map((e) => e.details?.['n'])).toEqual([2, 3]);
  });

  it('cursor paging returns every event exactly once while new events are appended concurrently', async () => {
    const { store } = await open();
    for (let i = 0; i < 300; i += 1) await store.append(sampleEvent('allowed', { details: { n: i } }));
    const seen: number[] = [];
    let cursor: string | undefined;
    let appended = 0;
    do {
      const [page] = await Promise.all([
        store.query({ limit: 17, ...(cursor ? { cursor } : {}) }),
        ...Array.from({ length: 5 }, () => store.append(sampleEvent('denied', { details: { late: appended++ } }))),
      ]);
      seen.push(...page.events.filter((e) => e.type === 'allowed').map((e) => Number(e.details?.['n'])));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(300);
    expect(new Set(seen).size).toBe(300);
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => 299 - i));
  });

  it('bounds a sparse filter by the scan budget and hands back a cursor to continue', async () => {
    const { store } = await open({ scanBudget: 100 });
    await store.append(sampleEvent('denied', { agent: 'rare' }));
    for (let i = 0; i < 250; i += 1) await store.append(sampleEvent('allowed', { agent: 'common' }));
    let page = await store.query({ agent: 'rare' });
    const pages = [page];
    while (page.nextCursor) pages.push((page = await store.query({ agent: 'rare', cursor: page.nextCursor })));
    expect(pages.every((p) => p.scanned <= 100)).toBe(true);
    expect(pages.flatMap((p) => p.events.map((e) => e.agent))).toEqual(['rare']);
    expect(pages.length).toBeGreaterThanOrEqual(3);
  });

  it('tells one held call’s story in order, and nothing of other calls', async () => {
    const { store } = await open();
    const approvalId = 'appr-story';
    await store.append(sampleEvent('approval_requested', { approvalId }));
    await store.append(sampleEvent('allowed', { tool: 'list_jobs' }));
    await store.append(sampleEvent('approval_vote', { approvalId, actor: { kind: 'slack', id: 'U0APPROVER1' }, details: { approvals: 1, quorum: 2 } }));
    await store.append(sampleEvent('approval_requested', { approvalId: 'appr-other' }));
    await store.append(sampleEvent('approved', { approvalId, actor: { kind: 'slack', id: 'U0APPROVER2' }, latency: { decisionMs: 4_000 } }));
    await store.append(sampleEvent('executed', { approvalId, outcome: 'success', latency: { upstreamMs: 120, totalMs: 4_200 } }));
    const story = await store.story(approvalId);
    expect(story.map((e) => e.type)).toEqual(['approval_requested', 'approval_vote', 'approved', 'executed']);
    expect(await store.story('appr-unknown')).toEqual([]);
  });
});

describe('audit export', () => {
  it('CSV opens with the header row and escapes commas, quotes and newlines', async () => {
    const { store } = await open();
    const reason = 'too risky, says "ops"\nsee ticket\r\nOPS-1';
    await store.append(sampleEvent('approval_denied', { reason, actor: { kind: 'admin', id: 'admin:alice', name: 'alice' }, details: { note: 'a,b' } }));
    await store.append(sampleEvent('allowed'));
    const text = await collect(store.export({ format: 'csv' }));
    expect(text.startsWith(`${csvColumns.join(',')}\r\n`)).toBe(true);
    const rows = parseCsv(text);
    expect(rows[0]).toEqual([...csvColumns]);
    expect(rows).toHaveLength(3);
    const denied = Object.fromEntries(csvColumns.map((c, i) => [c, rows[1]?.[i]]));
    expect(denied).toMatchObject({ type: 'approval_denied', seq: '1', reason, actor: 'admin:alice', details: '{"note":"a,b"}', tool: 'run_job' });
    expect(JSON.parse(String(denied['arguments']))).toEqual(sampleEvent('allowed').arguments);
    expect(rows[2]?.length).toBe(csvColumns.length);
  });

  it('JSONL exports one parseable event per line, oldest first, across many chunks', async () => {
    const { store } = await open();
    await Promise.all(Array.from({ length: 2_500 }, (_, i) => store.append(sampleEvent('allowed', { details: { n: i } }))));
    const text = await collect(store.export({ format: 'jsonl', chunkSize: 1_000 }));
    expect(text.endsWith('}\n')).toBe(true);
    const events = parseJsonLines(text);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 2_500 }, (_, i) => i + 1));
    expect(Object.keys(events[0] ?? {}).slice(0, 4)).toEqual(['id', 'time', 'seq', 'type']);
  });

  it('a Readable export stops at the events present when it began', async () => {
    const { store } = await open();
    for (let i = 0; i < 5; i += 1) await store.append(sampleEvent('allowed'));
    const stream = store.exportStream({ format: 'jsonl', chunkSize: 2 });
    let text = '';
    for await (const chunk of stream) {
      text += String(chunk);
      await store.append(sampleEvent('denied'));
    }
    expect(text.trim().split('\n')).toHaveLength(5);
  });
});

describe('parseTime', () => {
  const now = Date.parse('2026-11-01T12:00:00Z');
  it('reads ISO 8601, spans back from now, and now', () => {
    expect(parseTime('2026-10-31T09:30:00Z', now)).toBe(Date.parse('2026-10-31T09:30:00Z'));
    expect(parseTime('2026-10-31', now)).toBe(Date.parse('2026-10-31'));
    expect(parseTime('1h', now)).toBe(now - 3_600_000);
    expect(parseTime('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseTime('-15m', now)).toBe(now - 900_000);
    expect(parseTime('30s ago', now)).toBe(now - 30_000);
    expect(parseTime('now', now)).toBe(now);
  });

  it('rejects what is not a time, including a bare number', () => {
    for (const text of ['yesterday', '1700000000', '', '2026-13-45', '1y']) expect(parseTime(text, now)).toBeUndefined();
  });
});
