/**
 * `airlock doctor`'s OAuth check: with `oauth` configured, the issuer's signing keys must be
 * reachable the way the gateway finds them (discovery metadata, or `oauth.jwksUri`), or no JWT
 * access token can be accepted. Reads only; nothing is changed.
 */
import type { DoctorFinding } from '../channel-plugin.js';
import type { LoadedConfig } from '../config/load.js';
import { fetchIssuerMetadata } from '../identity/issuer-metadata.js';

export async function checkOAuth(config: LoadedConfig): Promise<DoctorFinding[]> {
  const oauth = config.oauth;
  if (!oauth) return [];
  const issuer = oauth.issuer ?? oauth.authorizationServers[0] ?? '';
  const subject = 'oauth';
  let jwksUri = oauth.jwksUri;
  try {
    if (jwksUri === undefined) {
      const metadata = await fetchIssuerMetadata(issuer);
      if (typeof metadata.jwks_uri !== 'string') {
        return [{ severity: 'fail', subject, message: `${issuer} publishes no jwks_uri in its metadata`, fix: "set oauth.jwksUri to the IdP's key set URL" }];
      }
      jwksUri = metadata.jwks_uri;
    }
    const response = await fetch(jwksUri, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(5_000) });
    const body = (await response.json().catch(() => ({}))) as { keys?: unknown };
    const keys = Array.isArray(body.keys) ? body.keys.length : 0;
    if (!response.ok || keys === 0) {
      return [{ severity: 'fail', subject, message: `no signing keys at ${jwksUri} (HTTP ${response.status})`, fix: 'check oauth.jwksUri / oauth.issuer' }];
    }
    return [
      {
        severity: 'ok',
        subject,
        message: `tokens from ${issuer} for ${oauth.resource}: ${keys} signing key(s) at ${jwksUri}; ${oauth.agents.length} mapping(s) to agents`,
      },
    ];
  } catch (error) {
    return [
      {
        severity: 'fail',
        subject,
        message: error instanceof Error ? error.message : String(error),
        fix: `check that ${issuer} is reachable from here, or set oauth.jwksUri`,
      },
    ];
  }
}
