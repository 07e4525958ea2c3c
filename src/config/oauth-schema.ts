/**
 * The OAuth parts of `airlock.config.json`, parsed by zod at the edge:
 * - `oauth`: Airlock as an OAuth 2.1 resource server for `/mcp` (the MCP authorization spec):
 *   which authorization servers issue tokens for it, how they are validated, and which claims
 *   make a caller which of the configured `agents`;
 * - an HTTP upstream's `auth`: tokens Airlock itself fetches with the client-credentials grant.
 * Secrets (client secrets) must come from the environment, like every other secret.
 */
import { z } from 'zod';
import { durationMsDefault } from './schema-parts.js';

const httpUrl = (what: string) =>
  z.url({ error: `${what} must be an absolute http(s) URL` }).refine((u) => /^https?:\/\//i.test(u), `${what} must be an http(s) URL`);

/** JWS algorithms an access token may be signed with; "none" and HMAC (shared secrets) never. */
export const asymmetricAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

const ClaimMatchSchema = z
  .strictObject({
    /** The OAuth client the token was issued to: `client_id` (RFC 9068), else `azp` (Keycloak, Entra v2), `cid` (Okta), `appid` (Entra v1). */
    clientId: z.string().min(1).optional(),
    /** The token's subject (a user, or the client itself for client-credentials tokens). */
    sub: z.string().min(1).optional(),
    /** One value of the group claim (`groupsClaim`, default `groups`; Entra sends group object ids). */
    group: z.string().min(1).optional(),
  })
  .refine((m) => Object.values(m).filter((v) => v !== undefined).length === 1, {
    message: 'match names exactly one of "clientId", "sub" or "group"',
  });

const AgentMappingSchema = z.strictObject({
  match: ClaimMatchSchema,
  /** The name of an entry under the top-level "agents": its policy, limits, owner and audit apply. */
  agent: z.string().min(1),
});

const IntrospectionSchema = z.strictObject({
  /** RFC 7662 endpoint for opaque (non-JWT) tokens. */
  url: httpUrl('oauth.introspection.url'),
  clientId: z.string().min(1),
  /** Write "${ENV_NAME}": Airlock authenticates to the endpoint with HTTP Basic. */
  clientSecret: z.string().min(1, 'clientSecret is empty: set the environment variable it names'),
  /** How long an active answer is reused (never beyond the token's exp); failures are never kept. */
  cacheTtl: durationMsDefault('60s'),
  /** Deadline for one introspection request. */
  timeout: durationMsDefault('5s'),
  /** An answer must name this resource in `aud`; false accepts answers without `aud` (some IdPs omit it: then any token of that IdP is accepted). */
  requireAudience: z.boolean().default(true),
});

export const OAuthSchema = z
  .strictObject({
    /** This gateway's MCP endpoint as clients reach it, e.g. "https://airlock.example.com/mcp": the `resource` of RFC 9728/8707. */
    resource: httpUrl('oauth.resource'),
    /** Issuer URLs of the authorization servers clients are told to get tokens from (RFC 9728 `authorization_servers`). */
    authorizationServers: z.array(httpUrl('each authorization server')).min(1, 'name at least one authorization server (its issuer URL)'),
    /** Expected `iss` of access tokens; default: the first authorization server. */
    issuer: z.string().min(1).optional(),
    /** Where the signing keys are; default: `jwks_uri` from the issuer's discovery metadata. */
    jwksUri: httpUrl('oauth.jwksUri').optional(),
    /** Least time between two fetches of the JWKS when a token names an unknown key (rotation); bounds what junk `kid`s can cause. */
    jwksCooldown: durationMsDefault('30s'),
    /** Expected `aud` (one of them); default: `resource`. Entra ID: the Application ID URI, e.g. "api://airlock". */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** Signing algorithms accepted (default: the asymmetric ones; never "none" or HMAC). */
    algorithms: z.array(z.enum(asymmetricAlgorithms)).min(1).optional(),
    /** Leeway for `exp`/`nbf`/`iat` against clock skew between the IdP and this host. */
    clockTolerance: durationMsDefault('30s'),
    /** Advertised as `scopes_supported` (and asked for by MCP clients). */
    scopes: z.array(z.string().min(1)).default([]),
    /** Scopes a token must carry (in `scope` or `scp`); a valid token without them gets 403 insufficient_scope. */
    requiredScopes: z.array(z.string().min(1)).default([]),
    /** The claim that lists a caller's groups (`groups`; Keycloak realm roles: `realm_access.roles`, dotted paths work). */
    groupsClaim: z.string().min(1).default('groups'),
    introspection: IntrospectionSchema.optional(),
    /** Claims → agent, first match wins; a valid token that matches none is refused (403) naming what it carried. */
    agents: z.array(AgentMappingSchema).min(1, 'map at least one client, subject or group to an agent under "agents"'),
    /** Verified tokens kept (until their exp) so a busy agent's token is verified once. */
    tokenCacheSize: z.number().int().min(0).max(1_000_000).default(10_000),
  })
  .optional();

export type OAuthSpec = NonNullable<z.output<typeof OAuthSchema>>;
export type AgentMapping = z.output<typeof AgentMappingSchema>;

/** An HTTP upstream's `auth`: Airlock's own client-credentials tokens, sent as `Authorization: Bearer`. */
export const UpstreamAuthSchema = z.strictObject({
  type: z.literal('oauth_client_credentials', { error: 'auth.type is "oauth_client_credentials" (the only kind so far)' }),
  tokenUrl: httpUrl('auth.tokenUrl'),
  clientId: z.string().min(1),
  /** Write "${ENV_NAME}". */
  clientSecret: z.string().min(1, 'clientSecret is empty: set the environment variable it names'),
  /** Space-separated scopes to ask for. */
  scope: z.string().min(1).optional(),
  /** RFC 8707 `resource` to ask the token for (Keycloak, oidc-provider …). */
  resource: z.string().min(1).optional(),
  /** `audience` form parameter (Auth0, Okta custom servers). */
  audience: z.string().min(1).optional(),
  /** client_secret_basic (default, RFC 6749 §2.3.1) or client_secret_post. */
  authMethod: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
});

export type UpstreamAuthSpec = z.output<typeof UpstreamAuthSchema>;
