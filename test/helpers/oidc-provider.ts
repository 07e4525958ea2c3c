/**
 * A real OpenID Provider for tests: `oidc-provider` (the certified Node implementation) on a free
 * port of this process, with test users, clients, dynamic client registration (MCP clients
 * register themselves), the client_credentials grant, and resource indicators (RFC 8707) so every
 * access token is a JWT whose `aud` is the resource it was asked for. Short lifetimes are a
 * setting (`accessTokenTtlSec`, per client too, changeable while running) so expiry and refresh
 * are tested against real tokens, never hand-made ones.
 *
 * Reusable by any suite: agents (MCP SDK, mcp-remote) signing in to Airlock, upstream
 * client-credentials tokens, and people signing in to the dashboard (an authorization-code
 * client with a redirect URI; users with `groups`, roles and `slack_user_id` claims). `users` is
 * read at every sign-in, refresh and userinfo call, so a test may change a user's claims (or
 * delete the user) while the provider runs.
 *
 * Sign-in pages are oidc-provider's own development interactions (any password; the login names
 * the user). `signIn()` drives them with plain HTTP (a cookie jar, redirects followed by hand)
 * and stops at the redirect to the client's redirect URI; a browser can drive them too
 * (`loginPageSelectors`).
 *
 * Example, a dashboard sign-in client and a user with roles:
 *
 *   const oidc = await startOidcProvider({
 *     clients: [{ clientId: 'airlock-dashboard', clientSecret: 'dash-secret-0123456789', redirectUris: [`${base}/auth/callback`] }],
 *     users: { carol: { claims: { email: 'carol@example.com', groups: ['airlock-admins'], roles: ['admin'], slack_user_id: 'U0CAROL' } } },
 *   });
 *   // discovery: `${oidc.issuer}/.well-known/openid-configuration`; scopes "openid profile email groups slack"
 *   const callback = await oidc.signIn(authorizationUrlYourCodeBuilt, 'carol'); // → redirect URI with ?code=…&state=…
 *
 * Access tokens carry the user's `groups` (option `accessTokenClaims` adds more); ID tokens and
 * userinfo carry claims by scope (`claims` option: openid → sub, profile → name and email,
 * groups → groups and roles, slack → slack_user_id).
 */
import type { Server } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { freePort } from './redis-server.js';

/** A person who can sign in; `claims` become ID-token/userinfo claims (by scope) and, where listed, access-token claims. */
export interface TestUser {
  /** e.g. { email, name, groups: ['airlock-approvers'], roles: [...], slack_user_id: 'U0ALICE' } */
  claims?: Record<string, unknown>;
}

export interface TestClient {
  clientId: string;
  /** Omit for a public client (token_endpoint_auth_method "none"). */
  clientSecret?: string;
  /** Default: ["client_credentials"] with a secret, ["authorization_code", "refresh_token"] with redirect URIs. */
  grantTypes?: string[];
  redirectUris?: string[];
  /** Space-separated scopes the client may ask for (default: every scope the provider knows). */
  scope?: string;
  /** Overrides the provider's access-token lifetime for this client. */
  accessTokenTtlSec?: number;
  /** Extra client metadata, passed to oidc-provider as it is. */
  metadata?: Partial<ClientMetadata>;
}

export interface OidcProviderOptions {
  /** The resource (RFC 8707) tokens are for when a client names none, e.g. Airlock's `http://127.0.0.1:PORT/mcp`. */
  defaultResource?: string;
  /** Scopes every resource server accepts (default: ["mcp:tools"]). */
  resourceScopes?: string[];
  /** Resources whose access tokens are opaque (checked by RFC 7662 introspection) instead of JWTs. */
  opaqueResources?: string[];
  /** Access-token lifetime in seconds (default 300). */
  accessTokenTtlSec?: number;
  clients?: TestClient[];
  /** Users by login name (the `sub`). Default: { alice: {…}, bob: {…} }. */
  users?: Record<string, TestUser>;
  /** Claims by scope (OIDC), merged over { openid: [sub], profile: [name, email], groups: [groups], … }. */
  claims?: Record<string, string[]>;
  /** User claims copied into access tokens (default: ["groups"]); `slack_user_id` etc. can be added. */
  accessTokenClaims?: string[];
  /** Dynamic client registration (RFC 7591), on by default: MCP clients register themselves. */
  registration?: boolean;
  /** Port to listen on (default: a free one; a restart keeps it). */
  port?: number;
  /**
   * Clients whose access tokens, when they name no `resource`, are for the provider's own userinfo
   * (no default resource): people signing in to the dashboard, whose claims userinfo releases.
   */
  userinfoClients?: string[];
  /** Issue refresh tokens to clients allowed the grant without `offline_access` + consent (as Keycloak does). Default false. */
  refreshTokensWithoutOfflineAccess?: boolean;
  /**
   * OpenID Connect Back-Channel Logout: when a session ends here, post logout tokens to the
   * clients' `backchannel_logout_uri` (set it in `metadata`). Loopback receivers are allowed.
   */
  backchannelLogout?: boolean;
}

