/**
 * Opaque access tokens: a real OpenID Provider issues opaque tokens for Airlock's resource, and
 * Airlock checks them with the provider's RFC 7662 introspection endpoint (as its own confidential
 * client). An active token acts as its mapped agent; a revoked one stops working once the short
 * introspection cache lapses; the token is never forwarded upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { startOidcProvider, type TestOidcProvider } from './helpers/oidc-provider.js';
import { freePort } from './helpers/redis-server.js';
import { databricksMockStdio } from './helpers/upstreams.js';

const secrets = { bot: 'opaque-bot-secret-0123456789', airlock: 'airlock-introspect-secret-0123456789' };
let oidc: TestOidcProvider;
let gw: TestGateway;
let mcpUrl: string;

beforeAll(async () => {
  const port = await freePort();
  mcpUrl = `http://127.0.0.1:${port}/mcp`;
  oidc = await startOidcProvider({
    defaultResource: mcpUrl,
    opaqueResources: [mcpUrl],
    clients: [
      { clientId: 'opaque-bot', clientSecret: secrets.bot },
      { clientId: 'airlock', clientSecret: secrets.airlock },
    ],
  });
  gw = await startTestGateway({
    port,
    mcpServers: { databricks: databricksMockStdio() },
    agents: ['agent-a'],
    env: { AIRLOCK_INTROSPECTION_SECRET: secrets.airlock },
    config: {
      oauth: {
        resource: mcpUrl,
        authorizationServers: [oidc.issuer],
        introspection: { url: oidc.introspectionEndpoint, clientId: 'airlock', clientSecret: '${AIRLOCK_INTROSPECTION_SECRET}', cacheTtl: '1s' },
        agents: [{ match: { clientId: 'opaque-bot' }, agent: 'agent-a' }],
      },
    },
  });
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await oidc?.stop();
});

describe('opaque access tokens checked by introspection', () => {
  it('accepts an active opaque token as its mapped agent, and refuses it once revoked', async () => {
    const { access_token } = await oidc.clientCredentialsToken('opaque-bot', secrets.bot, { resource: mcpUrl });
    expect(access_token).not.toMatch(/^ey.*\..*\./); // opaque, not a JWT
    const client = await connectClient(mcpUrl, access_token, 'opaque-bot');
    const result = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
    expect(textOf(result)).toContain('job_id');
    await client.close();

    const revoked = await fetch(`${oidc.issuer}/token/revocation`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`opaque-bot:${secrets.bot}`).toString('base64')}` },
      body: new URLSearchParams({ token: access_token }),
    });
    expect(revoked.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_200)); // past the 1 s introspection cache
    const refused = await fetch(mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('error_description="The access token is not active');
  });
});
