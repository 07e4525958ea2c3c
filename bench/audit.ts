/**
 * bench:audit — what the audit history costs and how it scales.
 *
 * Starts its own redis-server (no persistence) unless REDIS_URL is set, then in one run:
 *  1. appends/s and p50/p99 append latency at concurrency 64 (group commit);
 *  2. Redis round trips per append at concurrency 1 (commands the client sent, and INFO
 *     commandstats: script calls and XADDs);
 *  3. seeds N (default 1,000,000) valid chained events over 30 days by pipelined XADDs;
 *  4. a query for one agent over one day among them (first page, and the whole day paged);
 *  5. an export of all N as JSONL and CSV with events/s and peak RSS / heap while exporting;
 *  6. verify over all N;
 *  7. `policy replay` of all N under a candidate policy (calls/s; issue #15).
 *
 *   npx tsx bench/audit.ts [--events 1000000] [--seconds 5] [--only replay]
 *   node --expose-gc --import tsx bench/audit.ts   (a settled heap baseline before each export)
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { AuditStore } from '../src/audit/audit-store.js';
import { chainHash, contentOf, emptyHead, formatHead, type ChainHead } from '../src/audit/chain.js';
import { auditKeys, encodeFields } from '../src/audit/stream-entry.js';
import type { AuditEventInput, AuditEventType } from '../src/audit/types.js';
import { parsePolicy } from '../src/policy/load.js';
import { PolicyReplay, replayedEventTypes } from '../src/policy/replay.js';
import { createRedis, waitForRedis, type Redis } from '../src/state/redis.js';
import { canonicalJson } from '../src/util/canonical.js';
import { startRedisServer } from '../test/helpers/redis-server.js';

const { values } = parseArgs({
  options: { events: { type: 'string', default: '1000000' }, seconds: { type: 'string', default: '5' }, only: { type: 'string' } },
});
const onlyReplay = values.only === 'replay';
const totalEvents = Number(values.events);
const seconds = Number(values.seconds);
const rows: Array<[string, string, string]> = [];

async function main(): Promise<void> {
  const server = process.env['REDIS_URL'] ? undefined : await startRedisServer();
  const url = process.env['REDIS_URL'] ?? (server as { url: string }).url;
  const redis = await connect(url);
  try {
    if (!onlyReplay) {
      await appendThroughput(redis);
      await roundTrips(url, redis);
    }
    const prefix = `bench-${process.pid}-history:`;
    const { dayStart } = await seed(redis, prefix);
    const store = new AuditStore({ redis, prefix });
    if (!onlyReplay) {
      await queryOneAgentOneDay(store, dayStart);
      await exportAll(store, 'jsonl');
      await exportAll(store, 'csv');
      await verifyAll(store);
    }
    await replayAll(store);
  } finally {
    redis.disconnect();
    await server?.stop();
  }
  process.stdout.write(`\n| measure | value | note |\n|---|---|---|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`);
}

async function connect(url: string): Promise<Redis> {
  const redis = createRedis(url, { name: 'bench-audit', mode: 'fail-fast' });
  if (!(await waitForRedis(redis, 5_000))) throw new Error(`no Redis at ${url}`);
  return redis;
}

/** 64 concurrent writers for `seconds`: group commit puts concurrent appends in one script call. */
async function appendThroughput(redis: Redis): Promise<void> {
  const store = new AuditStore({ redis, prefix: `bench-${process.pid}-append:` });
  await store.start();
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1_000;
  const worker = async (w: number) => {
    for (let i = 0; performance.now() < deadline; i += 1) {
      const started = performance.now();
      await store.append(sampleEvent(w * 1_000_000 + i, Date.now()));
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: 64 }, (_, w) => worker(w)));
  const elapsedSec = (performance.now() - started) / 1_000;
  await store.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  rows.push(['appends/s, concurrency 64', fmt(latencies.length / elapsedSec), `${fmt(latencies.length)} appends in ${elapsedSec.toFixed(1)} s`]);
  rows.push(['append latency p50 / p99, concurrency 64', `${pct(0.5).toFixed(2)} / ${pct(0.99).toFixed(2)} ms`, 'from append() to stored']);
  const verified = await new AuditStore({ redis, prefix: `bench-${process.pid}-append:` }).verify();
  rows.push(['chain after the concurrent run', verified.ok ? `valid, ${fmt(verified.events)} events` : `BROKEN: ${verified.message}`, '']);
}