export const defaultTestUsers: Record<string, TestUser> = {
  alice: { claims: { name: 'Alice Approver', email: 'alice@example.com', groups: ['airlock-approvers', 'data-eng'], slack_user_id: 'U0ALICE' } },
  bob: { claims: { name: 'Bob Builder', email: 'bob@example.com', groups: ['data-eng'], slack_user_id: 'U0BOB' } },
};

/** Where the development sign-in pages put their fields (for a browser that drives them). */
export const loginPageSelectors = {
  login: 'input[name="login"]',
  password: 'input[name="password"]',
  submit: 'button[type="submit"]',
} as const;

export interface TestOidcProvider {
  /** `http://127.0.0.1:PORT` — also the `iss` of every token. */
  issuer: string;
  port: number;
  jwksUri: string;
  tokenEndpoint: string;
  introspectionEndpoint: string;
  /** The oidc-provider instance (its models, events), for tests that need more. */
  provider: Provider;
  /** Changeable while running: the lifetime of access tokens issued from now on. */
  accessTokenTtlSec: number;
  /** A client_credentials token from the token endpoint (for `resource`, default the default resource). */
  clientCredentialsToken(clientId: string, clientSecret: string, options?: { resource?: string; scope?: string }): Promise<TokenAnswer>;
  /**
   * Drives the sign-in and consent pages for `user` from an authorization URL, with plain HTTP,
   * and returns the URL the provider finally redirects to (the client's redirect URI with `code`).
   */
  signIn(authorizationUrl: string | URL, user: string): Promise<URL>;
  /** Stops listening (tokens already issued stay valid; its JWKS and token endpoint are gone). */
  stop(): Promise<void>;
  /** Listens again on the same port; with `rotateKeys`, signs with a new key (old tokens then fail). */
  start(options?: { rotateKeys?: boolean }): Promise<void>;
}

export interface TokenAnswer {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope?: string;
}

export async function startOidcProvider(options: OidcProviderOptions = {}): Promise<TestOidcProvider> {
  const port = options.port ?? (await freePort());
  const issuer = `http://127.0.0.1:${port}`;
  const users = options.users ?? defaultTestUsers;
  const resourceScopes = options.resourceScopes ?? ['mcp:tools'];
  const accessTokenClaims = options.accessTokenClaims ?? ['groups'];
  const ttlByClient = new Map((options.clients ?? []).filter((c) => c.accessTokenTtlSec !== undefined).map((c) => [c.clientId, c.accessTokenTtlSec ?? 0]));
  let keys = await signingKeys();
  let server: Server | undefined;

  const state: TestOidcProvider = {
    issuer,
    port,
    jwksUri: `${issuer}/jwks`,
    tokenEndpoint: `${issuer}/token`,
    introspectionEndpoint: `${issuer}/token/introspection`,
    provider: undefined as unknown as Provider, // set by build() below, before anything reads it
    accessTokenTtlSec: options.accessTokenTtlSec ?? 300,
    clientCredentialsToken: (clientId, clientSecret, tokenOptions = {}) => clientCredentialsToken(state.tokenEndpoint, clientId, clientSecret, tokenOptions),
    signIn: (authorizationUrl, user) => signIn(issuer, new URL(authorizationUrl), user),
    async stop() {
      const current = server;
      server = undefined;
      if (!current) return;
      current.closeAllConnections();
      await new Promise<void>((resolve) => current.close(() => resolve()));
    },
    async start(startOptions = {}) {
      if (server) return;
      if (startOptions.rotateKeys) keys = await signingKeys();
      state.provider = build();
      server = state.provider.listen(port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => {
        server?.once('listening', () => resolve());
        server?.once('error', reject);
      });
    },
  };

  function build(): Provider {
    const configuration: Configuration = {
      clients: (options.clients ?? []).map(clientMetadata),
      jwks: { keys },
      cookies: { keys: ['airlock-test-cookie-key-0123456789'] },
      scopes: ['openid', 'offline_access', 'profile', 'email', 'groups', 'slack', ...resourceScopes],
      claims: {
        openid: ['sub'],
        profile: ['name', 'email'],
        email: ['email'],
        groups: ['groups', 'roles'],
        slack: ['slack_user_id'],
        ...options.claims,
      },
      findAccount: (_ctx, sub) => {
        const user = users[sub];
        if (!user) return undefined;
        return { accountId: sub, claims: () => ({ sub, ...user.claims }) };
      },
      features: {
        devInteractions: { enabled: true },
        ...(options.backchannelLogout ? { backchannelLogout: { enabled: true } } : {}),
        registration: { enabled: options.registration ?? true },
        clientCredentials: { enabled: true },
        introspection: { enabled: true },
        revocation: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: (_ctx, client, oneOf) =>
            options.userinfoClients?.includes(client.clientId) ? oneOf : (oneOf ?? options.defaultResource ?? `${issuer}/resource`),
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, resourceIndicator, client) => ({
            scope: resourceScopes.join(' '),
            audience: resourceIndicator,
            accessTokenTTL: ttlByClient.get(client.clientId) ?? state.accessTokenTtlSec,
            ...(options.opaqueResources?.includes(resourceIndicator)
              ? { accessTokenFormat: 'opaque' as const }
              : { accessTokenFormat: 'jwt' as const, jwt: { sign: { alg: 'RS256' as const } } }),
          }),
        },
      },
      extraTokenClaims: (_ctx: KoaContextWithOIDC, token) => {
        const accountId = 'accountId' in token ? token.accountId : undefined;
        const claims = typeof accountId === 'string' ? users[accountId]?.claims : undefined;
        if (!claims) return undefined;
        return Object.fromEntries(accessTokenClaims.filter((name) => claims[name] !== undefined).map((name) => [name, claims[name]]));
      },
      // The provider refuses to post to special-use addresses (SSRF protection); the test's receivers are on loopback.
      ...(options.backchannelLogout
        ? { fetch: (input: Parameters<typeof fetch>[0], init?: RequestInit) => globalThis.fetch(input, { ...init, dispatcher: undefined }) }
        : {}),
      ...(options.refreshTokensWithoutOfflineAccess
        ? { issueRefreshToken: (_ctx: KoaContextWithOIDC, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token') }
        : {}),
      ttl: {
        AccessToken: (_ctx, _token, client) => ttlByClient.get(client.clientId) ?? state.accessTokenTtlSec,
        ClientCredentials: (_ctx, _token, client) => ttlByClient.get(client.clientId) ?? state.accessTokenTtlSec,
        Interaction: 600,
        Session: 3600,
        Grant: 3600,
        AuthorizationCode: 60,
        RefreshToken: 3600,
        IdToken: 3600,
      },
    };
    const provider = new Provider(issuer, configuration);
    provider.on('server_error', (_ctx, error) => process.stderr.write(`oidc-provider server_error: ${error.stack ?? String(error)}\n`));
    return provider;
  }

  await state.start();
  return state;
}

