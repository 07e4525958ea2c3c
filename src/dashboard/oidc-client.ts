/**
 * The dashboard's side of OpenID Connect, through `openid-client` (v6, certified): discovery,
 * the authorization URL (code flow with PKCE S256, state and nonce), the code exchange (which
 * checks the ID token's signature, issuer, audience, expiry and nonce), the refresh token grant,
 * userinfo, the provider's end-session URL, and back-channel logout tokens (checked with `jose`,
 * which openid-client itself is built on). Discovery is lazy and retried: a provider that
 * is down when the gateway starts makes sign-in unavailable, not the gateway.
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import type { OidcSpec } from '../config/schema.js';
import type { OidcClaims } from './oidc-claims.js';

export interface OidcClientOptions {
  spec: OidcSpec;
  /** The client secret from `clientSecretEnv`; undefined for a public client. */
  clientSecret: string | undefined;
  redirectUri: string;
  postLogoutRedirectUri: string;
  now: () => number;
}

/** What a sign-in keeps between leaving for the provider and coming back. */
export interface SignInChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** Tokens from one answer of the token endpoint, and what they vouch for. */
export interface OidcGrant {
  /** The ID token's claims when this answer carried one (a refresh may not), else the previous ID token's. */
  idClaims: OidcClaims;
  /** The ID token's claims overlaid by userinfo's (when used): what roles are decided on. */
  claims: OidcClaims;
  idToken: string | undefined;
  accessToken: string;
  refreshToken: string | undefined;
  /** Epoch ms the access token expires, when the provider said. */
  accessExpiresAt: number | undefined;
  /** Epoch ms this answer's ID token expires (undefined when it carried none). */
  idTokenExpiresAt: number | undefined;
}

const logoutEvent = 'http://schemas.openid.net/event/backchannel-logout';

/** Per request to the provider. */
const requestTimeoutSeconds = 10;

export class OidcClient {
  private discovered: Promise<oidc.Configuration> | undefined;
  /** The provider's signing keys, fetched and refreshed by jose when a logout token names a new key. */
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(private readonly options: OidcClientOptions) {}

