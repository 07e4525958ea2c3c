/**
 * The audit history's operator surfaces: the REST router on a bare express app (supertest) and
 * `airlock audit …` run in-process against a temp config, both over a real Redis.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import express from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { csvColumns } from '../src/audit/csv.js';
import type { AuditEvent } from '../src/audit/types.js';
import { runAuditCommand } from '../src/cli/audit.js';
import { auditRouter } from '../src/http/api/audit-router.js';
import { nth, openTestStore, parseJsonLines, readAll, rewriteStream, sampleEvent, setField, type TestStore } from './helpers/audit.js';
import { testPrefix } from './helpers/approvals.js';

const adminToken = 'test-admin-token';
let handle: TestStore;
let prefix: string;

beforeEach(async () => {
  prefix = testPrefix();
  handle = await openTestStore(prefix);
  const { store } = handle;
  await store.append(sampleEvent('allowed', { agent: 'agent-a', tool: 'list_jobs' }));
  await store.append(sampleEvent('denied', { agent: 'agent-b', tool: 'delete_job', reason: 'denied by rule, "delete" is never allowed' }));
  await store.append(sampleEvent('approval_requested', { approvalId: 'appr-1' }));
  await store.append(
    sampleEvent('approved', { approvalId: 'appr-1', actor: { kind: 'slack', id: 'U0APPROVER1', name: 'alice' }, latency: { decisionMs: 3_000 } }),
  );
  await store.append(sampleEvent('executed', { approvalId: 'appr-1', outcome: 'success', latency: { upstreamMs: 80, totalMs: 3_100 } }));
});
afterEach(async () => {
  await handle.close();
});

function app() {
  const server = express();
  server.use('/api/audit', auditRouter(handle.store, adminToken));
  return server;
}
const auth = { Authorization: `Bearer ${adminToken}` };

describe('GET /api/audit', () => {
  it('answers 401 with a JSON body without the admin token', async () => {
    const res = await request(app()).get('/api/audit');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
    expect((await request(app()).get('/api/audit/export').set('Authorization', 'Bearer wrong')).status).toBe(401);
  });

  it('filters by agent, type and relative time, newest first, with a cursor for the next page', async () => {
    const res = await request(app()).get('/api/audit').query({ agent: 'agent-a', since: '1h', limit: 2 }).set(auth);
    expect(res.status).toBe(200);
    expect(res.body.events.map((e: AuditEvent) => e.type)).toEqual(['executed', 'approved']);
    const next = await request(app()).get('/api/audit').query({ agent: 'agent-a', cursor: res.body.nextCursor, limit: 2 }).set(auth);
    expect(next.body.events.map((e: AuditEvent) => e.type)).toEqual(['approval_requested', 'allowed']);
    const byType = await request(app()).get('/api/audit').query({ type: 'denied,executed' }).set(auth);
    expect(byType.body.events.map((e: AuditEvent) => e.type)).toEqual(['executed', 'denied']);
  });

  it('answers 400 for a bad filter, naming it', async () => {
    for (const query of [{ type: 'exploded' }, { since: 'yesterday' }, { limit: '0' }, { cursor: 'abc' }, { color: 'red' }]) {
      const res = await request(app()).get('/api/audit').query(query).set(auth);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
  });

  it('streams a CSV export as an attachment', async () => {
    const res = await request(app())
      .get('/api/audit/export')
      .query({ format: 'csv' })
      .set(auth)
      .buffer(true)
      .parse((r, done) => {
        let text = '';
        r.on('data', (chunk: Buffer) => (text += chunk.toString()));
        r.on('end', () => done(null, text));
      });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="airlock-audit-.*\.csv"$/);
    const text = String(res.body);
    expect(text.startsWith(`${csvColumns.join(',')}\r\n`)).toBe(true);
    expect(text.split('\r\n').filter(Boolean)).toHaveLength(6);
    expect(text).toContain('"denied by rule, ""delete"" is never allowed"');
  });

  it('streams a JSONL export filtered by agent', async () => {
    const res = await request(app()).get('/api/audit/export').query({ agent: 'agent-b' }).set(auth);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    expect(parseJsonLines(res.text).map((e) => e.type)).toEqual(['denied']);
  });

  it('verifies the chain, and reports the first broken link after tampering', async () => {
    expect((await request(app()).get('/api/audit/verify').set(auth)).body).toMatchObject({ ok: true, events: 5 });
    await rewriteStream(handle.redis, handle.store.keys.stream, (all) => {
      setField(nth(all, 1)[1], 'reason', 'allowed after all');
      return all;
    });
    expect((await request(app()).get('/api/audit/verify').set(auth)).body).toMatchObject({ ok: false, seq: 2, problem: 'edited' });
  });

  it('tells one held call’s story, and 404 for an unknown one', async () => {
    const res = await request(app()).get('/api/audit/approvals/appr-1').set(auth);
    expect(res.body.events.map((e: AuditEvent) => e.type)).toEqual(['approval_requested', 'approved', 'executed']);
    expect((await request(app()).get('/api/audit/approvals/nope').set(auth)).status).toBe(404);
  });
});

describe('airlock audit', () => {
  function configFile(): string {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-audit-cli-')), 'airlock.config.json');
    writeFileSync(file, JSON.stringify({ redis: { url: inject('redisUrl'), prefix }, mcpServers: { databricks: { command: 'node' } } }));
    return file;
  }
  async function airlock(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await runAuditCommand([...args, '--config', configFile()], { stdout, stderr });
    return { code, stdout: out, stderr: err };
  }

  it('list prints a readable table, filtered', async () => {
    const run = await airlock(['list', '--type', 'denied,approved']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+TYPE\s+AGENT\s+TOOL\s+ACTOR\s+APPROVAL\s+DETAIL$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[1])).toEqual(['approved', 'denied']);
    expect(run.stdout).toContain('by slack:U0APPROVER1');
  });

  it('list --json prints the page', async () => {
    const run = await airlock(['list', '--json', '--limit', '2']);
    const page = JSON.parse(run.stdout) as { events: AuditEvent[]; nextCursor?: string };
    expect(page.events).toHaveLength(2);
    expect(page.nextCursor).toMatch(/^\d+-\d+$/);
  });

  it('export writes JSONL to stdout and CSV to a file', async () => {
    const jsonl = await airlock(['export']);
    expect(parseJsonLines(jsonl.stdout).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-export-')), 'audit.csv');
    const csv = await airlock(['export', '--format', 'csv', '--out', out, '--since', '1h']);
    expect(csv.code).toBe(0);
    expect(readFileSync(out, 'utf8').split('\r\n')[0]).toBe(csvColumns.join(','));
  });

  it('verify exits 0 on a sound chain and 1 on a broken one, printing the first broken link', async () => {
    const ok = await airlock(['verify']);
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toMatch(/audit chain ok: 5 events, seq 1–5/);
    const third = nth(await readAll(handle.redis, handle.store.keys.stream), 2);
    await handle.redis.xdel(handle.store.keys.stream, third[0]);
    const broken = await airlock(['verify']);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/audit chain BROKEN at \d+-\d+ \(seq 4\): deleted: event seq 3 is missing/);
  });

  it('show tells the story of one approval: requested, decision, execution', async () => {
    const run = await airlock(['show', 'appr-1']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^approval appr-1: run_job by agent agent-a on databricks/);
    const kinds = run.stdout
      .split('\n')
      .filter((l) => /^\s+\d{4}-/.test(l))
      .map((l) => l.trim().split(/\s+/)[1]);
    expect(kinds).toEqual(['approval_requested', 'approved', 'executed']);
    expect(run.stdout).toMatch(/approved\s+by slack:U0APPROVER1, decision 3 s/);
    expect((await airlock(['show', 'nope'])).code).toBe(1);
  });

  it('rejects bad flags as usage errors', async () => {
    await expect(airlock(['list', '--since', 'last tuesday'])).rejects.toThrow(/--since must be/);
    await expect(airlock(['export', '--format', 'xml'])).rejects.toThrow(/--format must be jsonl or csv/);
    await expect(airlock(['frobnicate'])).rejects.toThrow(/usage: airlock audit/);
  });
});
