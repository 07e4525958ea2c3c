/**
 * The shape of `airlock.config.json`, parsed by zod at the edge. Upstreams use the `mcpServers`
 * format MCP clients already use, so an operator can paste an existing client config. Secrets
 * (Slack tokens, the admin token) are never read from this file, only from the environment.
 */
import { z } from 'zod';
import { byteSize, durationMs, durationMsDefault } from './schema-parts.js';
import { OAuthSchema, UpstreamAuthSchema } from './oauth-schema.js';

const upstreamName = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'upstream names use letters, digits, "_" and "-" (at most 32), because they prefix tool names');

const StdioUpstreamSchema = z.strictObject({
  type: z.literal('stdio').optional(),
  command: z.string().min(1, 'command must name the program to start'),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().optional(),
  /** Deadline for one tools/call to this upstream. */
  callTimeout: durationMsDefault('120s'),
  /**
   * `shared` (default): one child for every agent session — tools, resources, prompts, progress,
   * list_changed and subscriptions route exactly; requests the server sends back (sampling,
   * elicitation, roots) are refused, since a shared pipe cannot say which agent caused them.
   * `per-agent`: a child process per agent session, so those requests, its log level and its
   * per-session state belong to exactly one agent (a process per session: mind the memory).
   */
  session: z.enum(['per-agent', 'shared']).default('shared'),
});

const HttpUpstreamSchema = z
  .strictObject({
    type: z.enum(['http', 'streamable-http', 'streamableHttp']).optional(),
    url: z.url({ error: 'url must be an absolute http(s) URL of the upstream MCP endpoint' }),
    headers: z.record(z.string(), z.string()).default({}),
    callTimeout: durationMsDefault('120s'),
    /** Airlock fetches (and refreshes) its own tokens for this upstream: sent as `Authorization: Bearer`. */
    auth: UpstreamAuthSchema.optional(),
  })
  .refine((spec) => spec.auth === undefined || !Object.keys(spec.headers).some((h) => h.toLowerCase() === 'authorization'), {
    message: 'give either "auth" or an Authorization header, not both: with "auth", Airlock sends the token it fetched',
    path: ['auth'],
  });

export type StdioUpstreamSpec = z.output<typeof StdioUpstreamSchema> & { kind: 'stdio' };
export type HttpUpstreamSpec = z.output<typeof HttpUpstreamSchema> & { kind: 'http' };
export type UpstreamSpec = StdioUpstreamSpec | HttpUpstreamSpec;

/** `{command,…}` is a stdio child, `{url,…}` a Streamable HTTP server; the key decides which schema applies. */
const UpstreamSchema = z.unknown().transform((value, ctx): UpstreamSpec => {
  const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
  if (!isObject || (!('command' in value) && !('url' in value))) {
    ctx.addIssue({ code: 'custom', message: 'an upstream needs either "command" (stdio) or "url" (Streamable HTTP)' });
    return z.NEVER;
  }
  const result = 'url' in value ? HttpUpstreamSchema.safeParse(value) : StdioUpstreamSchema.safeParse(value);
  if (!result.success) {
    for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    return z.NEVER;
  }
  return 'url' in result.data ? { ...result.data, kind: 'http' } : { ...result.data, kind: 'stdio' };
});

export const slackUserId = z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'a Slack user ID looks like U012ABCDEF or W012ABCDEF');

const AgentSchema = z.strictObject({
  /**
   * SHA-256 (hex) of the agent's static bearer token; `airlock agents token NAME` prints one.
   * May be left out for an agent that only signs in with OAuth (named by an `oauth.agents` mapping).
   */
  tokenSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'tokenSha256 is 64 lowercase hex characters: run `airlock agents token NAME`')
    .optional(),
  /** Slack user who owns this agent: shown to approvers; may be barred from approving its calls. */
  owner: slackUserId.optional(),
  /** Policy file for this agent instead of the default one. */
  policy: z.string().optional(),
  description: z.string().optional(),
});

