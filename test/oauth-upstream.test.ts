/**
 * An HTTP upstream behind OAuth client credentials: Airlock fetches its own tokens from a real
 * OpenID Provider (oidc-provider), refreshes them before they lapse, and sends them to an upstream
 * that checks each one with jose against the provider's keys. Over several short token lifetimes
 * every call succeeds with an unexpired token; a 401 from the upstream makes a fresh token for the
 * next call without re-sending the refused tools/call; a stopped provider or a wrong client secret
 * makes the upstream not ready, with the reason in /readyz.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { startOidcProvider, type TestOidcProvider } from './helpers/oidc-provider.js';
import { startTokenCheckingProxy, type TokenCheckingProxy } from './helpers/token-checking-proxy.js';
import { createCallLog, startDatabricksMockHttp, type CallLog, type RunningServer } from './helpers/upstreams.js';

const clientSecret = 'airlock-upstream-secret-0123456789';
let oidc: TestOidcProvider;
let mock: RunningServer;
let proxy: TokenCheckingProxy;
let callLog: CallLog;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  callLog = createCallLog();
  mock = await startDatabricksMockHttp({ callLog });
  oidc = await startOidcProvider({ accessTokenTtlSec: 3, clients: [{ clientId: 'airlock-upstream', clientSecret }] });
  proxy = await startTokenCheckingProxy({ target: mock.url, issuer: oidc.issuer, jwksUri: oidc.jwksUri });
}, 60_000);

afterAll(async () => {
  for (const gw of gateways) await gw.close();
  await proxy?.stop();
  await mock?.stop();
  await oidc?.stop();
});

function upstreamWithAuth(secretEnv: string) {
  return {
    url: proxy.url,
    auth: {
      type: 'oauth_client_credentials',
      tokenUrl: oidc.tokenEndpoint,
      clientId: 'airlock-upstream',
      clientSecret: `\${${secretEnv}}`,
      resource: proxy.url,
    },
  };
}

async function gatewayWith(secret: string): Promise<TestGateway> {
  const gw = await startTestGateway({ mcpServers: { api: upstreamWithAuth('API_CLIENT_SECRET') }, agents: ['agent-a'], env: { API_CLIENT_SECRET: secret } });
  gateways.push(gw);
  return gw;
}

async function readyz(gw: TestGateway): Promise<{ status: number; body: { ready: boolean; notReady: string[] } }> {
  const response = await fetch(`${gw.baseUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as { ready: boolean; notReady: string[] } };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('an upstream behind OAuth client credentials', () => {
  it('refreshes tokens before they expire: calls over ~10 s of 3 s tokens all succeed, with ≥ 3 tokens, none used expired', async () => {
    const gw = await gatewayWith(clientSecret);
    expect((await readyz(gw)).body.ready).toBe(true);
    const client = await gw.connect('agent-a');
    const seenBefore = proxy.seen.length;
    const startedMs = Date.now();
    let calls = 0;
    while (Date.now() - startedMs < 10_000) {
      const result = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
      expect(result.isError, textOf(result)).toBeFalsy();
      calls += 1;
      await new Promise((r) => setTimeout(r, 250));
    }
    const seen = proxy.seen.slice(seenBefore);
    expect(calls).toBeGreaterThan(20);
    expect(seen.filter((s) => !s.accepted)).toEqual([]);
    expect(new Set(seen.map((s) => s.token)).size).toBeGreaterThanOrEqual(3);
    for (const s of seen) expect(s.usedAtMs).toBeLessThan((s.exp ?? 0) * 1_000);
    expect(seen.filter((s) => s.method === 'tools/call').length).toBe(calls);
  }, 30_000);

  it('does not re-send a tools/call the upstream refused with 401; the next call runs with a fresh token', async () => {
    const gw = await gatewayWith(clientSecret);
    const client = await gw.connect('agent-a');
    const before = callLog.calls().length;
    const tokensBefore = new Set(proxy.seen.map((s) => s.token));
    proxy.refuseNext(1, 'tools/call');
    const refused = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toContain("refused Airlock's access token (HTTP 401) before running the call, so it did not run");
    expect(callLog.calls().length).toBe(before); // the refused call never reached the server behind
    const next = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
    expect(next.isError, textOf(next)).toBeFalsy();
    const last = proxy.seen.at(-1);
    expect(last?.accepted).toBe(true);
    expect(tokensBefore.has(last?.token)).toBe(false); // a token fetched after the 401
  });

  it('sends an initialize the upstream refused with 401 once more, with a fresh token', async () => {
    const gw = await gatewayWith(clientSecret);
    const before = proxy.seen.length;
    proxy.refuseNext(1, 'initialize');
    const client = await gw.connect('agent-a'); // opens the agent's own upstream session: initialize
    const initializes = proxy.seen.slice(before).filter((s) => s.method === 'initialize');
    expect(initializes.map((s) => s.accepted)).toEqual([false, true]);
    expect(initializes[1]?.token).not.toBe(initializes[0]?.token);
    const result = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
    expect(result.isError, textOf(result)).toBeFalsy();
  });

  it('reports the upstream not ready, with the reason, when the client secret is wrong', async () => {
    const gw = await gatewayWith('not-the-secret-0123456789');
    const { status, body } = await until('not ready', async () => {
      const r = await readyz(gw);
      return r.body.notReady.some((line) => line.includes('upstream api')) ? r : undefined;
    });
    expect(status).toBe(503);
    const line = body.notReady.find((l) => l.startsWith('upstream api')) ?? '';
    expect(line).toContain(
      `could not get an access token: the token endpoint ${oidc.tokenEndpoint} refused client "airlock-upstream" (HTTP 401 invalid_client`,
    );
    expect(line).toContain('check mcpServers.api.auth');
    const client = await gw.connect('agent-a');
    const result = await client.callTool({ name: 'list_jobs', arguments: { params: {} } }).catch((error: unknown) => ({ isError: true, error }));
    expect(result.isError).toBe(true);
  });

  it('reports the upstream not ready, with the reason, when the token endpoint stops answering', async () => {
    const gw = await gatewayWith(clientSecret);
    expect((await readyz(gw)).body.ready).toBe(true);
    await oidc.stop();
    try {
      // The next refresh is due within 80 % of the 3 s lifetime; it fails and readiness says why.
      const { status, body } = await until('not ready', async () => {
        const r = await readyz(gw);
        return r.body.notReady.some((line) => line.includes('upstream api')) ? r : undefined;
      });
      expect(status).toBe(503);
      const line = body.notReady.find((l) => l.startsWith('upstream api')) ?? '';
      expect(line).toMatch(/could not get an access token: the token endpoint .* could not be reached \(ECONNREFUSED\)/);
    } finally {
      await oidc.start();
    }
    // Back: the reconnect gets a token again.
    await until('ready again', async () => ((await readyz(gw)).body.ready ? true : undefined), 40_000);
  }, 60_000);
});
