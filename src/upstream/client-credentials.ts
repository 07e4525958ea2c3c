/**
 * Airlock's own access tokens for an HTTP upstream that declares
 * `auth: {"type": "oauth_client_credentials", …}`: fetched from the token endpoint with the
 * client-credentials grant (RFC 6749 §4.4), kept, and refreshed before they lapse — at 80 % of
 * their lifetime, or 60 s before expiry when that is earlier, never before half of it — by a
 * timer, so an idle upstream has a fresh token too and a failing token endpoint is noticed (and
 * reported by readiness) before a call needs it. One fetch at a time (single-flight). The agent's
 * own token is never involved: upstreams see only Airlock's.
 */
import type { UpstreamAuthSpec } from '../config/oauth-schema.js';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';

/** What an HTTP upstream session needs: a current token, and a way to say the upstream refused one. */
export interface UpstreamTokenSource {
  /** A token that is not due for refresh; fetches one when needed. Throws `upstream_*` AirlockErrors. */
  token(): Promise<string>;
  /** The upstream answered 401 with `token`: it is dropped, so the next call fetches a new one. */
  rejected(token: string): void;
}

export interface ClientCredentialsOptions {
  upstream: string;
  spec: UpstreamAuthSpec;
  log: Logger;
  /** Called when a background refresh fails (the connection marks the upstream not ready with this reason). */
  onRefreshFailed?: (reason: string) => void;
  now?: () => number;
}

interface Held {
  token: string;
  refreshAtMs: number;
  expiresAtMs: number;
}

/** Without expires_in the lifetime is unknown: refresh after this long. */
const unknownLifetimeMs = 5 * 60_000;
const fetchTimeoutMs = 10_000;

/** When to refresh a token of `lifetimeMs` issued at `issuedAtMs`. */
export function refreshAt(issuedAtMs: number, lifetimeMs: number): number {
  const early = Math.min(0.8 * lifetimeMs, Math.max(lifetimeMs - 60_000, 0.5 * lifetimeMs));
  return issuedAtMs + Math.round(early);
}

export class ClientCredentialsTokens implements UpstreamTokenSource {
  private readonly options: ClientCredentialsOptions;
  private readonly now: () => number;
  private held: Held | undefined;
  private fetching: Promise<Held> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: ClientCredentialsOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  async token(): Promise<string> {
    const held = this.held;
    if (held && this.now() < held.refreshAtMs) return held.token;
    return (await this.refresh()).token;
  }

  rejected(token: string): void {
    if (this.held?.token !== token) return; // already replaced
    this.held = undefined;
    this.options.log.warn('upstream refused its access token (HTTP 401); a new one is fetched for the next request');
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** Fetches a new token, one fetch at a time; schedules the next refresh. */
  private refresh(): Promise<Held> {
    this.fetching ??= this.fetchToken()
      .then((held) => {
        this.held = held;
        this.schedule(held.refreshAtMs);
        return held;
      })
      .finally(() => {
        this.fetching = undefined;
      });
    return this.fetching;
  }

  private schedule(atMs: number): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    this.timer = setTimeout(
      () => {
        this.refresh().catch((error: unknown) => {
          const said = error instanceof AirlockError ? error.details['reason'] : undefined;
          const reason = typeof said === 'string' ? said : error instanceof Error ? error.message : String(error);
          this.options.log.warn({ err: reason }, 'upstream access token refresh failed');
          this.options.onRefreshFailed?.(reason);
        });
      },
      Math.max(0, atMs - this.now()),
    );
    this.timer.unref();
  }

  private async fetchToken(): Promise<Held> {
    const { spec, upstream } = this.options;
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    if (spec.scope !== undefined) body.set('scope', spec.scope);
    if (spec.resource !== undefined) body.set('resource', spec.resource);
    if (spec.audience !== undefined) body.set('audience', spec.audience);
    const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' };
    if (spec.authMethod === 'client_secret_basic') {
      headers['authorization'] = `Basic ${Buffer.from(`${encodeURIComponent(spec.clientId)}:${encodeURIComponent(spec.clientSecret)}`).toString('base64')}`;
    } else {
      body.set('client_id', spec.clientId);
      body.set('client_secret', spec.clientSecret);
    }
    const startedMs = this.now();
    let response: Response;
    try {
      response = await fetch(spec.tokenUrl, { method: 'POST', headers, body, signal: AbortSignal.timeout(fetchTimeoutMs) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
      throw tokenError(upstream, spec, false, `the token endpoint ${spec.tokenUrl} could not be reached (${why})`, error);
    }
    const text = await response.text();
    let answer: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed !== null && typeof parsed === 'object') answer = parsed as Record<string, unknown>; // a JSON object; fields read with checks
    } catch {
      // not JSON: reported below with the status
    }
    if (!response.ok || typeof answer['access_token'] !== 'string') {
      const error = typeof answer['error'] === 'string' ? answer['error'] : undefined;
      const description = typeof answer['error_description'] === 'string' ? `: ${answer['error_description']}` : '';
      const said = error !== undefined ? `${error}${description}` : text.slice(0, 200) || '(empty body)';
      // Refused credentials or a request the server will never accept: only a config change helps.
      const misconfigured = [400, 401, 403].includes(response.status);
      const hint = misconfigured ? `; check mcpServers.${upstream}.auth (clientId, clientSecret, scope, resource)` : '';
      throw tokenError(
        upstream,
        spec,
        misconfigured,
        `the token endpoint ${spec.tokenUrl} refused client "${spec.clientId}" (HTTP ${response.status} ${said})${hint}`,
      );
    }
    const expiresIn = typeof answer['expires_in'] === 'number' && answer['expires_in'] > 0 ? answer['expires_in'] * 1_000 : undefined;
    const lifetimeMs = expiresIn ?? unknownLifetimeMs;
    const held = { token: answer['access_token'], refreshAtMs: refreshAt(startedMs, lifetimeMs), expiresAtMs: startedMs + lifetimeMs };
    this.options.log.debug({ expiresInSec: Math.round(lifetimeMs / 1_000) }, 'upstream access token fetched');
    return held;
  }
}

function tokenError(upstream: string, spec: UpstreamAuthSpec, misconfigured: boolean, reason: string, cause?: unknown): AirlockError {
  return new AirlockError('upstream_unavailable', `Upstream "${upstream}" needs an access token and ${reason}.`, {
    retryAfterSec: 5,
    details: { upstream, tokenEndpoint: spec.tokenUrl, misconfigured, reason: `could not get an access token: ${reason}` },
    ...(cause === undefined ? {} : { cause }),
  });
}