const DashboardUserSchema = z.strictObject({
  /** SHA-256 (hex) of the user's dashboard token; `airlock dashboard token NAME` prints one. */
  tokenSha256: z.string().regex(/^[0-9a-f]{64}$/, 'tokenSha256 is 64 lowercase hex characters: run `airlock dashboard token NAME`'),
  /** The user's Slack ID: decisions from the dashboard then obey the policy's approvers like Slack clicks. */
  slackUserId: slackUserId.optional(),
  description: z.string().optional(),
  /** viewer: pending calls and policy; approver: + decide and read history; admin: + export. */
  role: z.enum(['viewer', 'approver', 'admin']).default('viewer'),
});

const webhookName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'webhook endpoint and key names use lowercase letters, digits and "-" (at most 32)');

/** The name of an environment variable holding a secret: the secret itself never sits in the config file. */
const secretEnv = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'secretEnv names an environment variable (e.g. "AIRLOCK_WEBHOOK_SECRET"), not the secret itself');

/** A dotted path into an ID token's or userinfo's claims: `groups`, `realm_access.roles`, `slack_user_id`. */
const claimPath = z.string().regex(/^[A-Za-z0-9_:$-]+(\.[A-Za-z0-9_:$-]+)*$/, 'a claim name, or a dotted path into nested claims such as "realm_access.roles"');

const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]']);
/** https, or http on a loopback host (a provider on the same machine, as in tests). */
const oidcUrl = (what: string) =>
  z.url({ error: `${what} must be an absolute URL` }).refine((value) => {
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && loopbackHosts.has(url.hostname));
  }, `${what} must use https (plain http only on localhost)`);

/** The callback route the dashboard answers (dashboard/oidc-routes.ts). */
export const oidcCallbackPath = '/login/oidc/callback';

/**
 * People signing in to the dashboard at the organisation's identity provider (OpenID Connect,
 * authorization code + PKCE). Roles come from a claim holding groups; the Slack user id from
 * another claim, so dashboard decisions obey the policy's approvers like Slack clicks.
 */
const OidcSchema = z.strictObject({
  /** The issuer URL (its `/.well-known/openid-configuration` is read): Okta `https://ORG.okta.com`, Entra `https://login.microsoftonline.com/TENANT/v2.0`, Keycloak `https://HOST/realms/REALM`. */
  issuer: oidcUrl('dashboard.oidc.issuer'),
  clientId: z.string().min(1, 'clientId is the client (application) id the identity provider gave Airlock'),
  /** Environment variable holding the client secret (a confidential client); leave out for a public client (PKCE only). */
  clientSecretEnv: secretEnv.optional(),
  /** Where the provider sends people back; default `<publicUrl>/login/oidc/callback`. Register exactly this at the provider. */
  redirectUri: oidcUrl('dashboard.oidc.redirectUri')
    .refine((value) => new URL(value).pathname === oidcCallbackPath, `redirectUri must end in the path ${oidcCallbackPath} (the route Airlock answers)`)
    .optional(),
  /** Where the provider sends people after signing out there; default the dashboard's `/login` on the redirect URI's origin. */
  postLogoutRedirectUri: oidcUrl('dashboard.oidc.postLogoutRedirectUri').optional(),
  scopes: z
    .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope is one word'))
    .default(['openid', 'profile', 'email'])
    .refine((scopes) => scopes.includes('openid'), 'scopes must include "openid"'),
  /** The button says "Sign in with <displayName>". */
  displayName: z.string().trim().min(1).max(60).default('single sign-on'),
  /** The claim (dotted path) whose value, a string or a list of strings, is matched against `roles`. */
  groupsClaim: claimPath.default('groups'),
  /** Which `groupsClaim` values give which dashboard role; the highest role any value maps to wins. Nobody else may sign in. */
  roles: z
    .strictObject({
      viewer: z.array(z.string().min(1)).default([]),
      approver: z.array(z.string().min(1)).default([]),
      admin: z.array(z.string().min(1)).default([]),
    })
    .refine(
      (roles) => roles.viewer.length + roles.approver.length + roles.admin.length > 0,
      'map at least one group to a role, e.g. { "approver": ["airlock-approvers"] }',
    ),
  /** The claim (dotted path) holding the person's Slack user id (U…/W…): their dashboard decisions count as that Slack user's. */
  slackUserIdClaim: claimPath.optional(),
  /** The claim shown as the person's name; default: name, then preferred_username, then email, then sub. */
  nameClaim: claimPath.optional(),
  /** A dashboard session from the provider ends this long after sign-in at the latest (also bounded by the provider's tokens). */
  maxSession: durationMs()
    .prefault('12h')
    .refine((ms) => ms >= 1_000, 'maxSession must be at least 1s'),
  /** How often a session is checked again at the provider (refresh token grant, else userinfo); someone removed there loses access within about this long. */
  revalidateEvery: durationMs()
    .prefault('5m')
    .refine((ms) => ms >= 1_000, 'revalidateEvery must be at least 1s'),
  /** Read claims from the userinfo endpoint too (some providers put groups only there). */
  userinfo: z.boolean().default(true),
});

