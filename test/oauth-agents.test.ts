/**
 * Agents signing in with OAuth, per the MCP authorization spec: a real OpenID Provider
 * (oidc-provider) issues JWT access tokens for Airlock's resource; the official SDK client finds
 * the provider through Airlock's 401 and RFC 9728 metadata, registers itself (DCR), signs a user
 * in and calls a tool. Tokens for another audience, expired, badly signed or from another issuer
 * are refused with 401 and a specific error_description; static tokens keep working beside them;
 * the audit names the agent the token mapped to; the token never reaches the upstream.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { decodeProtectedHeader } from 'jose';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startTestGateway, textOf, type TestGateway } from './helpers/gateway.js';
import { startOidcProvider, type TestOidcProvider } from './helpers/oidc-provider.js';
import { freePort } from './helpers/redis-server.js';
import { startTokenCheckingProxy, type TokenCheckingProxy } from './helpers/token-checking-proxy.js';
import { createCallLog, startDatabricksMockHttp, type CallLog, type RunningServer } from './helpers/upstreams.js';

let oidc: TestOidcProvider;
let otherIssuer: TestOidcProvider;
let gw: TestGateway;
let mcpUrl: string;
let callLog: CallLog;
let mock: RunningServer;
/** Records every request the upstream receives (and forwards it to the Databricks mock). */
let upstreamTap: TokenCheckingProxy;
const upstreamApiKey = 'configured-upstream-key-0123456789';

const secrets = { ciBot: 'ci-bot-secret-0123456789', shortBot: 'short-bot-secret-0123456789', stranger: 'stranger-secret-0123456789' };

beforeAll(async () => {
  const port = await freePort();
  mcpUrl = `http://127.0.0.1:${port}/mcp`;
  oidc = await startOidcProvider({
    defaultResource: mcpUrl,
    clients: [
      { clientId: 'ci-bot', clientSecret: secrets.ciBot },
      { clientId: 'short-bot', clientSecret: secrets.shortBot, accessTokenTtlSec: 1 },
      { clientId: 'stranger', clientSecret: secrets.stranger },
    ],
  });
  otherIssuer = await startOidcProvider({ defaultResource: mcpUrl, clients: [{ clientId: 'ci-bot', clientSecret: secrets.ciBot }] });
  callLog = createCallLog();
  mock = await startDatabricksMockHttp({ callLog });
  upstreamTap = await startTokenCheckingProxy({ target: mock.url, issuer: oidc.issuer, jwksUri: oidc.jwksUri, recordOnly: true });
  gw = await startTestGateway({
    port,
    mcpServers: { databricks: { url: upstreamTap.url, headers: { 'X-Api-Key': '${DATABRICKS_API_KEY}' } } },
    env: { DATABRICKS_API_KEY: upstreamApiKey },
    agents: ['agent-a', 'agent-b'],
    config: {
      oauth: {
        resource: mcpUrl,
        authorizationServers: [oidc.issuer],
        scopes: ['mcp:tools'],
        clockTolerance: '1s',
        jwksCooldown: '1s',
        agents: [
          { match: { sub: 'alice' }, agent: 'agent-a' },
          { match: { clientId: 'ci-bot' }, agent: 'agent-b' },
          { match: { clientId: 'short-bot' }, agent: 'agent-b' },
        ],
      },
    },
  });
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await oidc?.stop();
  await otherIssuer?.stop();
  await upstreamTap?.stop();
  await mock?.stop();
});

/** An in-memory OAuth client for the SDK; "redirecting" the user means driving the provider's pages as `user`. */
class HeadlessOAuthClient implements OAuthClientProvider {
  readonly redirectUrl = 'http://127.0.0.1:9/oauth/callback';
  signedIn: Promise<URL> | undefined;
  private info: OAuthClientInformationMixed | undefined;
  private saved: OAuthTokens | undefined;
  private verifier = '';

  constructor(private readonly user: string) {}

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'airlock oauth test agent',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.signedIn = oidc.signIn(url, this.user);
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** POSTs an initialize with a bearer token; returns the status, WWW-Authenticate and JSON-RPC body. */
async function initializeWith(token: string | undefined) {
  const response = await fetch(mcpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    }),
  });
  const body = (await response.json()) as { error?: { code: number; message: string } };
  return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '', body };
}

