/**
 * The OAuth parts of the config are validated at load, every problem with its path and what to
 * do: mappings name configured agents, every agent can sign in somehow, client secrets come from
 * the environment, and an upstream has either `auth` or an Authorization header.
 */
import { describe, expect, it } from 'vitest';
import { checkOAuth } from '../src/cli/doctor-oauth.js';
import { parseConfig } from '../src/config/load.js';
import { createRequestAuthenticator } from '../src/identity/request-authenticator.js';
import { createAuthenticator } from '../src/identity/tokens.js';
import { createLogger } from '../src/log.js';
import { refreshAt } from '../src/upstream/client-credentials.js';
import { startOidcProvider } from './helpers/oidc-provider.js';
import { freePort } from './helpers/redis-server.js';

const base = { mcpServers: { api: { url: 'https://mcp.example.com/mcp' } } };
const oauth = { resource: 'https://airlock.example.com/mcp', authorizationServers: ['https://idp.example.com'] };

function problems(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig({ ...base, ...raw }, '/tmp/airlock.config.json', env);
    return '';
  } catch (error) {
    return (error as Error).message;
  }
}

describe('oauth configuration', () => {
  it('accepts OAuth-only agents named by a mapping, with defaults filled in', () => {
    const config = parseConfig({ ...base, agents: { bot: {} }, oauth: { ...oauth, agents: [{ match: { clientId: 'ci' }, agent: 'bot' }] } }, '/tmp/a.json', {});
    expect(config.oauth).toMatchObject({ groupsClaim: 'groups', clockTolerance: 30_000, scopes: [], requiredScopes: [], tokenCacheSize: 10_000 });
  });

  it('refuses a mapping to an agent that does not exist, and an agent nothing can sign in as', () => {
    const text = problems({ agents: { lonely: {} }, oauth: { ...oauth, agents: [{ match: { group: 'eng' }, agent: 'ghost' }] } });
    expect(text).toContain('$.oauth.agents[0].agent: no agent "ghost" under "agents"');
    expect(text).toContain('$.agents.lonely.tokenSha256: agent "lonely" has no tokenSha256 and no oauth.agents mapping names it');
  });

  it('refuses a match naming several claims, and an empty mapping list', () => {
    expect(problems({ agents: { bot: {} }, oauth: { ...oauth, agents: [{ match: { clientId: 'a', sub: 'b' }, agent: 'bot' }] } })).toContain(
      'match names exactly one of "clientId", "sub" or "group"',
    );
    expect(problems({ oauth: { ...oauth, agents: [] } })).toContain('map at least one client, subject or group');
  });

  it('refuses client secrets written into the file', () => {
    const text = problems({
      mcpServers: {
        api: {
          url: 'https://mcp.example.com/mcp',
          auth: { type: 'oauth_client_credentials', tokenUrl: 'https://idp/token', clientId: 'c', clientSecret: 'hunter2' },
        },
      },
    });
    expect(text).toContain('$.mcpServers.api.auth.clientSecret: a client secret written into the config file');
    const introspection = problems({
      agents: { bot: {} },
      oauth: {
        ...oauth,
        introspection: { url: 'https://idp/introspect', clientId: 'a', clientSecret: 'plain' },
        agents: [{ match: { sub: 'x' }, agent: 'bot' }],
      },
    });
    expect(introspection).toContain('$.oauth.introspection.clientSecret: a client secret written into the config file');
  });

  it('refuses an upstream with both auth and an Authorization header', () => {
    const text = problems(
      {
        mcpServers: {
          api: {
            url: 'https://mcp.example.com/mcp',
            headers: { Authorization: '${TOKEN}' },
            auth: { type: 'oauth_client_credentials', tokenUrl: 'https://idp/token', clientId: 'c', clientSecret: '${SECRET}' },
          },
        },
      },
      { TOKEN: 't', SECRET: 's' },
    );
    expect(text).toContain('give either "auth" or an Authorization header, not both');
  });

  it('refreshes at 80 % of a token lifetime, or 60 s before expiry when earlier, never before half of it', () => {
    expect(refreshAt(0, 3_600_000)).toBe(2_880_000);
    expect(refreshAt(0, 120_000)).toBe(60_000);
    expect(refreshAt(0, 3_000)).toBe(1_500);
  });
});

describe('airlock doctor with oauth', () => {
  it("finds the issuer's signing keys through its discovery metadata, and says so when the issuer is down", async () => {
    const oidc = await startOidcProvider();
    const config = (issuer: string) =>
      parseConfig(
        {
          ...base,
          agents: { bot: {} },
          oauth: { resource: 'https://airlock.example.com/mcp', authorizationServers: [issuer], agents: [{ match: { sub: 'x' }, agent: 'bot' }] },
        },
        '/tmp/a.json',
        {},
      );
    try {
      const [found] = await checkOAuth(config(oidc.issuer));
      expect(found).toMatchObject({ severity: 'ok', subject: 'oauth' });
      expect(found?.message).toContain(`1 signing key(s) at ${oidc.jwksUri}`);
    } finally {
      await oidc.stop();
    }
    const [down] = await checkOAuth(config(`http://127.0.0.1:${await freePort()}`));
    expect(down).toMatchObject({ severity: 'fail', subject: 'oauth' });
    expect(down?.message).toContain("could not read the authorization server's metadata");
  });
});

describe('oauth.requiredScopes', () => {
  it('refuses a valid token without the required scope with 403 insufficient_scope naming it', async () => {
    const resource = 'https://airlock.example.com/mcp';
    const oidc = await startOidcProvider({ defaultResource: resource, clients: [{ clientId: 'bot', clientSecret: 'bot-secret-0123456789' }] });
    try {
      const config = parseConfig(
        {
          ...base,
          agents: { bot: {} },
          oauth: { resource, authorizationServers: [oidc.issuer], requiredScopes: ['airlock:admin'], agents: [{ match: { clientId: 'bot' }, agent: 'bot' }] },
        },
        '/tmp/a.json',
        {},
      );
      const auth = createRequestAuthenticator({
        staticTokens: createAuthenticator(config.agents),
        oauth: config.oauth,
        log: createLogger({ level: 'silent' }),
      });
      const { access_token } = await oidc.clientCredentialsToken('bot', 'bot-secret-0123456789', { scope: 'mcp:tools' });
      const outcome = await auth.check(access_token);
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.refusal).toMatchObject({ status: 403, bearerError: 'insufficient_scope', scope: 'airlock:admin' });
      expect(outcome.refusal.message).toContain('lacks the scope(s) airlock:admin');
    } finally {
      await oidc.stop();
    }
  });
});