/** Concurrency 1: every command the client sends, and what Redis ran, per append. */
async function roundTrips(url: string, stats: Redis): Promise<void> {
  const redis = await connect(url);
  let sent = 0;
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (...args: Parameters<typeof send>) => {
    sent += 1;
    return send(...args);
  };
  const store = new AuditStore({ redis, prefix: `bench-${process.pid}-rtt:` });
  await store.start();
  await store.append(sampleEvent(0, Date.now())); // first call loads the script (EVALSHA → NOSCRIPT → EVAL) once
  const before = await commandStats(stats);
  sent = 0;
  const count = 2_000;
  const started = performance.now();
  for (let i = 0; i < count; i += 1) await store.append(sampleEvent(i, Date.now()));
  const elapsedMs = performance.now() - started;
  const after = await commandStats(stats);
  const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  rows.push([
    'round trips per append, concurrency 1',
    (sent / count).toFixed(2),
    `commands sent by the store's connection over ${fmt(count)} sequential appends`,
  ]);
  rows.push([
    'Redis commands per append (INFO commandstats)',
    `evalsha ${(delta('evalsha') / count).toFixed(2)}, xadd ${(delta('xadd') / count).toFixed(2)}`,
    'XADD runs inside the script',
  ]);
  rows.push(['append latency, concurrency 1', `${(elapsedMs / count).toFixed(3)} ms`, 'mean, local Redis']);
  await store.close();
  redis.disconnect();
}

async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const text = await redis.info('commandstats');
  const out = new Map<string, number>();
  for (const match of text.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) out.set(match[1] as string, Number(match[2])); // both groups are mandatory in the pattern
  return out;
}

/** N valid chained events spread over 30 days, written by pipelined XADDs with explicit ids. */
async function seed(redis: Redis, prefix: string): Promise<{ dayStart: number }> {
  const keys = auditKeys(prefix);
  const spanMs = 30 * 86_400_000;
  const start = Date.now() - spanMs;
  const stepMs = spanMs / totalEvents;
  let head: ChainHead = emptyHead;
  const began = performance.now();
  const batch = 5_000;
  for (let from = 0; from < totalEvents; from += batch) {
    const pipe = redis.pipeline();
    for (let i = from; i < Math.min(totalEvents, from + batch); i += 1) {
      const ms = Math.floor(start + i * stepMs);
      const content = contentOf({ ...sampleEvent(i, ms), time: new Date(ms).toISOString() });
      const seq = head.seq + 1;
      const hash = chainHash(canonicalJson(content), seq, head.hash);
      pipe.xadd(keys.stream, `${ms}-${i}`, ...encodeFields(content, seq, head.hash, hash));
      head = { seq, hash };
    }
    await pipe.exec();
  }
  await redis.set(keys.head, formatHead(head));
  const elapsedSec = (performance.now() - began) / 1_000;
  const memory = /used_memory_human:(\S+)/.exec(await redis.info('memory'))?.[1] ?? '?';
  rows.push(['seeded events (30 days)', fmt(totalEvents), `${fmt(totalEvents / elapsedSec)} events/s pipelined; Redis used_memory ${memory}`]);
  return { dayStart: start + 15 * 86_400_000 };
}

async function queryOneAgentOneDay(store: AuditStore, dayStart: number): Promise<void> {
  const filter = { agent: 'agent-07', since: dayStart, until: dayStart + 86_400_000 - 1 };
  const times: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    const started = performance.now();
    await store.query({ ...filter, limit: 50 });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  let pages = 0;
  let found = 0;
  let scanned = 0;
  let cursor: string | undefined;
  const started = performance.now();
  do {
    const page = await store.query({ ...filter, limit: 1_000, ...(cursor ? { cursor } : {}) });
    pages += 1;
    found += page.events.length;
    scanned += page.scanned;
    cursor = page.nextCursor;
  } while (cursor);
  const allMs = performance.now() - started;
  rows.push(['query: one agent, one day, first page of 50', `${(times[2] ?? 0).toFixed(1)} ms`, `median of 5, among ${fmt(totalEvents)} events`]);
  rows.push([
    'query: the whole day for that agent, paged by 1000',
    `${allMs.toFixed(0)} ms`,
    `${fmt(found)} events in ${pages} pages, ${fmt(scanned)} entries scanned`,
  ]);
}

async function exportAll(store: AuditStore, format: 'jsonl' | 'csv'): Promise<void> {
  global.gc?.();
  const base = process.memoryUsage();
  const samples: Array<{ at: number; rss: number; heap: number }> = [];
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    samples.push({ at: performance.now(), rss: now.rss, heap: now.heapUsed });
  }, 50);
  let bytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done();
    },
  });
  const started = performance.now();
  await pipeline(store.exportStream({ format }), sink);
  const ended = performance.now();
  clearInterval(sampler);
  const elapsedSec = (ended - started) / 1_000;
  const mb = (n: number) => `${(n / 1_048_576).toFixed(0)} MB`;
  const peak = (list: typeof samples, key: 'rss' | 'heap') => Math.max(0, ...list.map((s) => s[key]));
  // Flat memory: the second half of the export peaks no higher than the first.
  const middle = (started + ended) / 2;
  const [first, second] = [samples.filter((s) => s.at < middle), samples.filter((s) => s.at >= middle)];
  rows.push([`export ${format}: events/s`, fmt(totalEvents / elapsedSec), `${fmt(totalEvents)} events, ${mb(bytes)} in ${elapsedSec.toFixed(1)} s`]);
  rows.push([
    `export ${format}: peak RSS / heap used`,
    `${mb(peak(samples, 'rss'))} / ${mb(peak(samples, 'heap'))}`,
    `before: ${mb(base.rss)} / ${mb(base.heapUsed)}; heap peak 1st half ${mb(peak(first, 'heap'))}, 2nd half ${mb(peak(second, 'heap'))}`,
  ]);
}

