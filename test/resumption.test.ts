/**
 * Streamable HTTP resumability (http.resumption): a held call's stream is stored in Redis as it is
 * sent, so an agent whose connection drops reconnects with GET + Last-Event-ID and still gets the
 * decision's result; a session opened on one replica is carried on by another that shares Redis.
 * Spoken as raw HTTP, to see the wire: event ids, the priming event, what is replayed.
 */
import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { adminApi } from './helpers/admin-api.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { createCallLog, databricksMockStdio, everythingStdio, type CallLog } from './helpers/upstreams.js';

const holdRunJob = {
  version: '1',
  default: 'allow',
  tools: { run_job: { action: 'approve', approval: { approvers: ['U0APPROVER1'], timeout: '60s' } } },
};
const runJob = { name: 'run_job', arguments: { params: { job_id: 123, notebook_params: { date: '2026-11-28' } } } };

const gateways: TestGateway[] = [];
const processes: GatewayProcess[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  await Promise.all(processes.splice(0).map((p) => p.kill()));
});

/** A gateway; `peer`: a second replica of it (same Redis prefix, same agent tokens). */
async function gateway(callLog: CallLog, peer?: TestGateway): Promise<TestGateway> {
  const gw = await startTestGateway({
    mcpServers: { databricks: databricksMockStdio({ callLog }) },
    policy: holdRunJob,
    config: { approvals: { progressInterval: '200ms' }, http: { resumption: { resumeGrace: '20s' } } },
    ...(peer ? { prefix: peer.prefix, tokens: peer.tokens } : {}),
  });
  gateways.push(gw);
  return gw;
}