function clientMetadata(client: TestClient): ClientMetadata {
  const redirect = client.redirectUris ?? [];
  const grantTypes = client.grantTypes ?? (redirect.length > 0 ? ['authorization_code', 'refresh_token'] : ['client_credentials']);
  return {
    client_id: client.clientId,
    ...(client.clientSecret === undefined ? { token_endpoint_auth_method: 'none' } : { client_secret: client.clientSecret }),
    grant_types: grantTypes,
    redirect_uris: redirect,
    response_types: grantTypes.includes('authorization_code') ? ['code'] : [],
    ...(client.scope === undefined ? {} : { scope: client.scope }),
    ...client.metadata,
  };
}

/** An RS256 signing key with a fresh kid. */
async function signingKeys(): Promise<JWK[]> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return [{ ...jwk, kid: `test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`, alg: 'RS256', use: 'sig' }];
}

async function clientCredentialsToken(
  tokenEndpoint: string,
  clientId: string,
  clientSecret: string,
  options: { resource?: string; scope?: string },
): Promise<TokenAnswer> {
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  if (options.resource !== undefined) body.set('resource', options.resource);
  if (options.scope !== undefined) body.set('scope', options.scope);
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}` },
    body,
  });
  const answer = (await response.json()) as TokenAnswer & { error?: string; error_description?: string };
  if (!response.ok) throw new Error(`token endpoint said ${response.status}: ${answer.error ?? ''} ${answer.error_description ?? ''}`);
  return answer;
}

/**
 * Follows the authorization request through the provider's pages by hand: redirects within the
 * provider are followed (with its cookies), the login form is posted with `user`, the consent
 * form is confirmed, and the first redirect that leaves the provider is returned.
 */
async function signIn(issuer: string, start: URL, user: string): Promise<URL> {
  const jar = new Map<string, string>();
  let url = start;
  let method: 'GET' | 'POST' = 'GET';
  let body: URLSearchParams | undefined;
  for (let step = 0; step < 20; step += 1) {
    const response = await fetch(url, {
      method,
      redirect: 'manual',
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(body ? { body } : {}),
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (pair && eq > 0) jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, url);
      if (next.origin !== new URL(issuer).origin) return next;
      url = next;
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) throw new Error(`sign-in step ${url.pathname} answered ${response.status}: ${html.slice(0, 500)}`);
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
    if (!action || !prompt) throw new Error(`sign-in page ${url.pathname} has no form: ${html.slice(0, 500)}`);
    url = new URL(action.replace(/&amp;/g, '&'), url);
    method = 'POST';
    body = prompt === 'login' ? new URLSearchParams({ prompt, login: user, password: 'any' }) : new URLSearchParams({ prompt });
  }
  throw new Error('sign-in did not reach the redirect URI within 20 steps');
}