async function verifyAll(store: AuditStore): Promise<void> {
  const started = performance.now();
  const result = await store.verify();
  const elapsedSec = (performance.now() - started) / 1_000;
  rows.push([
    'verify',
    result.ok ? `ok, ${fmt(result.events / elapsedSec)} events/s` : `BROKEN: ${result.message}`,
    `${fmt(result.events)} events in ${elapsedSec.toFixed(1)} s`,
  ]);
}

/** The candidate: prod runs of some tools held, one tool denied, a limit on another, a rule on a redacted path. */
const candidatePolicy = {
  version: '1',
  default: 'allow',
  tools: {
    tool_0: { action: 'deny', reason: 'retired' },
    tool_1: { limits: [{ counter: 't1', window: 'minute', max: 1 }] },
    'tool_*': {
      rules: [
        { when: { 'params.notebook_params.env': { eq: 'prod' }, 'params.job_id': { in: [100, 101, 102, 103] } }, action: 'approve' },
        { when: { 'params.notebook_params.token': { regex: '^tok_' } }, action: 'deny' },
      ],
    },
  },
};

/** Replays every call of the history under the candidate, as `airlock policy replay` does (same reader, same replay). */
async function replayAll(store: AuditStore): Promise<void> {
  const compiled = parsePolicy(candidatePolicy, 'candidate.json');
  if (!compiled.ok) throw new Error(`candidate policy: ${JSON.stringify(compiled.problems)}`);
  const readStarted = performance.now();
  let read = 0;
  for await (const chunk of store.calls({ types: replayedEventTypes })) read += chunk.length;
  const readSec = (performance.now() - readStarted) / 1_000;
  rows.push(['policy replay: reading the calls alone', `${fmt(read / readSec)} calls/s`, `${fmt(read)} call events decoded in ${readSec.toFixed(1)} s`]);
  const replay = new PolicyReplay(compiled.policy);
  let events = 0;
  const started = performance.now();
  for await (const chunk of store.calls({ types: replayedEventTypes })) {
    for (const event of chunk) replay.observe(event);
    events += chunk.length;
  }
  const elapsedSec = (performance.now() - started) / 1_000;
  const report = replay.report();
  rows.push([
    'policy replay',
    `${fmt(report.calls / elapsedSec)} calls/s`,
    `${fmt(report.calls)} calls of ${fmt(totalEvents)} events in ${elapsedSec.toFixed(1)} s; ${fmt(report.changed)} changed, ${fmt(report.uncertain)} uncertain`,
  ]);
  if (events !== report.calls) throw new Error(`read ${events} call events but replayed ${report.calls}`);
}

const types: AuditEventType[] = ['allowed', 'allowed', 'allowed', 'executed', 'executed', 'denied', 'rate_limited', 'approval_requested', 'approved'];

/** A realistic event: 20 agents, 10 tools, a run_job-shaped (already redacted) argument object. */
function sampleEvent(i: number, ms: number): AuditEventInput {
  const type = types[i % types.length] as AuditEventType; // index is within the array
  return {
    type,
    agent: `agent-${String(i % 20).padStart(2, '0')}`,
    session: `session-${i % 1_000}`,
    upstream: 'databricks',
    tool: `tool_${i % 10}`,
    arguments: {
      params: { job_id: 100 + (i % 50), notebook_params: { env: i % 2 ? 'prod' : 'dev', date: new Date(ms).toISOString().slice(0, 10), token: '[redacted]' } },
    },
    argumentsHash: `sha256:${(i * 2_654_435_761).toString(16).padStart(64, '0').slice(-64)}`,
    policyVersion: 'sha256:policy-v1',
    rule: `tools.tool_${i % 10}`,
    ...(type === 'executed' ? { outcome: 'success' as const, latency: { upstreamMs: 40 + (i % 60), totalMs: 45 + (i % 60) } } : {}),
    ...(type === 'approved' ? { approvalId: `appr-${i}`, actor: { kind: 'slack' as const, id: 'U0APPROVER1' } } : {}),
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
