/**
 * Sessions that come from the identity provider, from sign-in to sign-out:
 * - start: a random state, nonce and PKCE verifier kept in Redis under a one-time flow id (the
 *   browser holds only that id, in a SameSite=Lax cookie that survives the round trip); one
 *   client address may start only so many per window, so nobody fills Redis with flows;
 * - finish: the code exchanged, the ID token checked by openid-client, claims mapped to a role
 *   and a Slack id (oidc-claims.ts); nobody without a mapped role gets a session;
 * - recheck: every `revalidateEvery` the provider is asked again — the refresh token grant when
 *   there is a refresh token, else userinfo while the access token lasts — and the role is
 *   mapped again, so someone removed there (or moved out of the group) loses access within that
 *   interval. A provider that refuses ends the session; one that cannot be reached is given one
 *   more interval, then the session ends too (bounded either way). One request re-checks at a
 *   time (a Redis claim), so a rotating refresh token is never used twice;
 * - back-channel logout: a provider that supports it (Keycloak) posts a signed logout token when
 *   its session ends; the sessions it names end at once (sessions are indexed by `sub` and `sid`);
 * - a session ends at `maxSession` after sign-in, and without a refresh token no later than the
 *   tokens it was given (they are what a re-check needs);
 * - the tokens are sealed (AES-256-GCM) with a key derived from the session id, which only the
 *   browser's cookie holds: reading Redis yields neither a usable cookie nor usable tokens.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../log.js';
import type { DashboardIdentity } from './credentials.js';
import { identityFromClaims, type OidcClaims } from './oidc-claims.js';
import { isProviderRefusal, OidcClient, type OidcGrant, type SignInChecks } from './oidc-client.js';
import type { DashboardAudit, OidcDeps } from './ports.js';
import { randomToken, type DashboardSession, type OidcSessionState, type SessionStore } from './sessions.js';

/** How long a person may take at the provider before the sign-in flow is forgotten. */
export const signInFlowTtlMs = 10 * 60_000;
/** Sign-ins one client address may start per window (generous: a whole office may share one address). */
export const maxSignInStarts = 300;
const signInStartWindowMs = 5 * 60_000;
/** How long one re-check may hold the claim before another request may try. */
const recheckClaimMs = 15_000;

const FlowSchema = z.object({ state: z.string(), nonce: z.string(), codeVerifier: z.string(), next: z.string() });
const SealedSchema = z.object({
  idToken: z.string().optional(),
  accessToken: z.string(),
  refreshToken: z.string().optional(),
  idClaims: z.record(z.string(), z.unknown()),
});
type SealedTokens = z.output<typeof SealedSchema>;

export type SignInResult =
  | { ok: true; id: string; session: DashboardSession; next: string }
  | { ok: false; status: number; title: string; message: string; log: Record<string, unknown> };

export interface OidcSignInOptions {
  deps: OidcDeps;
  sessions: SessionStore;
  audit: DashboardAudit;
  log: Logger;
  now: () => number;
}

export class OidcSignIn {
  private readonly client: OidcClient;

  constructor(private readonly options: OidcSignInOptions) {
    const { deps, now } = options;
    this.client = new OidcClient({ ...deps, now });
  }

  /** The provider's name on the sign-in button. */
  get displayName(): string {
    return this.options.deps.spec.displayName;
  }

  /** Starts a sign-in: the provider's URL to send the browser to, and the flow id for its cookie (undefined: too many from this address). */
  async start(next: string, address: string): Promise<{ url: string; flowId: string } | undefined> {
    if (!(await this.options.sessions.countSignInStart(address, maxSignInStarts, signInStartWindowMs))) return undefined;
    const { url, checks } = await this.client.authorizationUrl();
    const flowId = randomToken();
    await this.options.sessions.putSignInFlow(flowId, JSON.stringify({ ...checks, next }), signInFlowTtlMs);
    return { url, flowId };
  }