describe('agents signing in with OAuth (MCP authorization spec)', () => {
  it('publishes RFC 9728 metadata at the root and the path-suffixed well-known URL', async () => {
    const base = new URL(mcpUrl).origin;
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const response = await fetch(`${base}${path}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        resource: mcpUrl,
        authorization_servers: [oidc.issuer],
        scopes_supported: ['mcp:tools'],
        bearer_methods_supported: ['header'],
        resource_name: 'Airlock',
      });
    }
  });

  it('answers a request without a token with 401 naming the metadata, and a JSON-RPC body', async () => {
    const { status, challenge, body } = await initializeWith(undefined);
    expect(status).toBe(401);
    expect(challenge).toBe(`Bearer resource_metadata="${new URL(mcpUrl).origin}/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"`);
    expect(body.error?.code).toBe(-32011);
  });

  it('lets the SDK client discover the provider, register, sign a user in and call list_jobs as the mapped agent', async () => {
    const auth = new HeadlessOAuthClient('alice');
    const first = new Client({ name: 'oauth-agent', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: auth });
    await expect(first.connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(auth.signedIn).toBeDefined();
    const callback = await auth.signedIn;
    const code = callback?.searchParams.get('code');
    expect(code).toBeTruthy();
    await transport.finishAuth(code ?? '');
    expect(auth.tokens()?.access_token).toMatch(/^ey/);

    const client = new Client({ name: 'oauth-agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: auth }));
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toContain('list_jobs');
    const result = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toContain('job_id');
    await client.close();

    await new Promise((r) => setTimeout(r, 200)); // the audit event is written just after the answer
    const page = await gw.gateway.auditStore.query({ tool: 'list_jobs', limit: 10 });
    expect(page.events.length).toBeGreaterThan(0);
    expect(new Set(page.events.map((e) => e.agent))).toEqual(new Set(['agent-a']));
    expect(new Set(page.events.map((e) => e.principal))).toEqual(new Set([expect.stringMatching(/^sub "alice" \(client "[^"]+"\)$/)]));
    // Audience-bound: the upstream got the call with its configured headers only, never the agent's token.
    expect(callLog.calls().some((c) => c.tool === 'list_jobs')).toBe(true);
    const agentToken = auth.tokens()?.access_token ?? 'unreachable';
    expect(upstreamTap.seen.length).toBeGreaterThan(0);
    for (const request of upstreamTap.seen) {
      expect(request.headers['authorization']).toBeUndefined();
      expect(request.headers['x-api-key']).toBe(upstreamApiKey);
      expect(JSON.stringify(request.headers)).not.toContain(agentToken.slice(-40));
    }
    expect(upstreamTap.seen.every((r) => r.accepted)).toBe(true);
  });

  it('accepts a client-credentials token for this resource as the agent its client maps to', async () => {
    const { access_token } = await oidc.clientCredentialsToken('ci-bot', secrets.ciBot, { resource: mcpUrl });
    const client = await connectClient(mcpUrl, access_token, 'ci-bot');
    const result = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
    expect(result.isError).toBeFalsy();
    await client.close();
    await new Promise((r) => setTimeout(r, 200));
    const page = await gw.gateway.auditStore.query({ tool: 'list_jobs', agent: 'agent-b', limit: 10 });
    expect(page.events.length).toBeGreaterThan(0);
  });

  it('keeps static agent tokens working beside OAuth', async () => {
    const client = await gw.connect('agent-b');
    const result = await client.callTool({ name: 'list_jobs', arguments: { params: {} } });
    expect(result.isError).toBeFalsy();
  });

  it('refuses a token for another audience with 401 invalid_token saying so', async () => {
    const { access_token } = await oidc.clientCredentialsToken('ci-bot', secrets.ciBot, { resource: 'https://other.example.com/api' });
    const { status, challenge, body } = await initializeWith(access_token);
    expect(status).toBe(401);
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toMatch(/error_description="The access token is for audience 'https:\/\/other\.example\.com\/api', not for this resource/);
    expect(body.error?.message).toContain(`request a token with resource=${mcpUrl}`);
  });

  it('refuses an expired token with 401 invalid_token saying it expired', async () => {
    const { access_token, expires_in } = await oidc.clientCredentialsToken('short-bot', secrets.shortBot, { resource: mcpUrl });
    expect(expires_in).toBe(1);
    expect((await initializeWith(access_token)).status).toBe(200); // valid at first …
    await new Promise((r) => setTimeout(r, 3_200)); // … then past exp plus the 1 s tolerance
    const { status, challenge } = await initializeWith(access_token);
    expect(status).toBe(401);
    expect(challenge).toMatch(/error="invalid_token", error_description="The access token expired at \d{4}-/);
  });

  it('refuses a token whose signature was altered with 401 invalid_token naming the signature', async () => {
    const { access_token } = await oidc.clientCredentialsToken('ci-bot', secrets.ciBot, { resource: mcpUrl });
    const [header, payload, signature = ''] = access_token.split('.');
    const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11);
    const { status, challenge } = await initializeWith(`${header}.${payload}.${flipped}`);
    expect(status).toBe(401);
    expect(challenge).toContain('error_description="The access token signature is invalid');
  });

  it('refuses a token from another issuer with 401 naming the issuer', async () => {
    const { access_token } = await otherIssuer.clientCredentialsToken('ci-bot', secrets.ciBot, { resource: mcpUrl });
    const { status, challenge } = await initializeWith(access_token);
    expect(status).toBe(401);
    expect(challenge).toContain(`error_description="The access token was issued by '${otherIssuer.issuer}', not by ${oidc.issuer}`);
  });

  it('refuses an unknown static token with 401 invalid_token', async () => {
    const { status, challenge } = await initializeWith('alk_not-a-token-anyone-issued');
    expect(status).toBe(401);
    expect(challenge).toContain('error="invalid_token", error_description="Unknown or revoked token');
  });

  it('refuses a valid token that maps to no agent with 403 naming the claim values it carried', async () => {
    const { access_token } = await oidc.clientCredentialsToken('stranger', secrets.stranger, { resource: mcpUrl });
    const { status, body } = await initializeWith(access_token);
    expect(status).toBe(403);
    expect(body.error?.message).toContain('maps to no Airlock agent');
    expect(body.error?.message).toContain('client_id "stranger", sub "stranger", groups []');
  });

  it('keeps a session to the signed-in principal: another token mapped to the same agent may not use it', async () => {
    const mine = await oidc.clientCredentialsToken('ci-bot', secrets.ciBot, { resource: mcpUrl });
    const theirs = await oidc.clientCredentialsToken('short-bot', secrets.shortBot, { resource: mcpUrl }); // also agent-b
    const opened = await fetch(mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${mine.access_token}` },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });
    const sessionId = opened.headers.get('mcp-session-id') ?? '';
    expect(sessionId).not.toBe('');
    const ping = (token: string) =>
      fetch(mcpUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${token}`,
          'mcp-session-id': sessionId,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
      });
    expect((await ping(mine.access_token)).status).toBe(200);
    const refused = await ping(theirs.access_token);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('belongs to another agent (or another signed-in user)');
  });

  // Last: it restarts the provider with a new signing key.
  it('accepts tokens signed with a rotated key without a restart (the JWKS is fetched again)', async () => {
    const before = await oidc.clientCredentialsToken('ci-bot', secrets.ciBot, { resource: mcpUrl });
    expect((await initializeWith(before.access_token)).status).toBe(200);
    await oidc.stop();
    await oidc.start({ rotateKeys: true });
    await new Promise((r) => setTimeout(r, 1_100)); // past oauth.jwksCooldown since the last fetch
    const after = await oidc.clientCredentialsToken('ci-bot', secrets.ciBot, { resource: mcpUrl });
    expect(decodeProtectedHeader(after.access_token).kid).not.toBe(decodeProtectedHeader(before.access_token).kid);
    expect((await initializeWith(after.access_token)).status).toBe(200);
  });
});
