/**
 * `dashboard.oidc` resolved for the dashboard: the client secret read from the environment
 * variable the config names (never from the file), the redirect URI (configured, or derived from
 * `publicUrl`) and where the provider returns people after signing out. A named but unset
 * variable stops the start with a message naming it.
 */
import type { EnvSettings } from '../config/load.js';
import { oidcRedirectUri, type Config } from '../config/schema.js';
import { AirlockError } from '../errors.js';
import type { OidcDeps } from './ports.js';

export function resolveOidcDeps(config: Pick<Config, 'publicUrl' | 'dashboard'>, env: Pick<EnvSettings, 'variable'>): OidcDeps | undefined {
  const spec = config.dashboard.oidc;
  if (!spec) return undefined;
  const redirectUri = oidcRedirectUri(config);
  // The schema already insists on one of the two; this keeps the types honest.
  if (redirectUri === undefined) throw new AirlockError('config_invalid', 'dashboard.oidc needs redirectUri or the top-level publicUrl');
  let clientSecret: string | undefined;
  if (spec.clientSecretEnv !== undefined) {
    clientSecret = env.variable?.(spec.clientSecretEnv);
    if (clientSecret === undefined || clientSecret === '') {
      throw new AirlockError(
        'config_invalid',
        `dashboard.oidc.clientSecretEnv names ${spec.clientSecretEnv}, which is unset: set it to the client secret the identity provider gave Airlock (or remove clientSecretEnv for a public client)`,
      );
    }
  }
  const postLogoutRedirectUri = spec.postLogoutRedirectUri ?? new URL('/login', redirectUri).href;
  return { spec, clientSecret, redirectUri, postLogoutRedirectUri };
}
