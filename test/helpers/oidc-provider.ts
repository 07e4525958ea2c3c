/**
 * A real OpenID Provider for tests: `oidc-provider` (the certified Node implementation) on a
 * free loopback port, with its own development login and consent pages, so a browser signs in
 * there exactly as it would at Okta or Keycloak. Accounts live in a map the test can change while
 * the provider runs (remove a group, delete the person) to check what Airlock does when the IdP
 * changes its mind. Claims are released at the userinfo endpoint (the provider's default for the
 * code flow: the ID token carries `sub` and the protocol claims only), which is the case
 * Airlock must handle for every IdP.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type ClientMetadata, type Configuration } from 'oidc-provider';

/** One person at the provider; `claims` are what userinfo releases (beyond `sub`). */
export interface OidcAccount {
  name?: string;
  email?: string;
  groups?: string[];
  slack_user_id?: string;
  [claim: string]: unknown;
}

export interface OidcProviderOptions {
  /** Clients registered at start (redirect URIs must be known up front, as at a real IdP). */
  clients: ClientMetadata[];
  /** Accounts by login name (the dev login page accepts any password for a known login). */
  accounts?: Record<string, OidcAccount>;
  /** Token lifetimes in seconds (IdToken, AccessToken, RefreshToken, Session, Grant, Interaction). */
  ttl?: Partial<Record<'IdToken' | 'AccessToken' | 'RefreshToken' | 'Session' | 'Grant' | 'Interaction', number>>;
  /** Issue refresh tokens to every client allowed the grant, without `offline_access` (as Keycloak does). Default true. */
  refreshTokensWithoutOfflineAccess?: boolean;
}

export interface OidcProviderHandle {
  issuer: string;
  provider: Provider;
  /** The live accounts: change or delete entries while the provider runs. */
  accounts: Map<string, OidcAccount>;
  close(): Promise<void>;
}

/** Scopes and the claims each releases: `groups` and the Slack id as IdPs set them up for Airlock. */
const scopeClaims = {
  openid: ['sub'],
  profile: ['name', 'preferred_username', 'slack_user_id'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};

export async function startOidcProvider(options: OidcProviderOptions): Promise<OidcProviderHandle> {
  const accounts = new Map(Object.entries(options.accounts ?? {}));
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;
  const configuration: Configuration = {
    clients: options.clients,
    claims: scopeClaims,
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    cookies: { keys: ['airlock-test-oidc-cookie-key-0123456789'] },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    pkce: { required: () => true },
    ttl: { IdToken: 3600, AccessToken: 3600, RefreshToken: 86_400, Session: 86_400, Grant: 86_400, Interaction: 600, ...options.ttl },
    async findAccount(_ctx, sub) {
      if (!accounts.has(sub)) return undefined;
      return {
        accountId: sub,
        // Read at every userinfo and token call, so a change to the map shows at the next one.
        async claims() {
          const account = accounts.get(sub);
          return { sub, preferred_username: sub, ...(account ?? {}) };
        },
      };
    },
    // Consent is the person's own business at a real IdP; here every requested scope is granted.
    async loadExistingGrant(ctx) {
      const session = ctx.oidc.session;
      const client = ctx.oidc.client;
      if (!session?.accountId || !client) return undefined;
      const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope([...(ctx.oidc.params?.['scope'] ? String(ctx.oidc.params['scope']).split(' ') : ['openid'])].join(' '));
      grant.addOIDCClaims(Object.values(scopeClaims).flat());
      await grant.save();
      return grant;
    },
    ...(options.refreshTokensWithoutOfflineAccess === false
      ? {}
      : { issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token') }),
  };
  const provider = new Provider(issuer, configuration);
  // Plain http on loopback: the provider must not insist on TLS-only cookies.
  provider.proxy = false;
  server.on('request', provider.callback());
  return {
    issuer,
    provider,
    accounts,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Signs in at the provider's development login page in a browser page that is already there
 * (after clicking Airlock's "Sign in with …"): the login form, then the consent page if shown.
 */
export async function signInAtProvider(page: import('playwright-core').Page, issuer: string, login: string): Promise<void> {
  await page.waitForURL((url) => url.href.startsWith(issuer), { timeout: 10_000 });
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.locator('button[type="submit"]').click();
  await page.waitForURL((url) => !url.href.startsWith(`${issuer}/interaction/`) || url.href === page.url(), { timeout: 10_000 }).catch(() => undefined);
  // A consent step, when the provider shows one, has a single Continue button.
  for (let i = 0; i < 2 && page.url().startsWith(`${issuer}/interaction/`); i += 1) {
    const button = page.locator('button[type="submit"]');
    if ((await button.count()) === 0) break;
    await Promise.all([page.waitForURL((url) => !url.href.startsWith(issuer) || url.href !== page.url(), { timeout: 10_000 }), button.first().click()]);
  }
}