const WebhookEndpointSchema = z.strictObject({
  url: z.url({ error: 'url is the absolute http(s) URL the webhook receiver listens on' }).refine((u) => /^https?:\/\//.test(u), 'url must be http(s)'),
  /** Environment variable with the HMAC secret requests to this receiver are signed with (at least 16 characters). */
  secretEnv,
  /** Only approvals whose policy `approval.channel` is one of these; default: every approval. */
  channels: z.array(z.string().min(1)).optional(),
  /** Deadline for one POST; a slower receiver counts as a failed attempt and is retried. */
  timeout: durationMsDefault('10s'),
});

const WebhookKeySchema = z.strictObject({
  /** Environment variable with the HMAC secret this key signs decisions with (at least 16 characters). */
  secretEnv,
  /** The Slack user ID this key decides as: the policy's approvers and quorum apply to it exactly as to that user's clicks. */
  identity: slackUserId,
  /** Display name recorded with its decisions (default: the key's name). */
  name: z.string().min(1).max(80).optional(),
});

const byteCount = z.number().int().min(1_024, 'at least 1024 bytes');

const ConfigObject = z.strictObject({
  $schema: z.string().optional(),
  port: z.number().int().min(0).max(65_535).default(8080),
  host: z.string().default('0.0.0.0'),
  /** How people reach this gateway (`https://airlock.example.com`): the base of the dashboard links in log lines. */
  publicUrl: z.url({ error: 'publicUrl is the absolute http(s) URL people use to reach this gateway' }).optional(),
  redis: z
    .strictObject({
      /**
       * `redis://…`, `rediss://…`, `redis+sentinel://host:26379[,host:26379…]/master`; `"embedded"` starts a redis-server child next to this file.
       * Unset: the Redis on 127.0.0.1:6379 when one answers there, else embedded (`airlock serve`).
       */
      url: z
        .string()
        .regex(
          /^(rediss?:\/\/.+|redis\+(sentinel|cluster):\/\/.+|embedded)$/,
          'redis.url is a redis:// or rediss:// URL, a redis+sentinel://HOST:PORT[,HOST:PORT]/MASTER or redis+cluster://HOST:PORT[,HOST:PORT] URL, or "embedded" (Airlock starts its own redis-server); leave it out to use 127.0.0.1:6379 or else embedded',
        )
        .optional(),
      /** Every key Airlock writes starts with this, so one Redis can serve several deployments. */
      prefix: z.string().default('airlock:'),
    })
    .prefault({}),
  mcpServers: z.record(upstreamName, UpstreamSchema).refine((servers) => Object.keys(servers).length > 0, 'configure at least one upstream under "mcpServers"'),
  agents: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'agent names use letters, digits, ".", "_" and "-"'), AgentSchema).default({}),
  /** Default policy file (relative to the config file); agents may name their own. */
  policy: z.string().optional(),
  policyWatch: z.boolean().default(true),
  approvals: z
    .strictObject({
      /** Timeout when a policy gives none: then the call is denied as expired. */
      defaultTimeout: durationMsDefault('15m'),
      /** Answer "approval pending, retry" before typical client timeouts when progress can't keep the call alive. */
      answerPendingAfter: durationMsDefault('50s'),
      /** How often a held call sends notifications/progress. */
      progressInterval: durationMsDefault('5s'),
      /** How long an approved call waits for its identical retry, and how long its outcome and result are kept for identical retries. */
      retryValidity: durationMsDefault('10m'),
      /** A held call whose (redacted) canonical arguments exceed this is refused: an approver must be able to read all of it. */
      maxArgumentsBytes: byteCount.default(65_536),
      /** A running approved call's claim lapses (→ outcome_unknown) this long after its replica last renewed it; renewed every third of it. */
      executionLease: durationMs()
        .prefault('30s')
        .refine((ms) => ms >= 300, 'executionLease must be at least 300ms (it is renewed every third of it)'),
      /** Results larger than this (as JSON) are kept for retries as a truncated copy, flagged as such. */
      maxStoredResult: byteSize().prefault('256kb'),
      /** Most execution outcomes held in memory while Redis is unreachable (then the oldest is given up, logged and counted). */
      pendingOutcomes: z.number().int().min(1).max(1_000_000).default(10_000),
    })
    .prefault({}),
  slack: z
    .strictObject({
      /** Channel for approval requests when the policy names none ("" from an unset ${VAR:-} means none). */
      defaultChannel: z
        .string()
        .optional()
        .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim())),
      /** Least time between two messages to one Slack channel, across all replicas (Slack allows about one per second). */
      postInterval: durationMsDefault('1s'),
    })
    .prefault({}),
  webhooks: z
    .strictObject({
      /** Receivers every approval request and update is POSTed to (JSON, signed), each with its own delivery queue. */
      endpoints: z.record(webhookName, WebhookEndpointSchema).default({}),
      /** Keys that may sign decisions sent to POST /webhooks/decisions, each bound to the approver identity it acts as. */
      keys: z.record(webhookName, WebhookKeySchema).default({}),
      /** A signed decision older than this (by its timestamp) is refused, and a signature is remembered this long so it is never accepted twice. */
      replayWindow: durationMs()
        .prefault('5m')
        .refine((ms) => ms >= 10_000 && ms <= 3_600_000, 'replayWindow is between 10s and 1h'),
    })
    .prefault({}),
  audit: z
    .strictObject({
      retention: durationMs().optional(),
      /** Mirror every audit event to this JSON-lines file. */
      file: z.string().optional(),
      /** Stored arguments per event: over this, a truncated copy (the hash still covers the full arguments). */
      maxArgumentsBytes: byteCount.default(65_536),
    })
    .prefault({}),
  dashboard: z
    .strictObject({
      users: z
        .record(
          z
            .string()
            .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'dashboard user names use letters, digits, ".", "_" and "-"')
            .refine((name) => name !== 'admin', '"admin" is the name the admin token signs in with; choose another user name'),
          DashboardUserSchema,
        )
        .default({}),
      /** Sign-in at the organisation's identity provider (OpenID Connect); the admin token stays as break-glass. */
      oidc: OidcSchema.optional(),
      /** A dashboard login lasts this long; activity does not extend it. */
      sessionTtl: durationMsDefault('12h'),
      /** Mark the session cookie Secure; default: only when the request came over HTTPS. */
      secureCookies: z.boolean().optional(),
      /**
       * Reverse proxies in front of the gateway whose X-Forwarded-For to believe: false (default)
       * uses the socket address; true or 1 the right-most X-Forwarded-For entry; N the N-th from the right.
       */
      trustProxy: z
        .union([z.boolean(), z.number().int().min(0).max(10)])
        .default(false)
        .transform((value) => (value === true ? 1 : value === false ? 0 : value)),
    })
    .prefault({}),
  http: z
    .strictObject({
      bodyLimit: z
        .string()
        .regex(/^\d+(kb|mb)$/i, 'bodyLimit looks like "4mb" or "512kb"')
        .default('4mb'),
      sessionIdleTimeout: durationMsDefault('30m'),
      /**
       * Host headers /mcp accepts (DNS-rebinding protection), e.g. ["airlock.internal", "airlock.internal:8443"].
       * Default: loopback names when bound to loopback; any host otherwise (put a proxy in front).
       */
      allowedHosts: z.array(z.string().min(1)).optional(),
      /** Origins /mcp accepts from browsers, e.g. ["https://inspector.example.com"]. Default: loopback origins only. */
      allowedOrigins: z.array(z.string().min(1)).optional(),
      /** Open MCP sessions one agent may hold on a replica; the next initialize gets 429. */
      maxSessionsPerAgent: z.number().int().min(1).default(100),
      /** Open MCP sessions a replica holds in total; the next initialize gets 503. */
      maxSessions: z.number().int().min(1).default(2_000),
      /**
       * Sessions and streamed answers kept in Redis, so any replica can take a session over and a
       * client that reconnects with Last-Event-ID gets what it missed (README, "Running several replicas").
       */
      resumption: z
        .strictObject({
          enabled: z.boolean().default(true),
          /** Most events kept per session (older ones are trimmed first). */
          maxEventsPerSession: z.number().int().min(10).max(100_000).default(1_000),
          /** How long a streamed answer with no client attached keeps running before it is given up (a held call is then withdrawn). */
          resumeGrace: durationMsDefault('60s'),
          /** The reconnect delay suggested to clients (SSE `retry:`). */
          retry: durationMsDefault('1s'),
          /**
           * On shutdown, leave held calls to another replica (their clients resume there) instead of
           * answering "approval pending, retry". Only behind a load balancer with other replicas.
           */
          handOverOnShutdown: z.boolean().default(false),
        })
        .prefault({}),
    })
    .prefault({}),
  arguments: z
    .strictObject({
      /** Deepest nesting of objects and arrays in a call's arguments; deeper is invalid_arguments. */
      maxDepth: z.number().int().min(2).max(512).default(64),
    })
    .prefault({}),
  shutdownGrace: durationMsDefault('10s'),
  /** Agents signing in with OAuth access tokens (the MCP authorization spec); static tokens keep working beside it. */
  oauth: OAuthSchema,
});