  /** The provider's configuration, discovered once; a failed discovery is tried again next time. */
  private configuration(): Promise<oidc.Configuration> {
    if (!this.discovered) {
      const { spec, clientSecret } = this.options;
      const issuer = new URL(spec.issuer);
      this.discovered = oidc
        .discovery(issuer, spec.clientId, undefined, clientSecret === undefined ? oidc.None() : oidc.ClientSecretBasic(clientSecret), {
          timeout: requestTimeoutSeconds,
          // The schema allows plain http only for loopback issuers (a provider on this machine).
          ...(issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
        })
        .catch((error: unknown) => {
          this.discovered = undefined;
          throw error;
        });
    }
    return this.discovered;
  }

  /** Where to send the browser, and the checks to keep for its return. */
  async authorizationUrl(): Promise<{ url: string; checks: SignInChecks }> {
    const config = await this.configuration();
    const checks: SignInChecks = { state: oidc.randomState(), nonce: oidc.randomNonce(), codeVerifier: oidc.randomPKCECodeVerifier() };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.options.redirectUri,
      scope: this.options.spec.scopes.join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
      code_challenge_method: 'S256',
      state: checks.state,
      nonce: checks.nonce,
    });
    return { url: url.href, checks };
  }

  /** Exchanges the code the provider sent back (`query`: the callback's query string) and reads the person's claims. */
  async exchange(query: string, checks: SignInChecks): Promise<OidcGrant> {
    const config = await this.configuration();
    // The callback as registered, whatever Host the request came with (a proxy may rewrite it).
    const callback = new URL(this.options.redirectUri);
    callback.search = query;
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: checks.codeVerifier,
      expectedState: checks.state,
      expectedNonce: checks.nonce,
      idTokenExpected: true,
    });
    return this.grantOf(config, tokens, undefined);
  }

  /**
   * Uses the refresh token; throws when the provider no longer grants it (the person was removed,
   * their session ended there). `previous` stands in for the ID token when the answer has none.
   */
  async refresh(refreshToken: string, sub: string, previous: { idToken: string | undefined; idClaims: OidcClaims }): Promise<OidcGrant> {
    const config = await this.configuration();
    const tokens = await oidc.refreshTokenGrant(config, refreshToken);
    const grant = await this.grantOf(config, tokens, sub, previous.idClaims);
    // Not every provider rotates refresh tokens or re-issues ID tokens: keep the ones we had.
    return { ...grant, refreshToken: grant.refreshToken ?? refreshToken, idToken: grant.idToken ?? previous.idToken };
  }

  /** The person's current claims from userinfo (throws when the access token is no longer accepted). */
  async userinfo(accessToken: string, sub: string): Promise<OidcClaims> {
    const config = await this.configuration();
    return { ...(await oidc.fetchUserInfo(config, accessToken, sub)) };
  }

  /**
   * Verifies a back-channel logout token (OpenID Connect Back-Channel Logout 1.0, section 2.6):
   * signed by the provider's keys, issued by it, for this client, recent, carrying the logout
   * event, a `jti`, `sub` and/or `sid`, and no `nonce`. Throws with the reason otherwise.
   */
  async verifyLogoutToken(token: string): Promise<{ jti: string; sub: string | undefined; sid: string | undefined }> {
    const config = await this.configuration();
    const metadata = config.serverMetadata();
    if (!metadata.jwks_uri) throw new Error('the provider publishes no jwks_uri to check logout tokens with');
    this.jwks ??= createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: requestTimeoutSeconds * 1_000 });
    const { payload } = await jwtVerify(token, this.jwks, {
      issuer: metadata.issuer,
      audience: this.options.spec.clientId,
      maxTokenAge: '10m',
      currentDate: new Date(this.options.now()),
    });
    const events = payload['events'];
    if (events === null || typeof events !== 'object' || !Object.hasOwn(events, logoutEvent))
      throw new Error('not a logout token (no back-channel logout event)');
    if ('nonce' in payload) throw new Error('a logout token must not carry a nonce');
    if (typeof payload.jti !== 'string' || payload.jti === '') throw new Error('a logout token needs a jti');
    const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    const sid = typeof payload['sid'] === 'string' && payload['sid'] !== '' ? payload['sid'] : undefined;
    if (sub === undefined && sid === undefined) throw new Error('a logout token names neither sub nor sid');
    return { jti: payload.jti, sub, sid };
  }

  /** The provider's end-session URL for this person, or undefined when it has none. */
  async endSessionUrl(idToken: string | undefined): Promise<string | undefined> {
    const config = await this.configuration();
    if (!config.serverMetadata().end_session_endpoint) return undefined;
    return oidc.buildEndSessionUrl(config, {
      post_logout_redirect_uri: this.options.postLogoutRedirectUri,
      ...(idToken === undefined ? { client_id: this.options.spec.clientId } : { id_token_hint: idToken }),
    }).href;
  }

  private async grantOf(
    config: oidc.Configuration,
    tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
    sub: string | undefined,
    previousIdClaims: OidcClaims = {},
  ): Promise<OidcGrant> {
    const fresh = tokens.claims();
    const idClaims: OidcClaims = fresh ? { ...fresh } : previousIdClaims;
    const subject = typeof idClaims['sub'] === 'string' ? idClaims['sub'] : sub;
    if (subject === undefined) throw new Error('the provider answered without an ID token naming the person (sub)');
    if (sub !== undefined && subject !== sub) throw new Error('the provider answered for another person (sub changed)');
    let claims: OidcClaims = { ...idClaims, sub: subject };
    // Many providers release groups and profile claims only at userinfo (oidc-provider, Keycloak without mappers on the ID token).
    if (this.options.spec.userinfo && config.serverMetadata().userinfo_endpoint) {
      claims = { ...claims, ...(await oidc.fetchUserInfo(config, tokens.access_token, subject)), sub: subject };
    }
    const now = this.options.now();
    return {
      idClaims,
      claims,
      idToken: tokens.id_token,
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      accessExpiresAt: typeof tokens.expires_in === 'number' ? now + tokens.expires_in * 1_000 : undefined,
      idTokenExpiresAt: fresh && typeof fresh.exp === 'number' ? fresh.exp * 1_000 : undefined,
    };
  }
}

/** Whether an error means the provider refused (the person or the grant is no longer valid), as opposed to a fault on the way. */
export function isProviderRefusal(error: unknown): boolean {
  if (error instanceof oidc.ResponseBodyError) return error.status >= 400 && error.status < 500;
  if (error instanceof oidc.WWWAuthenticateChallengeError) return error.status === 401 || error.status === 403;
  return false;
}
