/**
 * Open MCP sessions are bounded: per agent (`http.maxSessionsPerAgent`, refused with 429) and in
 * total (`http.maxSessions`, 503), each refusal a JSON-RPC body naming the limit; ending a session
 * or letting it idle past `http.sessionIdleTimeout` frees its place. Raw Streamable HTTP against
 * a real gateway, as a client opening sessions in a loop would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SessionLimits } from '../src/identity/session-limits.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { databricksMockStdio } from './helpers/upstreams.js';

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(http: Record<string, unknown>): Promise<TestGateway> {
  const gw = await startTestGateway({ mcpServers: { databricks: databricksMockStdio() }, config: { http } });
  gateways.push(gw);
  return gw;
}

const initialize = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

interface Opened {
  status: number;
  session: string | null;
  retryAfter: string | null;
  body: { error?: { code: number; message: string; data: { code: string } } };
}

async function open(gw: TestGateway, agent: string): Promise<Opened> {
  const res = await fetch(gw.mcpUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.tokens[agent]}`, accept: 'application/json, text/event-stream', 'content-type': 'application/json' },
    body: initialize,
  });
  const text = await res.text();
  const body = (res.status === 200 ? {} : JSON.parse(text)) as Opened['body']; // refusals are JSON-RPC error bodies
  return { status: res.status, session: res.headers.get('mcp-session-id'), retryAfter: res.headers.get('retry-after'), body };
}

async function end(gw: TestGateway, agent: string, session: string): Promise<number> {
  const res = await fetch(gw.mcpUrl, { method: 'DELETE', headers: { authorization: `Bearer ${gw.tokens[agent]}`, 'mcp-session-id': session } });
  await res.text();
  return res.status;
}

describe('session limits through the gateway', () => {
  it("refuses an agent's session over http.maxSessionsPerAgent with 429, and the replica's over http.maxSessions with 503, each naming its limit", async () => {
    const gw = await gateway({ maxSessionsPerAgent: 3, maxSessions: 5 });
    const mine = [await open(gw, 'agent-a'), await open(gw, 'agent-a'), await open(gw, 'agent-a')];
    expect(mine.map((o) => o.status)).toEqual([200, 200, 200]);

    const fourth = await open(gw, 'agent-a');
    expect(fourth.status).toBe(429);
    expect(fourth.session).toBeNull();
    expect(fourth.retryAfter).toBe('30');
    expect(fourth.body.error?.data.code).toBe('too_many_sessions');
    expect(fourth.body.error?.message).toContain('http.maxSessionsPerAgent = 3');

    expect((await open(gw, 'agent-b')).status).toBe(200);
    expect((await open(gw, 'agent-b')).status).toBe(200);
    const full = await open(gw, 'agent-b');
    expect(full.status).toBe(503);
    expect(full.body.error?.data.code).toBe('session_capacity');
    expect(full.body.error?.message).toContain('http.maxSessions = 5');

    // Ending a session frees its place.
    expect(await end(gw, 'agent-a', mine[0]?.session ?? '')).toBe(200);
    expect((await open(gw, 'agent-a')).status).toBe(200);
    expect(gw.gateway.sessionLimits.count()).toBe(5);
  });

  it('closes a session idle past http.sessionIdleTimeout, which frees its place', async () => {
    const gw = await gateway({ maxSessionsPerAgent: 1, sessionIdleTimeout: '1s' });
    const first = await open(gw, 'agent-a');
    expect(first.status).toBe(200);
    expect((await open(gw, 'agent-a')).status).toBe(429);
    // The sweep runs every second; give it generous time on a busy machine.
    const deadline = Date.now() + 20_000;
    while (gw.gateway.sessionLimits.count('agent-a') > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const reused = await fetch(gw.mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${gw.tokens['agent-a']}`,
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
        'mcp-session-id': first.session ?? '',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }),
    });
    expect(reused.status).toBe(404);
    expect((await open(gw, 'agent-a')).status).toBe(200);
  }, 40_000);
});

describe('SessionLimits', () => {
  it('counts sessions in and out per agent and never below zero', () => {
    const limits = new SessionLimits({ maxSessionsPerAgent: 2, maxSessions: 3 });
    expect(limits.tryOpen('a').ok).toBe(true);
    expect(limits.tryOpen('a').ok).toBe(true);
    const refused = limits.tryOpen('a');
    expect(refused.ok || refused.error.code).toBe('too_many_sessions');
    expect(limits.tryOpen('b').ok).toBe(true);
    const full = limits.tryOpen('c');
    expect(full.ok || full.error.details).toMatchObject({ limit: 'http.maxSessions', max: 3, open: 3 });
    limits.closed('a');
    limits.closed('zzz'); // never opened: ignored
    expect(limits.count()).toBe(2);
    expect(limits.count('a')).toBe(1);
    expect(limits.tryOpen('c').ok).toBe(true);
  });
});