  /** Completes a sign-in from the provider's callback (`query`: its query string). */
  async finish(flowId: string | undefined, query: URLSearchParams): Promise<SignInResult> {
    const { sessions, deps, log } = this.options;
    const text = flowId === undefined ? undefined : await sessions.takeSignInFlow(flowId);
    const flow = text === undefined ? undefined : FlowSchema.safeParse(safeJson(text));
    if (!flow?.success) {
      return refusal(400, 'Sign-in expired', 'This sign-in was started too long ago, in another browser, or already used. Start again from the sign-in page.', {
        reason: 'unknown or used sign-in flow',
      });
    }
    const providerError = query.get('error');
    // An error answer is believed only with this flow's state: anyone can link to the callback with made-up text.
    if (providerError !== null && query.get('state') === flow.data.state) {
      const description = (query.get('error_description') ?? '').slice(0, 300);
      return refusal(401, 'Sign-in refused', `${deps.spec.displayName} did not sign you in (${providerError}${description ? `: ${description}` : ''}).`, {
        reason: 'provider error',
        error: providerError,
      });
    }
    const checks: SignInChecks = { state: flow.data.state, nonce: flow.data.nonce, codeVerifier: flow.data.codeVerifier };
    let grant: OidcGrant;
    try {
      grant = await this.client.exchange(query.toString(), checks);
    } catch (error) {
      return refusal(
        401,
        'Sign-in failed',
        `The answer from ${deps.spec.displayName} could not be verified, so you are not signed in. Start again; if it keeps failing, the gateway log says why.`,
        { reason: 'code exchange or ID token check failed', err: errorText(error) },
      );
    }
    const verdict = identityFromClaims(grant.claims, deps.spec);
    if (!verdict.ok) {
      return refusal(
        403,
        'No dashboard access',
        `You signed in at ${deps.spec.displayName} as ${verdict.name}, but ${verdict.why}. Ask an operator to add you to a group that dashboard.oidc.roles maps to viewer, approver or admin.`,
        { reason: 'no mapped role', name: verdict.name, groups: verdict.groups },
      );
    }
    if (verdict.slackUserIdProblem)
      log.warn(
        { name: verdict.identity.login, problem: verdict.slackUserIdProblem },
        'dashboard OIDC sign-in without a usable Slack user id: decisions count as oidc:<sub>',
      );
    const now = this.options.now();
    const { id, session } = await sessions.create(verdict.identity, (sessionId) => ({
      expiresAt: this.endOf(now, grant),
      oidc: this.stateOf(sessionId, String(grant.claims['sub']), grant, now),
    }));
    const sub = String(grant.claims['sub']);
    const sid = typeof grant.idClaims['sid'] === 'string' ? grant.idClaims['sid'] : undefined;
    await sessions.indexProviderSession(id, [`sub:${sub}`, ...(sid ? [`sid:${sid}`] : [])], deps.spec.maxSession);
    await this.audit(session, 'signed in at the identity provider', { groups: verdict.groups, sub });
    return { ok: true, id, session, next: flow.data.next };
  }

  /**
   * The session as it stands after re-checking at the provider when one is due; undefined when it
   * ended (deleted, with a log line saying why).
   */
  async recheck(id: string, session: DashboardSession): Promise<DashboardSession | undefined> {
    const state = session.oidc;
    if (!state) return session;
    const { spec } = this.options.deps;
    const now = this.options.now();
    if (now < state.checkedAt + spec.revalidateEvery) return session;
    // Another request is re-checking this session right now; it was confirmed one interval ago.
    if (!(await this.options.sessions.claimRecheck(id, recheckClaimMs))) return session;
    const tokens = unseal(id, state.sealed);
    if (!tokens) return this.end(id, session, 'its sealed tokens could not be read');
    try {
      let grant: OidcGrant | undefined;
      let claims: OidcClaims;
      if (state.refreshable && tokens.refreshToken) {
        grant = await this.client.refresh(tokens.refreshToken, state.sub, { idToken: tokens.idToken, idClaims: tokens.idClaims });
        claims = grant.claims;
      } else if (spec.userinfo && (state.accessExpiresAt === undefined || now < state.accessExpiresAt)) {
        claims = { ...tokens.idClaims, ...(await this.client.userinfo(tokens.accessToken, state.sub)), sub: state.sub };
      } else {
        // Nothing to ask the provider with: the session already ends when its tokens do.
        await this.options.sessions.save(id, { ...session, oidc: { ...state, checkedAt: now } });
        return session;
      }
      const verdict = identityFromClaims(claims, spec);
      if (!verdict.ok) return await this.end(id, session, `the identity provider no longer gives a role: ${verdict.why}`);
      const updated: DashboardSession = {
        ...session,
        ...sameIdentityFields(verdict.identity),
        oidc: grant ? this.stateOf(id, state.sub, grant, now) : { ...state, checkedAt: now },
      };
      await this.options.sessions.save(id, updated);
      if (updated.role !== session.role)
        this.options.log.info({ login: updated.login, from: session.role, to: updated.role }, 'dashboard role changed at the identity provider');
      return updated;
    } catch (error) {
      if (isProviderRefusal(error)) return this.end(id, session, `the identity provider refused to confirm it (${errorText(error)})`);
      // The provider could not be reached or failed: one more interval, then the session ends anyway.
      if (now >= state.checkedAt + 2 * spec.revalidateEvery)
        return this.end(id, session, `the identity provider could not be reached to confirm it (${errorText(error)})`);
      this.options.log.warn(
        { login: session.login, err: errorText(error) },
        'dashboard session re-check at the identity provider failed; trying again on a later request',
      );
      return session;
    }
  }