/** The whole config, with the rules that span sections. */
export const ConfigSchema = ConfigObject.superRefine((config, ctx) => {
  // OAuth: every mapping names a configured agent, and every agent can sign in somehow.
  const mapped = new Set<string>();
  for (const [index, mapping] of (config.oauth?.agents ?? []).entries()) {
    mapped.add(mapping.agent);
    if (!(mapping.agent in config.agents)) {
      ctx.addIssue({
        code: 'custom',
        path: ['oauth', 'agents', index, 'agent'],
        message: `no agent "${mapping.agent}" under "agents": add it there (its policy, owner and limits apply to OAuth callers mapped to it)`,
      });
    }
  }
  for (const [name, agent] of Object.entries(config.agents)) {
    if (agent.tokenSha256 === undefined && !mapped.has(name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['agents', name, 'tokenSha256'],
        message: `agent "${name}" has no tokenSha256 and no oauth.agents mapping names it, so nothing could ever sign in as it: run \`airlock agents token ${name}\`, or map a client, subject or group to it under oauth.agents`,
      });
    }
  }
  // The redirect URI must be registered at the provider exactly, so it is never guessed from a request's Host.
  if (config.dashboard.oidc && config.dashboard.oidc.redirectUri === undefined && config.publicUrl === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['dashboard', 'oidc', 'redirectUri'],
      message: `set dashboard.oidc.redirectUri (e.g. "https://airlock.example.com${oidcCallbackPath}") or the top-level publicUrl it is derived from`,
    });
  }
});

/** The redirect URI OIDC sign-in uses: the configured one, else derived from publicUrl. */
export function oidcRedirectUri(config: Pick<Config, 'publicUrl'> & { dashboard: { oidc?: OidcSpec | undefined } }): string | undefined {
  const oidc = config.dashboard.oidc;
  if (!oidc) return undefined;
  return oidc.redirectUri ?? (config.publicUrl === undefined ? undefined : `${config.publicUrl.replace(/\/+$/, '')}${oidcCallbackPath}`);
}

export type Config = z.output<typeof ConfigSchema>;
export type AgentSpec = z.output<typeof AgentSchema>;
export type OidcSpec = z.output<typeof OidcSchema>;
export type WebhookEndpointSpec = z.output<typeof WebhookEndpointSchema>;
export type WebhookKeySpec = z.output<typeof WebhookKeySchema>;
