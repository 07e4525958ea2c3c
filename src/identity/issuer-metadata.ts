/**
 * The authorization server's metadata (RFC 8414, else OpenID Connect discovery), read once for
 * the `jwks_uri` when the config gives none. A failed read is not kept: the next token tries again.
 */
import { cannotCheck } from './token-refusal.js';

export interface IssuerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
}

/** The discovery URLs to try, in order: RFC 8414 (path inserted after the host), then OIDC (path appended). */
export function discoveryUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  return [`${url.origin}/.well-known/oauth-authorization-server${path}`, `${url.origin}${path}/.well-known/openid-configuration`];
}

/** Fetches the first metadata document that answers; throws a 503 TokenRefusal when none does. */
export async function fetchIssuerMetadata(issuer: string, timeoutMs = 5_000): Promise<IssuerMetadata> {
  const tried: string[] = [];
  for (const url of discoveryUrls(issuer)) {
    try {
      const response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) {
        await response.body?.cancel();
        tried.push(`${url}: HTTP ${response.status}`);
        continue;
      }
      const body: unknown = await response.json();
      if (body === null || typeof body !== 'object' || typeof (body as { issuer?: unknown }).issuer !== 'string') {
        tried.push(`${url}: not a metadata document`);
        continue;
      }
      return body as IssuerMetadata; // an object with a string issuer, checked above; other fields are read with checks
    } catch (error) {
      tried.push(`${url}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw cannotCheck(`Airlock could not read the authorization server's metadata to find its signing keys (${tried.join('; ')}). Retry shortly.`);
}