  /**
   * A back-channel logout from the provider: the token verified and accepted once, then the
   * sessions of that provider session (`sid`), else of that person (`sub`), end at once.
   */
  async backchannelLogout(token: string): Promise<{ ok: true; ended: number } | { ok: false; why: string }> {
    let claims: { jti: string; sub: string | undefined; sid: string | undefined };
    try {
      claims = await this.client.verifyLogoutToken(token);
    } catch (error) {
      return { ok: false, why: errorText(error) };
    }
    if (!(await this.options.sessions.firstLogoutToken(claims.jti, 20 * 60_000))) return { ok: false, why: 'this logout token was already used' };
    const ended = await this.options.sessions.endProviderSessions(claims.sid ? `sid:${claims.sid}` : `sub:${claims.sub ?? ''}`);
    this.options.log.info({ sub: claims.sub, sid: claims.sid, ended }, 'dashboard sessions ended by the identity provider (back-channel logout)');
    return { ok: true, ended };
  }

  /** Where to send a signing-out person so the provider ends its session too (undefined: it has no end-session endpoint). */
  async endSessionUrl(id: string, session: DashboardSession): Promise<string | undefined> {
    const tokens = session.oidc ? unseal(id, session.oidc.sealed) : undefined;
    try {
      return await this.client.endSessionUrl(tokens?.idToken);
    } catch (error) {
      this.options.log.warn({ err: errorText(error) }, 'identity provider unreachable at sign-out; signed out of Airlock only');
      return undefined;
    }
  }

  /** Records a sign-in in the audit history (the identity provider's, or the break-glass admin token's). */
  async audit(identity: DashboardIdentity, reason: string, details: Record<string, unknown>): Promise<void> {
    await this.options.audit.append({
      type: 'dashboard_sign_in',
      actor: identity.actor,
      reason,
      details: { method: identity.via ?? 'token', login: identity.login, role: identity.role, ...details },
    });
  }

  /** A session ends at maxSession; without a refresh token also when its tokens expire. */
  private endOf(createdAt: number, grant: OidcGrant): number {
    const max = createdAt + this.options.deps.spec.maxSession;
    if (grant.refreshToken) return max;
    return Math.min(max, grant.accessExpiresAt ?? Infinity, grant.idTokenExpiresAt ?? Infinity);
  }

  private stateOf(sessionId: string, sub: string, grant: OidcGrant, now: number): OidcSessionState {
    const tokens: SealedTokens = {
      accessToken: grant.accessToken,
      idClaims: grant.idClaims,
      ...(grant.idToken ? { idToken: grant.idToken } : {}),
      ...(grant.refreshToken ? { refreshToken: grant.refreshToken } : {}),
    };
    return { sub, sealed: seal(sessionId, tokens), checkedAt: now, accessExpiresAt: grant.accessExpiresAt, refreshable: grant.refreshToken !== undefined };
  }

  private async end(id: string, session: DashboardSession, why: string): Promise<undefined> {
    await this.options.sessions.delete(id);
    this.options.log.info({ login: session.login, actor: session.actor.id, why }, 'dashboard session ended');
    return undefined;
  }
}

/** The identity fields a re-check may change (role, actor, name); the rest of the session stays. */
function sameIdentityFields(identity: DashboardIdentity): Pick<DashboardSession, 'actor' | 'login' | 'role'> {
  return { actor: identity.actor, login: identity.login, role: identity.role };
}

function refusal(status: number, title: string, message: string, log: Record<string, unknown>): SignInResult {
  return { ok: false, status, title, message, log };
}

/** The sealing key: derived from the session id, which Redis never holds (it keys sessions by its hash). */
function sealKey(sessionId: string): Buffer {
  return createHash('sha256').update('airlock dashboard oidc tokens\0').update(sessionId, 'utf8').digest();
}

function seal(sessionId: string, tokens: SealedTokens): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealKey(sessionId), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

function unseal(sessionId: string, sealed: string): SealedTokens | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', sealKey(sessionId), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    const parsed = SealedSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
