/**
 * Opaque access tokens checked with the authorization server's RFC 7662 introspection endpoint
 * (HTTP Basic with Airlock's own client). An active answer is kept briefly — `cacheTtl`, never
 * beyond the token's `exp` — in a bounded cache; an inactive answer or a failure never is, so a
 * revoked token stops working within `cacheTtl` and an outage does not pin a refusal.
 */
import type { OAuthSpec } from '../config/oauth-schema.js';
import { cannotCheck, invalidToken } from './token-refusal.js';

type IntrospectionSpec = NonNullable<OAuthSpec['introspection']>;

export interface Introspector {
  /** The active token's claims; throws a TokenRefusal (inactive, wrong audience, or the endpoint failed). */
  introspect(token: string): Promise<Record<string, unknown>>;
}

export function createIntrospector(spec: IntrospectionSpec, audiences: readonly string[], issuer: string | undefined): Introspector {
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(spec.clientId)}:${encodeURIComponent(spec.clientSecret)}`).toString('base64')}`;
  return {
    async introspect(token) {
      let response: Response;
      try {
        response = await fetch(spec.url, {
          method: 'POST',
          headers: { authorization: basic, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
          signal: AbortSignal.timeout(spec.timeout),
        });
      } catch (error) {
        throw cannotCheck(
          `Airlock could not reach the token introspection endpoint (${error instanceof Error ? error.message : String(error)}); retry shortly.`,
          error,
        );
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw cannotCheck(`The token introspection endpoint answered HTTP ${response.status} (check oauth.introspection's client); retry shortly.`);
      }
      const answer: unknown = await response.json().catch(() => undefined);
      if (answer === null || typeof answer !== 'object') throw cannotCheck('The token introspection endpoint answered something that is not JSON.');
      const claims = answer as Record<string, unknown>; // a JSON object, checked above; fields are read with checks
      if (claims['active'] !== true)
        throw invalidToken('The access token is not active (expired, revoked or unknown to the authorization server): sign in again.');
      if (issuer !== undefined && claims['iss'] !== undefined && claims['iss'] !== issuer) {
        throw invalidToken(`The access token was issued by ${JSON.stringify(claims['iss']).slice(0, 200)}, not by ${issuer}.`);
      }
      const aud = claims['aud'];
      if (aud === undefined && spec.requireAudience) {
        throw invalidToken(
          'The introspection answer names no audience, so Airlock cannot tell the token is for this resource (set oauth.introspection.requireAudience to false if your IdP never sends aud).',
        );
      }
      if (aud !== undefined) {
        const list = Array.isArray(aud) ? aud : [aud];
        if (!list.some((a) => typeof a === 'string' && audiences.includes(a))) {
          throw invalidToken(`The access token is for audience ${JSON.stringify(aud).slice(0, 200)}, not for this resource (${audiences.join(' or ')}).`);
        }
      }
      return claims;
    },
  };
}
