/**
 * Bad input at the front door: each gets a specific error, nothing is forwarded, and the gateway
 * keeps serving the next request.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { createCallLog, databricksMockStdio, startDatabricksMockHttp } from './helpers/upstreams.js';

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
const accept = 'application/json, text/event-stream';

describe('the /mcp front door', () => {
  const callLog = createCallLog();
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway({ mcpServers: { databricks: databricksMockStdio({ callLog, delayMs: 0 }) } });
  });
  afterAll(() => gw.close());

  const post = (body: unknown, token: string | null = gw.tokens['agent-a'] ?? null, sessionId?: string) => {
    let req = request(gw.gateway.handler).post('/mcp').set('accept', accept).set('content-type', 'application/json');
    if (token !== null) req = req.set('authorization', `Bearer ${token}`);
    if (sessionId !== undefined) req = req.set('mcp-session-id', sessionId);
    return req.send(typeof body === 'string' ? body : JSON.stringify(body));
  };

  async function openSession(): Promise<string> {
    const res = await post(initialize);
    expect(res.status).toBe(200);
    const id = res.headers['mcp-session-id'];
    expect(typeof id).toBe('string');
    await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, gw.tokens['agent-a'] ?? null, id);
    return id as string;
  }

  it('answers a request without a token with 401 and a JSON-RPC error body', async () => {
    const res = await post(initialize, null);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(res.body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32011, data: { code: 'unauthorized' } } });
    expect(res.body.error.message).toMatch(/Authorization: Bearer/);
  });

  it('answers an unknown token with 401 and a body that says the token is not known', async () => {
    const res = await post(initialize, 'alk_wrong');
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/Unknown or revoked token/);
  });

  it('answers malformed JSON with a JSON-RPC parse error (-32700)', async () => {
    const res = await post('{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(-32700);
    expect(res.body.error.message).toMatch(/Malformed JSON/);
  });

  it('refuses a JSON-RPC batch with a message saying MCP removed batching', async () => {
    const res = await post([initialize, { ...initialize, id: 2 }]);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(-32600);
    expect(res.body.error.message).toMatch(/batches are not supported/);
  });

  it('refuses a 10 MB body with 413 and the configured limit', async () => {
    const huge = { ...initialize, params: { ...initialize.params, padding: 'x'.repeat(10 * 1024 * 1024) } };
    const res = await post(huge);
    expect(res.status).toBe(413);
    expect(res.body.error.message).toMatch(/limit is 4mb/);
  });

  it('answers an unknown method with JSON-RPC "method not found"', async () => {
    const session = await openSession();
    const res = await post({ jsonrpc: '2.0', id: 7, method: 'tools/destroy', params: {} }, gw.tokens['agent-a'] ?? null, session);
    expect(res.text).toContain('-32601');
  });

  it('asks for initialize first when a request has no session', async () => {
    const res = await post({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ id: 3, error: { message: expect.stringMatching(/initialize/) } });
  });

  it('answers an unknown session id with 404, so clients re-initialize', async () => {
    const res = await post({ jsonrpc: '2.0', id: 4, method: 'tools/list' }, gw.tokens['agent-a'] ?? null, 'no-such-session');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe(-32001);
  });

  it("refuses another agent's token on a session it did not open", async () => {
    const session = await openSession();
    const res = await post({ jsonrpc: '2.0', id: 5, method: 'tools/list' }, gw.tokens['agent-b'] ?? null, session);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/belongs to another agent/);
  });

  it('still serves a normal call after all of the above, and forwarded none of them', async () => {
    expect(callLog.calls()).toHaveLength(0);
    const client = await gw.connect('agent-a');
    const result = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
    expect(textOf(result)).toContain('daily-ingest');
    expect(callLog.calls()).toHaveLength(1);
  });

  it('reports liveness and readiness', async () => {
    expect((await request(gw.gateway.app).get('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await request(gw.gateway.app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, redis: 'ok', upstreams: [{ name: 'databricks', state: 'connected', tools: 11 }] });
  });
});

for (const session of ['shared', 'per-agent'] as const) {
  describe(`a ${session} stdio upstream that dies`, () => {
    const callLog = createCallLog();
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startTestGateway({ mcpServers: { databricks: { ...databricksMockStdio({ callLog, delayMs: 1_500 }), session } } });
    });
    afterAll(() => gw.close());

    it('turns a child killed mid-call into a specific error and serves the next call from a new child', async () => {
      const client = await gw.connect('agent-a');
      const pending = client.callTool({ name: 'run_job', arguments: { params: { job_id: 101 } } });
      await waitFor(() => callLog.calls().length === 1);
      const pid = callLog.calls()[0]?.pid;
      expect(pid).toBeTypeOf('number');
      // shared: the one child is the gateway's own; per-agent: the child is this session's alone.
      if (session === 'shared') expect(pid).toBe(gw.gateway.pool.get('databricks')?.pid);
      else expect(pid).not.toBe(gw.gateway.pool.get('databricks')?.pid);
      process.kill(pid as number, 'SIGKILL');
      const result = await pending;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/exited on SIGKILL during tools\/call; the call may or may not have run/);
      expect(result._meta?.['airlock/error']).toMatchObject({ code: 'upstream_failed', upstream: 'databricks' });

      if (session === 'shared') await waitFor(() => gw.gateway.pool.get('databricks')?.state === 'connected', 15_000);
      const after = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
      expect(callLog.calls().at(-1)?.pid).not.toBe(pid);
      expect(after.isError).toBeFalsy();
      expect(textOf(after)).toContain('daily-ingest');
    });

    it('passes a client cancellation on to the upstream call', async () => {
      const client = await gw.connect('agent-a');
      const controller = new AbortController();
      const pending = client.callTool({ name: 'run_job', arguments: { params: { job_id: 102 } } }, undefined, { signal: controller.signal });
      const before = callLog.calls().length;
      await waitFor(() => callLog.calls().length === before + 1);
      controller.abort();
      await expect(pending).rejects.toThrow();
      // The mock saw notifications/cancelled for its call, well before its 1.5 s delay ran out.
      await waitFor(() => callLog.cancellations().some((c) => c.tool === 'run_job'), 1_000);
      await waitFor(() => gw.gateway.httpFront.inflightCount === 0 && gw.gateway.pipeline.inflightCount === 0, 1_000);
    });
  });
}

describe('an HTTP upstream that goes away and comes back', () => {
  it('answers calls during the outage at once with a retry hint, reports it in /readyz, and recovers by itself', async () => {
    const upstream = await startDatabricksMockHttp();
    const port = Number(new URL(upstream.url).port);
    const gw = await startTestGateway({ mcpServers: { databricks: { url: upstream.url } } });
    try {
      const client = await gw.connect('agent-a');
      expect((await client.callTool({ name: 'list_jobs', arguments: { params: {} } })).isError).toBeFalsy();
      await upstream.stop();

      const started = Date.now();
      const during = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(during.isError).toBe(true);
      expect(textOf(during)).toMatch(/Upstream "databricks" could not be reached|not connected/);
      expect((during._meta?.['airlock/error'] as { retryAfterSec?: number }).retryAfterSec).toBeGreaterThan(0);
      const ready = await request(gw.gateway.app).get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.notReady.join(' ')).toMatch(/upstream databricks/);

      const again = await startDatabricksMockHttp({ port });
      try {
        await waitFor(() => gw.gateway.pool.get('databricks')?.state === 'connected', 20_000);
        const after = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
        expect(textOf(after)).toContain('daily-ingest');
        expect((await request(gw.gateway.app).get('/readyz')).status).toBe(200);
      } finally {
        await again.stop();
      }
    } finally {
      await gw.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
