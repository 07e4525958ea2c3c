/**
 * `airlock doctor`'s look at dashboard sign-in through the identity provider: the client secret's
 * variable is set, the provider's discovery document answers (read by the same openid-client
 * call the gateway makes, so an issuer mismatch shows here too), and it supports what Airlock
 * asks for — the code flow, PKCE S256, the configured scopes — and says whether it can end its
 * own session at sign-out. The client secret itself can only be proven by a sign-in.
 */
import * as oidc from 'openid-client';
import type { DoctorFinding } from '../channel-plugin.js';
import { readEnvSettings, type EnvSettings, type LoadedConfig } from '../config/load.js';
import { resolveOidcDeps } from '../dashboard/oidc-deps.js';
import { isAirlockError } from '../errors.js';

const subject = 'dashboard sign-in';

export async function checkDashboardOidc(
  config: Pick<LoadedConfig, 'publicUrl' | 'dashboard'>,
  env: Pick<EnvSettings, 'variable'> = readEnvSettings(),
): Promise<DoctorFinding[]> {
  const spec = config.dashboard.oidc;
  if (!spec) return [];
  let redirectUri: string;
  try {
    const deps = resolveOidcDeps(config, env);
    if (!deps) return [];
    redirectUri = deps.redirectUri;
  } catch (error) {
    if (!isAirlockError(error)) throw error;
    return [{ severity: 'fail', subject, message: error.message, fix: `export ${spec.clientSecretEnv ?? 'the variable'} in the gateway's environment` }];
  }
  const issuer = new URL(spec.issuer);
  let metadata: oidc.ServerMetadata;
  try {
    const configuration = await oidc.discovery(issuer, spec.clientId, undefined, oidc.None(), {
      timeout: 10,
      ...(issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
    });
    metadata = configuration.serverMetadata();
  } catch (error) {
    return [
      {
        severity: 'fail',
        subject,
        message: `${spec.issuer} did not answer its discovery document (${error instanceof Error ? error.message : String(error)}): nobody can sign in with ${spec.displayName}`,
        fix: 'check dashboard.oidc.issuer (Okta https://ORG.okta.com[/oauth2/default], Entra https://login.microsoftonline.com/TENANT/v2.0, Keycloak https://HOST/realms/REALM) and that the gateway can reach it',
      },
    ];
  }
  const findings: DoctorFinding[] = [
    { severity: 'ok', subject, message: `${spec.issuer} answers; people come back to ${redirectUri} (register exactly this at the provider)` },
  ];
  if (metadata.response_types_supported && !metadata.response_types_supported.includes('code')) {
    findings.push({
      severity: 'fail',
      subject,
      message: 'the provider does not offer the authorization code flow (response_type "code")',
      fix: 'enable the authorization code grant for the client',
    });
  }
  const pkce = metadata.code_challenge_methods_supported;
  if (pkce && !pkce.includes('S256')) {
    findings.push({
      severity: 'fail',
      subject,
      message: `the provider does not offer PKCE S256 (only ${pkce.join(', ') || 'none'})`,
      fix: 'enable PKCE (S256) at the provider',
    });
  }
  const unknown = metadata.scopes_supported ? spec.scopes.filter((scope) => !metadata.scopes_supported?.includes(scope)) : [];
  if (unknown.length > 0) {
    findings.push({
      severity: 'warn',
      subject,
      message: `the provider does not list the scope(s) ${unknown.join(', ')}; it may refuse the sign-in`,
      fix: 'remove them from dashboard.oidc.scopes, or create them at the provider (e.g. a "groups" client scope in Keycloak)',
    });
  }
  if (!metadata.end_session_endpoint) {
    findings.push({ severity: 'info', subject, message: 'the provider has no end_session_endpoint: signing out ends the Airlock session only' });
  }
  return findings;
}
