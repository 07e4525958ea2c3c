/**
 * What the dashboard needs from the rest of the gateway, as narrow ports in the dashboard's own
 * terms. The approvals core, the audit store and the rate limiter satisfy theirs structurally;
 * the policy port is adapted from the policy engine and the agent directory (gateway-ports.ts).
 * Keeping these small lets the dashboard be tested with real parts and lets those parts change
 * behind them.
 */
import type { Readable } from 'node:stream';
import type { ApprovalChannels } from '../approvals/ports.js';
import type { CallEvent, CallReadOptions } from '../audit/call-reader.js';
import type { AuditEvent, AuditEventInput, AuditEventType } from '../audit/types.js';
import type { OidcSpec } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { LimitUsage } from '../limits/redis-limiter.js';
import type { PolicyFileInfo, PolicyToolInfo } from '../policy/policy-info.js';
import type { Decision } from '../policy/types.js';
import type { Redis } from '../state/redis.js';
import type { DashboardRole } from './roles.js';

/** The approvals' channels port: the same decide() as Slack, the API and the CLI. */
export type DashboardApprovals = Pick<ApprovalChannels, 'list' | 'get' | 'decide' | 'decideEdited' | 'listGrants' | 'revokeGrant'>;

/** Which audit events to read; times are epoch ms, inclusive. */
export interface DashboardAuditFilter {
  agent?: string;
  tool?: string;
  type?: readonly AuditEventType[];
  since?: number;
  until?: number;
}

export type DashboardExportFormat = 'jsonl' | 'csv';

/** The audit history (AuditStore): newest-first pages, a streamed export, one held call's story. */
export interface DashboardAudit {
  /** One page, newest first; `nextCursor` continues below the last event returned. */
  query(query: DashboardAuditFilter & { limit?: number; cursor?: string }): Promise<{ events: AuditEvent[]; nextCursor?: string }>;
  /** The export, oldest first, as whole lines of text (CSV starts with its header row). */
  exportStream(options: DashboardAuditFilter & { format: DashboardExportFormat }): Readable | AsyncIterable<string>;
  /** Every event of one held call, oldest first. */
  story(approvalId: string): Promise<AuditEvent[]>;
  /** The calls of the history (the fields a policy replay reads), oldest first, in chunks. */
  calls(options: CallReadOptions): AsyncIterable<CallEvent[]>;
  /** Records an event (sign-ins: break-glass admin logins, identity-provider sign-ins). */
  append(event: AuditEventInput): Promise<void>;
}

/** One counter's state in its current window: the rate limiter's own `inspect()` rows. */
export type DashboardLimitUsage = Omit<LimitUsage, 'resetsAt'>;

/** The rate limiter (RedisRateLimiter). */
export interface DashboardLimits {
  inspect(filter?: { agent?: string }): Promise<DashboardLimitUsage[]>;
}

/** One tools entry of a loaded policy, described for people: the engine's own description. */
export type DashboardPolicyTool = Omit<PolicyToolInfo, 'onStateError'>;

/** One loaded policy file: the engine's own description, minus what the dashboard does not show. */
export type DashboardPolicyFile = Omit<PolicyFileInfo, 'hideDenied' | 'onStateError' | 'tools'> & { tools: DashboardPolicyTool[] };

/** The policy engine, seen from the dashboard. */
export interface DashboardPolicy {
  info(): DashboardPolicyFile[];
  /** Configured agent names, for the explain form. */
  agentNames(): string[];
  /** What the policy would decide for this agent's call, with its trace. Pure; nothing is counted. */
  explain(agent: string, tool: string, args: Record<string, unknown>): Decision;
}

/** A dashboard login from the config: `dashboard.users.<name>`. */
export interface DashboardUserSpec {
  /** SHA-256 (hex) of the user's dashboard token. */
  tokenSha256: string;
  /** When set, the user decides as this Slack user, so the policy's approver list applies. */
  slackUserId?: string | undefined;
  /** What the user may do in the dashboard (roles.ts); default `viewer`. */
  role?: DashboardRole | undefined;
}

/** OIDC sign-in, resolved by the gateway from `dashboard.oidc` and the environment. */
export interface OidcDeps {
  spec: OidcSpec;
  clientSecret: string | undefined;
  redirectUri: string;
  /** Where the provider returns people after signing out there. */
  postLogoutRedirectUri: string;
}

/** Everything `dashboardRouter` needs. */
export interface DashboardDeps {
  approvals: DashboardApprovals;
  audit: DashboardAudit;
  policy: DashboardPolicy;
  limits: DashboardLimits;
  /** Sessions and flash messages live here so any replica serves any session (fail-fast connection). */
  redis: Redis;
  /** Key prefix from the config (`airlock:`). */
  prefix: string;
  /** AIRLOCK_ADMIN_TOKEN; undefined disables the admin login. */
  adminToken: string | undefined;
  /** `dashboard.users` from the config. */
  users: Readonly<Record<string, DashboardUserSpec>>;
  /** `dashboard.sessionTtl`: a session ends this long after login, whatever the activity. */
  sessionTtlMs: number;
  /** Add `Secure` to cookies even on plain HTTP (behind a TLS-terminating proxy). Default: only on HTTPS requests. */
  secureCookies?: boolean;
  /** `dashboard.oidc` with its client secret and redirect URI resolved: people sign in at the identity provider. */
  oidc?: OidcDeps | undefined;
  /** `dashboard.trustProxy` as a hop count: 0 uses the socket address, N the N-th X-Forwarded-For entry from the right. */
  trustProxyHops?: number;
  log: Logger;
  now?: () => number;
}
