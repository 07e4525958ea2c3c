/**
 * Bearer token → agent for `/mcp`, with static tokens and OAuth access tokens side by side:
 *   - a token seen and accepted recently: one map lookup (the hot path; kept until its exp);
 *   - a static token (`alk_…`, any configured hash): the SHA-256 map, as before;
 *   - a JWT (with `oauth` configured): verified locally (jwt-verifier.ts);
 *   - another opaque token (with `oauth.introspection`): RFC 7662 introspection.
 * A verified token then maps to an agent by its claims (claims-mapping.ts). The answer is a value:
 * the agent, or a TokenRefusal the front turns into 401/403/503 with `WWW-Authenticate`.
 */
import type { OAuthSpec } from '../config/oauth-schema.js';
import type { Logger } from '../log.js';
import { describeFacts, mapToAgent, tokenFacts, type TokenFacts } from './claims-mapping.js';
import { createIntrospector, type Introspector } from './introspection.js';
import { createJwtVerifier, looksLikeJwt, type JwtVerifier } from './jwt-verifier.js';
import { TokenCache } from './token-cache.js';
import { TokenRefusal, invalidToken } from './token-refusal.js';
import type { Agent, Authenticator } from './tokens.js';

export type AuthOutcome = { ok: true; agent: Agent } | { ok: false; refusal: TokenRefusal };

export interface RequestAuthenticator {
  /** Whether OAuth is configured (the 401 then points at the protected-resource metadata). */
  readonly oauth: boolean;
  /** Synchronous when the answer is known without I/O (cached, static or missing token). */
  check(token: string | undefined): AuthOutcome | Promise<AuthOutcome>;
}

export interface RequestAuthenticatorOptions {
  staticTokens: Authenticator;
  oauth: OAuthSpec | undefined;
  log: Logger;
  now?: () => number;
}

const maxTokenLength = 16_384;

export function createRequestAuthenticator(options: RequestAuthenticatorOptions): RequestAuthenticator {
  const { staticTokens, oauth, log } = options;
  const now = options.now ?? Date.now;
  const missing = (): AuthOutcome => ({
    ok: false,
    refusal: new TokenRefusal(
      401,
      undefined,
      oauth
        ? 'Missing credentials: sign in with the authorization server named in this resource\'s metadata (WWW-Authenticate resource_metadata), or send "Authorization: Bearer <token>" with a token your Airlock operator issued.'
        : 'Missing credentials: send "Authorization: Bearer <token>" with the token your Airlock operator issued (airlock agents token NAME).',
    ),
  });
  const unknownStatic = (): AuthOutcome => ({
    ok: false,
    refusal: invalidToken('Unknown or revoked token: check the token your Airlock operator issued for this agent.'),
  });
  if (!oauth) {
    return {
      oauth: false,
      check(token) {
        if (token === undefined || token === '') return missing();
        const agent = staticTokens.authenticate(token);
        return agent ? { ok: true, agent } : unknownStatic();
      },
    };
  }

  const audiences = oauth.audience === undefined ? [oauth.resource] : Array.isArray(oauth.audience) ? oauth.audience : [oauth.audience];
  const issuer = oauth.issuer ?? oauth.authorizationServers[0];
  const jwt: JwtVerifier = createJwtVerifier(oauth);
  const introspection = oauth.introspection;
  const introspector: Introspector | undefined = introspection ? createIntrospector(introspection, audiences, issuer) : undefined;
  const verified = new TokenCache<Agent>(oauth.tokenCacheSize, now);
  /** Tokens being verified right now: concurrent first requests with one token share one verification. */
  const inFlight = new Map<string, Promise<AuthOutcome>>();

  const toAgent = (facts: TokenFacts, via: string): Agent => {
    const missingScopes = oauth.requiredScopes.filter((s) => !facts.scopes.includes(s));
    if (missingScopes.length > 0) {
      throw new TokenRefusal(
        403,
        'insufficient_scope',
        `The access token lacks the scope(s) ${missingScopes.join(', ')} this resource requires: sign in again asking for them.`,
        {
          scope: oauth.requiredScopes.join(' '),
        },
      );
    }
    const name = mapToAgent(facts, oauth.agents);
    const agent = name === undefined ? undefined : staticTokens.agents.get(name);
    if (!agent) {
      throw new TokenRefusal(
        403,
        undefined,
        `The access token is valid but maps to no Airlock agent (it carries ${describeFacts(facts, oauth.groupsClaim)}): ask your Airlock operator to map one of these under oauth.agents.`,
      );
    }
    log.debug({ agent: agent.name, via, clientId: facts.clientId, sub: facts.sub }, 'OAuth access token accepted');
    const principal = `sub ${JSON.stringify(facts.sub ?? '')}${facts.clientId === undefined ? '' : ` (client ${JSON.stringify(facts.clientId)})`}`;
    return { ...agent, principal };
  };

  const verify = async (token: string): Promise<AuthOutcome> => {
    try {
      if (looksLikeJwt(token)) {
        const claims = await jwt.verify(token);
        const facts = tokenFacts(claims, oauth.groupsClaim);
        const agent = toAgent(facts, 'jwt');
        verified.set(token, agent, (facts.exp ?? 0) * 1_000);
        return { ok: true, agent };
      }
      if (!introspector || !introspection) return unknownStatic();
      const claims = await introspector.introspect(token);
      const facts = tokenFacts(claims, oauth.groupsClaim);
      const agent = toAgent(facts, 'introspection');
      const until = now() + introspection.cacheTtl;
      verified.set(token, agent, facts.exp === undefined ? until : Math.min(until, facts.exp * 1_000));
      return { ok: true, agent };
    } catch (error) {
      if (error instanceof TokenRefusal) {
        if (error.status === 503) log.warn({ err: error.message }, 'an access token could not be checked');
        return { ok: false, refusal: error };
      }
      throw error;
    }
  };

  return {
    oauth: true,
    check(token) {
      if (token === undefined || token === '') return missing();
      const cached = verified.get(token);
      if (cached) return { ok: true, agent: cached };
      const agent = staticTokens.authenticate(token);
      if (agent) return { ok: true, agent };
      if (token.length > maxTokenLength) return { ok: false, refusal: invalidToken('The access token is too long to be one this resource accepts.') };
      let pending = inFlight.get(token);
      if (!pending) {
        pending = verify(token).finally(() => inFlight.delete(token));
        inFlight.set(token, pending);
      }
      return pending;
    },
  };
}
