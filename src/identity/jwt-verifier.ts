/**
 * Local validation of JWT access tokens (RFC 9068 and the IdPs' own JWT tokens) with `jose`:
 * the signature against the issuer's JWKS (fetched once, cached, refetched on an unknown `kid`
 * with a cooldown, so key rotation needs no restart), then `iss`, `aud` = this resource, `exp`
 * and `nbf` with a small clock tolerance, and only the allowed (asymmetric) algorithms.
 * Each refusal says which check failed and what to do, for `WWW-Authenticate` and the agent.
 */
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import { asymmetricAlgorithms, type OAuthSpec } from '../config/oauth-schema.js';
import { fetchIssuerMetadata } from './issuer-metadata.js';
import { TokenRefusal, cannotCheck, invalidToken } from './token-refusal.js';

type KeySet = ReturnType<typeof createRemoteJWKSet>;

export interface JwtVerifier {
  /** The verified claims; throws a TokenRefusal saying which check failed. */
  verify(token: string): Promise<JWTPayload>;
}

/** Three base64url parts: a JWS in compact form (what JWT access tokens are). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

export function createJwtVerifier(spec: OAuthSpec): JwtVerifier {
  const issuer = spec.issuer ?? spec.authorizationServers[0] ?? '';
  const audience = spec.audience ?? spec.resource;
  const audiences = Array.isArray(audience) ? audience : [audience];
  const algorithms = spec.algorithms ?? [...asymmetricAlgorithms];
  const clockToleranceSec = Math.round(spec.clockTolerance / 1_000);
  let keySet: Promise<KeySet> | undefined;

  const keys = (): Promise<KeySet> => {
    keySet ??= jwksUrl(spec, issuer)
      .then((url) => createRemoteJWKSet(new URL(url), { timeoutDuration: 5_000, cooldownDuration: spec.jwksCooldown, cacheMaxAge: 10 * 60_000 }))
      .catch((error: unknown) => {
        keySet = undefined; // a failed discovery is retried by the next token, never kept
        throw error;
      });
    return keySet;
  };

  return {
    async verify(token) {
      let unverified: JWTPayload;
      try {
        unverified = decodeJwt(token);
      } catch (error) {
        throw invalidToken('The access token is not a well-formed JWT: get a new one from the authorization server.', error);
      }
      // Checked before the signature, so a token from another issuer is named as such (not as "unknown key").
      if (unverified.iss !== issuer) {
        throw invalidToken(
          `The access token was issued by ${JSON.stringify(String(unverified.iss ?? '(no iss)').slice(0, 200))}, not by ${issuer}: sign in with the authorization server this resource names in its metadata.`,
        );
      }
      try {
        // exp is required (RFC 9068): a token that never expires would be accepted, and cached, forever.
        const { payload } = await jwtVerify(token, await keys(), {
          issuer,
          audience: audiences,
          algorithms,
          clockTolerance: clockToleranceSec,
          requiredClaims: ['exp'],
        });
        return payload;
      } catch (error) {
        throw refusalFor(error, unverified, audiences);
      }
    },
  };
}

async function jwksUrl(spec: OAuthSpec, issuer: string): Promise<string> {
  if (spec.jwksUri !== undefined) return spec.jwksUri;
  const metadata = await fetchIssuerMetadata(issuer);
  if (typeof metadata.jwks_uri !== 'string') {
    throw cannotCheck(`The authorization server ${issuer} publishes no jwks_uri in its metadata: set oauth.jwksUri in the Airlock config.`);
  }
  return metadata.jwks_uri;
}

/** One specific refusal per failed check; faults reaching the keys are 503, not the token's fault. */
function refusalFor(error: unknown, claims: JWTPayload, audiences: readonly string[]) {
  if (error instanceof errors.JWTExpired) {
    const at = typeof claims.exp === 'number' ? ` at ${new Date(claims.exp * 1_000).toISOString()}` : '';
    return invalidToken(`The access token expired${at}: refresh it or sign in again.`, error);
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') {
      const got = JSON.stringify(claims.aud ?? '(none)').slice(0, 200);
      return invalidToken(
        `The access token is for audience ${got}, not for this resource (${audiences.join(' or ')}): request a token with resource=${audiences[0] ?? ''}.`,
        error,
      );
    }
    if (error.claim === 'nbf') return invalidToken('The access token is not valid yet (nbf is in the future): check the clocks, or retry shortly.', error);
    if (error.claim === 'iss') return invalidToken('The access token was issued by another authorization server than the one this resource trusts.', error);
    return invalidToken(`The access token's "${error.claim}" claim is not acceptable (${error.reason}).`, error);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return invalidToken('The access token signature is invalid: the token was altered or not signed by the authorization server.', error);
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return invalidToken('The access token is signed with a key the authorization server does not publish (unknown kid): sign in again.', error);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return invalidToken('The access token is signed with an algorithm this resource does not accept.', error);
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return invalidToken(`The access token is malformed (${error.message}): get a new one.`, error);
  }
  if (error instanceof TokenRefusal) return error;
  const why = error instanceof Error ? error.message : String(error);
  return cannotCheck(`Airlock could not fetch the authorization server's signing keys (${why}); retry shortly.`, error);
}