/** A raw Streamable HTTP client: one agent session, requests by hand. */
class RawSession {
  sessionId = '';
  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      authorization: `Bearer ${this.token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      ...(this.sessionId ? { 'mcp-session-id': this.sessionId } : {}),
      ...extra,
    };
  }

  async initialize(): Promise<void> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });
    expect(res.status).toBe(200);
    this.sessionId = res.headers.get('mcp-session-id') ?? '';
    await res.text();
  }

  post(id: number, method: string, params: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
    return fetch(this.url, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
      ...(signal ? { signal } : {}),
    });
  }

  resume(lastEventId: string, signal?: AbortSignal): Promise<Response> {
    return fetch(this.url, {
      method: 'GET',
      headers: this.headers({ accept: 'text/event-stream', 'last-event-id': lastEventId }),
      ...(signal ? { signal } : {}),
    });
  }
}

/** Reads SSE events from a response until `until` says stop (or the stream ends). */
async function readEvents(res: Response, until: (event: EventSourceMessage) => boolean): Promise<EventSourceMessage[]> {
  const events: EventSourceMessage[] = [];
  let done = false;
  const parser = createParser({
    onEvent: (event) => {
      if (done) return;
      events.push(event);
      if (until(event)) done = true;
    },
  });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  while (!done) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  await reader.cancel().catch(() => undefined);
  return events;
}

const isAnswer = (event: EventSourceMessage) => event.data !== '' && 'result' in (JSON.parse(event.data) as object);
const answerOf = (events: EventSourceMessage[]) => {
  const found = events.filter(isAnswer);
  expect(found).toHaveLength(1);
  return JSON.parse(found[0]?.data ?? '{}') as { id: number; result: { content: Array<{ text: string }>; isError?: boolean } };
};

describe('a held call whose connection drops (one replica)', () => {
  it('keeps running; the agent resumes with Last-Event-ID and gets the result of the approval given while it was away, once', async () => {
    const callLog = createCallLog();
    const gw = await gateway(callLog);
    const api = adminApi(gw.baseUrl);
    const raw = new RawSession(gw.mcpUrl, gw.tokens['agent-a'] ?? '');
    await raw.initialize();

    const connection = new AbortController();
    const res = await raw.post(1, 'tools/call', { ...runJob, _meta: { progressToken: 'p1' } }, connection.signal);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    // The priming event (an id, a retry hint, no data), then progress, each with an id.
    const seen = await readEvents(res, (e) => e.data !== '' && e.id !== undefined);
    expect(seen[0]).toMatchObject({ data: '', id: expect.stringMatching(/^[\w-]+\/\d+-\d+$/) });
    const lastId = seen.at(-1)?.id ?? '';
    connection.abort();

    const [held] = await api.waitForPending(1, 10_000);
    await new Promise((r) => setTimeout(r, 500)); // the agent is away while the approver decides
    expect((await api.approve(held?.id ?? '')).status).toBe(200);
    await expect.poll(() => callLog.calls().filter((c) => c.tool === 'run_job').length, { timeout: 10_000 }).toBe(1);

    const resumed = await raw.resume(lastId);
    expect(resumed.status).toBe(200);
    const events = await readEvents(resumed, isAnswer);
    const answer = answerOf(events);
    expect(answer.id).toBe(1);
    expect(JSON.parse(answer.result.content[0]?.text ?? '{}')).toHaveProperty('run_id');
    // What it missed came first, oldest first, and nothing it had already seen.
    // (An ended stream's replay opens with the id resumed from, without data, so a client that hears
    // nothing new keeps its place.)
    const messages = events.filter((e) => e.data !== '');
    expect(messages.map((e) => e.id)).not.toContain(lastId);
    const ids = messages.map((e) => e.id ?? '');
    expect([...ids].sort((a, b) => Number(a.split('/')[1]?.split('-')[0]) - Number(b.split('/')[1]?.split('-')[0]))).toEqual(ids);

    // Resuming again from the same point replays the same answer from the store; nothing runs again.
    const again = answerOf(await readEvents(await raw.resume(lastId), isAnswer));
    expect(again).toEqual(answer);
    expect(callLog.calls().filter((c) => c.tool === 'run_job')).toHaveLength(1);
  });

  it('is withdrawn when nobody resumes it within the grace', async () => {
    const callLog = createCallLog();
    const gw = await startTestGateway({
      mcpServers: { databricks: databricksMockStdio({ callLog }) },
      policy: holdRunJob,
      config: { approvals: { progressInterval: '200ms' }, http: { resumption: { resumeGrace: '1s' } } },
    });
    gateways.push(gw);
    const api = adminApi(gw.baseUrl);
    const raw = new RawSession(gw.mcpUrl, gw.tokens['agent-a'] ?? '');
    await raw.initialize();
    const connection = new AbortController();
    const res = await raw.post(1, 'tools/call', { ...runJob, _meta: { progressToken: 'p1' } }, connection.signal);
    await readEvents(res, (e) => e.id !== undefined);
    const [held] = await api.waitForPending(1, 10_000);
    connection.abort();
    await expect
      .poll(async () => (await api.get<{ approval: { status: string } }>(`/approvals/${held?.id}`)).body.approval.status, { timeout: 10_000 })
      .toBe('withdrawn');
  });
});

describe("a session's state in Redis", () => {
  it('keeps at most maxEventsPerSession events, expires with the session idle timeout, and stores nothing for a call answered as JSON', async () => {
    const callLog = createCallLog();
    const gw = await startTestGateway({
      mcpServers: { databricks: databricksMockStdio({ callLog }) },
      policy: holdRunJob,
      config: { approvals: { progressInterval: '50ms' }, http: { sessionIdleTimeout: '5m', resumption: { maxEventsPerSession: 10 } } },
    });
    gateways.push(gw);
    const redis = new Redis(inject('redisUrl'));
    try {
      const keysOf = (session: string) => {
        const base = `${gw.prefix}mcp-session:${session}`;
        return { meta: base, held: `${base}:held`, events: `${base}:events` };
      };

      // An allowed call answered as plain JSON: the session is kept, its event store stays empty.
      const plain = new RawSession(gw.mcpUrl, gw.tokens['agent-a'] ?? '');
      await plain.initialize();
      const listed = await plain.post(1, 'tools/call', { name: 'list_jobs', arguments: { params: {} } });
      expect(listed.headers.get('content-type')).toMatch(/application\/json/);
      await listed.text();
      expect(await redis.exists(keysOf(plain.sessionId).meta)).toBe(1);
      expect(await redis.exists(keysOf(plain.sessionId).events)).toBe(0);

      // A held call streaming progress every 50 ms: far more than 10 events, at most 10 kept.
      const raw = new RawSession(gw.mcpUrl, gw.tokens['agent-a'] ?? '');
      await raw.initialize();
      const res = await raw.post(2, 'tools/call', { ...runJob, _meta: { progressToken: 'many' } });
      const seen = await readEvents(res, (e) => e.data !== '' && Number((JSON.parse(e.data) as { params?: { progress?: number } }).params?.progress) > 1.5);
      expect(seen.filter((e) => e.data !== '').length).toBeGreaterThan(10);
      const keys = keysOf(raw.sessionId);
      expect(await redis.xlen(keys.events)).toBeLessThanOrEqual(10);
      for (const key of [keys.meta, keys.held, keys.events]) {
        const ttl = await redis.pttl(key);
        expect(ttl, key).toBeGreaterThan(0);
        expect(ttl, key).toBeLessThanOrEqual(5 * 60_000);
      }
    } finally {
      redis.disconnect();
    }
  });
});

describe('the session stream (GET /mcp)', () => {
  it('stores what it sends; a client that reconnects with Last-Event-ID gets what was sent while it was away', async () => {
    const gw = await gateway(createCallLog());
    const raw = new RawSession(gw.mcpUrl, gw.tokens['agent-a'] ?? '');
    await raw.initialize();
    const reload = async (timeout: string) => {
      writeFileSync(
        gw.policyFile,
        JSON.stringify({ ...holdRunJob, tools: { run_job: { ...holdRunJob.tools.run_job, approval: { ...holdRunJob.tools.run_job.approval, timeout } } } }),
      );
      expect((await adminApi(gw.baseUrl).post('/policy/reload')).status).toBe(200);
    };
    const listening = new AbortController();
    const stream = await fetch(gw.mcpUrl, { headers: raw.headers({ accept: 'text/event-stream' }), signal: listening.signal });
    expect(stream.status).toBe(200);
    const first = readEvents(stream, (e) => e.data !== '');
    await reload('61s');
    const [changed] = await first;
    expect(JSON.parse(changed?.data ?? '{}')).toMatchObject({ method: 'notifications/tools/list_changed' });
    listening.abort();

    await new Promise((r) => setTimeout(r, 200)); // the gateway notices the client is gone
    await reload('62s'); // sent while the client is away

    const resumed = await raw.resume(changed?.id ?? '');
    const missed = await readEvents(resumed, (e) => e.data !== '');
    expect(missed).toHaveLength(1);
    expect(missed[0]?.id).not.toBe(changed?.id);
    expect(JSON.parse(missed[0]?.data ?? '{}')).toMatchObject({ method: 'notifications/tools/list_changed' });
  });
});

describe('a session opened on one replica', () => {
  it('is carried on by another replica sharing Redis: its tools, its held call (resumed there, decided there), but not by another agent', async () => {
    const callLog = createCallLog();
    const a = await gateway(callLog);
    const b = await gateway(callLog, a);
    const raw = new RawSession(a.mcpUrl, a.tokens['agent-a'] ?? '');
    await raw.initialize();

    const connection = new AbortController();
    const res = await raw.post(7, 'tools/call', { ...runJob, _meta: { progressToken: 'p7' } }, connection.signal);
    const seen = await readEvents(res, (e) => e.data !== '');
    connection.abort();
    const [held] = await adminApi(a.baseUrl).waitForPending(1, 10_000);

    // Another agent's token cannot ride on the session, on a replica that has never seen it.
    const intruder = new RawSession(b.mcpUrl, b.tokens['agent-b'] ?? '');
    intruder.sessionId = raw.sessionId;
    const refused = await intruder.post(1, 'tools/list', {});
    expect(refused.status).toBe(403);

    // The agent goes on at replica B (its load balancer moved it): same session id.
    const onB = new RawSession(b.mcpUrl, a.tokens['agent-a'] ?? '');
    onB.sessionId = raw.sessionId;
    const listed = await onB.post(2, 'tools/list', {});
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { result: { tools: Array<{ name: string }> } }).result.tools.map((t) => t.name)).toContain('run_job');

    const resumed = onB.resume(seen.at(-1)?.id ?? '');
    expect((await adminApi(b.baseUrl).approve(held?.id ?? '')).status).toBe(200);
    const answer = answerOf(await readEvents(await resumed, isAnswer));
    expect(answer.id).toBe(7);
    expect(JSON.parse(answer.result.content[0]?.text ?? '{}')).toHaveProperty('run_id');
    expect(callLog.calls().filter((c) => c.tool === 'run_job')).toHaveLength(1);

    // A session nobody opened is still unknown everywhere.
    const stranger = new RawSession(b.mcpUrl, a.tokens['agent-a'] ?? '');
    stranger.sessionId = '00000000-0000-4000-8000-000000000000';
    expect((await stranger.post(3, 'tools/list', {})).status).toBe(404);
  });
});

describe('a held call handed over by a replica that shut down, decided before its agent resumes', () => {
  it('is answered on the resume that takes the session over, even when the release finishes during the replay', async () => {
    const callLog = createCallLog();
    const b = await gateway(callLog);
    for (let round = 0; round < 5; round++) {
      const a = await startTestGateway({
        mcpServers: { databricks: databricksMockStdio({ callLog }) },
        policy: holdRunJob,
        prefix: b.prefix,
        tokens: b.tokens,
        config: { approvals: { progressInterval: '200ms' }, http: { resumption: { handOverOnShutdown: true } } },
      });
      const raw = new RawSession(a.mcpUrl, a.tokens['agent-a'] ?? '');
      await raw.initialize();
      const jobArgs = { ...runJob, arguments: { params: { job_id: 123, notebook_params: { round: String(round) } } } };
      const res = await raw.post(10 + round, 'tools/call', { ...jobArgs, _meta: { progressToken: `r${round}` } });
      const seen = await readEvents(res, (e) => e.data !== '');
      const pending = await adminApi(b.baseUrl).waitForPending(1, 10_000);
      await a.close(); // leaves the held call to another replica: its stream ends unanswered
      // Decided first; then the agent's resume is the first B hears of the session: B takes it over,
      // its re-dispatched call releases at once, racing the replay of what the agent missed.
      expect((await adminApi(b.baseUrl).approve(pending[0]?.id ?? '')).status).toBe(200);
      const onB = new RawSession(b.mcpUrl, a.tokens['agent-a'] ?? '');
      onB.sessionId = raw.sessionId;
      const answer = answerOf(await readEvents(await onB.resume(seen.at(-1)?.id ?? ''), isAnswer));
      expect(answer.id).toBe(10 + round);
      expect(JSON.parse(answer.result.content[0]?.text ?? '{}')).toHaveProperty('run_id');
    }
    expect(callLog.calls().filter((c) => c.tool === 'run_job')).toHaveLength(5);
  });
});

describe('a streamed call that was not held, whose replica dies', () => {
  it('is answered upstream_failed when the agent resumes it on another replica: may or may not have run', async () => {
    const prefix = `test-${crypto.randomUUID()}:`;
    const start = (tokens?: Record<string, string>) =>
      startGatewayProcess({
        redisUrl: inject('redisUrl'),
        prefix,
        mcpServers: { everything: everythingStdio() },
        policy: { version: '1', default: 'allow' },
        ...(tokens ? { tokens } : {}),
      });
    const a = await start();
    processes.push(a);
    const b = await start(a.tokens);
    processes.push(b);
    const raw = new RawSession(`${a.baseUrl}/mcp`, a.tokens['agent-a'] ?? '');
    await raw.initialize();
    const res = await raw.post(5, 'tools/call', {
      name: 'trigger-long-running-operation',
      arguments: { duration: 30, steps: 30 },
      _meta: { progressToken: 'lr' },
    });
    const seen = await readEvents(res, (e) => e.data !== '');
    expect(JSON.parse(seen.at(-1)?.data ?? '{}')).toMatchObject({ method: 'notifications/progress' });
    await a.kill();

    const onB = new RawSession(`${b.baseUrl}/mcp`, a.tokens['agent-a'] ?? '');
    onB.sessionId = raw.sessionId;
    const events = await readEvents(await onB.resume(seen.at(-1)?.id ?? ''), (e) => e.data !== '' && 'error' in (JSON.parse(e.data) as object));
    const answer = JSON.parse(events.at(-1)?.data ?? '{}') as { id: number; error: { message: string; data: { code: string } } };
    expect(answer).toMatchObject({ id: 5, error: { data: { code: 'upstream_failed' } } });
    expect(answer.error.message).toMatch(/stopped before it finished.*may or may not have reached the upstream/);
  }, 60_000);
});
