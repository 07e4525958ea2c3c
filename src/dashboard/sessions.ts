/**
 * Dashboard sessions in Redis, so any gateway replica serves any logged-in browser. The browser
 * holds only a random session id (256 bits, HttpOnly cookie); Redis holds the session under the
 * SHA-256 of that id (`<prefix>dashboard-session:<hash>`), so reading Redis does not yield a
 * usable cookie. A session ends at its TTL after login (sooner when the identity provider's
 * tokens say so), when the provider no longer vouches for the person, or on logout. Each session carries its
 * own CSRF token. Flash messages (the outcome of a decision, shown once after the redirect) and
 * the failed-login counter live beside it with short TTLs. Every read is parsed by zod.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Redis } from '../state/redis.js';
import { withStateStore } from '../state/state-store.js';
import type { DashboardIdentity } from './credentials.js';
import { dashboardRoles } from './roles.js';

export interface DashboardSession extends DashboardIdentity {
  csrfToken: string;
  createdAt: number;
  expiresAt: number;
  /** A session from the identity provider: what re-checking it there needs (oidc-sessions.ts). */
  oidc?: OidcSessionState;
}

/** The identity provider's side of a session. Its tokens are sealed with a key only the cookie yields. */
export interface OidcSessionState {
  sub: string;
  /** AES-256-GCM of the ID, access and refresh tokens, keyed from the session id (oidc-sessions.ts). */
  sealed: string;
  /** When the provider last confirmed the person (sign-in, refresh or userinfo). */
  checkedAt: number;
  /** When the access token expires, when the provider said. */
  accessExpiresAt?: number | undefined;
  /** Whether a refresh token is sealed (then re-checks use the refresh token grant). */
  refreshable: boolean;
}

export type FlashLevel = 'success' | 'info' | 'error';

export interface Flash {
  level: FlashLevel;
  text: string;
}

const SessionSchema = z.object({
  actor: z.object({ kind: z.enum(['admin', 'dashboard']), id: z.string(), name: z.string().optional() }),
  login: z.string(),
  role: z.enum(dashboardRoles),
  csrfToken: z.string().min(32),
  createdAt: z.number(),
  expiresAt: z.number(),
  via: z.enum(['token', 'oidc']).optional(),
  oidc: z.object({ sub: z.string(), sealed: z.string(), checkedAt: z.number(), accessExpiresAt: z.number().optional(), refreshable: z.boolean() }).optional(),
});
const FlashSchema = z.object({ level: z.enum(['success', 'info', 'error']), text: z.string() });

/** Session ids and CSRF tokens: 32 random bytes, base64url (43 characters). */
export const sessionIdPattern = /^[A-Za-z0-9_-]{43}$/;

/** A fresh random token (session id, CSRF token). */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time equality of two tokens (any lengths). */
export function tokensEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

const flashTtlMs = 60_000;
/** Failed logins from one address, or for one user name, within `loginWindowMs` before further logins are refused. */
export const maxFailedLogins = 10;
const loginWindowMs = 5 * 60_000;

export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  /**
   * Starts a session for a verified identity; returns the id for the cookie. `extra` (given the
   * new id, so it can seal with it) may set the session's end and attach the provider's state.
   */
  async create(
    identity: DashboardIdentity,
    extra?: (id: string, createdAt: number) => { expiresAt?: number; oidc?: OidcSessionState },
  ): Promise<{ id: string; session: DashboardSession }> {
    const id = randomToken();
    const createdAt = this.now();
    const more = extra?.(id, createdAt) ?? {};
    // An identity provider's session has its own bound (dashboard.oidc.maxSession); a token login has sessionTtl.
    const expiresAt = more.expiresAt ?? createdAt + this.ttlMs;
    const session: DashboardSession = { ...identity, csrfToken: randomToken(), createdAt, expiresAt, ...(more.oidc ? { oidc: more.oidc } : {}) };
    await this.save(id, session);
    return { id, session };
  }

  /** Stores a changed session (a re-check at the provider), keeping it no longer than its expiry. */
  async save(id: string, session: DashboardSession): Promise<void> {
    const ttl = Math.max(1, session.expiresAt - this.now());
    await withStateStore(() => this.redis.set(this.key('session', id), JSON.stringify(session), 'PX', ttl));
  }

  /** Takes the right to re-check a session at the provider for `ms` (one replica, one request at a time); false when another has it. */
  async claimRecheck(id: string, ms: number): Promise<boolean> {
    const taken = await withStateStore(() => this.redis.set(this.key('recheck', id), '1', 'PX', ms, 'NX'));
    return taken === 'OK';
  }

  /**
   * Files a session from the identity provider under each of `names` (`sub:<sub>`, `sid:<sid>`), so
   * a back-channel logout naming the person or their provider session can end it. Entries are the
   * session keys' hashes; the index lasts as long as the longest session it may name.
   */
  async indexProviderSession(id: string, names: readonly string[], ttlMs: number): Promise<void> {
    const member = createHash('sha256').update(id, 'utf8').digest('hex');
    await withStateStore(async () => {
      for (const name of names) {
        const key = this.key('oidc-index', name);
        await this.redis.sadd(key, member);
        await this.redis.pexpire(key, ttlMs);
      }
    });
  }

  /** Ends every session filed under `name`; returns how many were live. */
  async endProviderSessions(name: string): Promise<number> {
    const index = this.key('oidc-index', name);
    return withStateStore(async () => {
      const members = await this.redis.smembers(index);
      let ended = 0;
      for (const member of members)
        ended += (await this.redis.del(this.keyOf('session', member), this.keyOf('flash', member), this.keyOf('recheck', member))) > 0 ? 1 : 0;
      await this.redis.del(index);
      return ended;
    });
  }

  /** True the first time `jti` is seen within `ms` (a logout token is accepted once). */
  async firstLogoutToken(jti: string, ms: number): Promise<boolean> {
    return (await withStateStore(() => this.redis.set(this.key('oidc-logout', jti), '1', 'PX', ms, 'NX'))) === 'OK';
  }

  /** Keeps a sign-in's state, nonce and PKCE verifier until the provider sends the person back (single use). */
  async putSignInFlow(flowId: string, flow: string, ms: number): Promise<void> {
    await withStateStore(() => this.redis.set(this.key('oidc-flow', flowId), flow, 'PX', ms));
  }

  /**
   * Counts a sign-in started from `address` (each window starts at its first); true while under
   * `max` in the window. Flows live in Redis until used or expired, so one address cannot fill it.
   */
  async countSignInStart(address: string, max: number, windowMs: number): Promise<boolean> {
    const key = this.key('oidc-starts', address);
    const count = await withStateStore(async () => {
      const n = await this.redis.incr(key);
      if (n === 1) await this.redis.pexpire(key, windowMs);
      return n;
    });
    return count <= max;
  }

  /** The sign-in flow a callback belongs to, removed as it is read, so a callback is never replayed. */
  async takeSignInFlow(flowId: string): Promise<string | undefined> {
    if (!sessionIdPattern.test(flowId)) return undefined;
    return (await withStateStore(() => this.redis.getdel(this.key('oidc-flow', flowId)))) ?? undefined;
  }

  /** The live session for a cookie value, or undefined (unknown, expired, malformed). */
  async get(id: string): Promise<DashboardSession | undefined> {
    if (!sessionIdPattern.test(id)) return undefined;
    const text = await withStateStore(() => this.redis.get(this.key('session', id)));
    if (text === null) return undefined;
    const parsed = SessionSchema.safeParse(safeJson(text));
    if (!parsed.success || parsed.data.expiresAt <= this.now()) return undefined;
    return parsed.data;
  }

  /** Ends a session (logout). */
  async delete(id: string): Promise<void> {
    if (!sessionIdPattern.test(id)) return;
    await withStateStore(() => this.redis.del(this.key('session', id), this.key('flash', id), this.key('recheck', id)));
  }

  /** Keeps a message for the next page this session loads. */
  async setFlash(id: string, flash: Flash): Promise<void> {
    await withStateStore(() => this.redis.set(this.key('flash', id), JSON.stringify(flash), 'PX', flashTtlMs));
  }

  /** The pending message, removed as it is read (shown once). */
  async takeFlash(id: string): Promise<Flash | undefined> {
    const text = await withStateStore(() => this.redis.getdel(this.key('flash', id)));
    if (text === null) return undefined;
    const parsed = FlashSchema.safeParse(safeJson(text));
    return parsed.success ? parsed.data : undefined;
  }

  /**
   * Which throttle refuses a login now: `address` when this client address failed too often
   * lately, `user` when this user name did (from anywhere — guessing one user's token from many
   * addresses), else undefined.
   */
  async loginBlocked(address: string, user: string): Promise<'address' | 'user' | undefined> {
    const [byAddress, byUser] = await withStateStore(() => this.redis.mget(this.key('login-failures', address), this.key('login-user-failures', user)));
    if (Number(byAddress ?? 0) >= maxFailedLogins) return 'address';
    if (Number(byUser ?? 0) >= maxFailedLogins) return 'user';
    return undefined;
  }

  /** Counts a failed login against the address and the user name (each window starts at its first failure). */
  async recordFailedLogin(address: string, user: string): Promise<void> {
    await withStateStore(async () => {
      for (const key of [this.key('login-failures', address), this.key('login-user-failures', user)]) {
        const count = await this.redis.incr(key);
        if (count === 1) await this.redis.pexpire(key, loginWindowMs);
      }
    });
  }

  /** Keys hash the id (or address, or user name), so Redis never holds a usable cookie value. */
  private key(kind: KeyKind, id: string): string {
    return this.keyOf(kind, createHash('sha256').update(id, 'utf8').digest('hex'));
  }

  private keyOf(kind: KeyKind, hash: string): string {
    return `${this.prefix}dashboard-${kind}:${hash}`;
  }
}

type KeyKind = 'session' | 'flash' | 'login-failures' | 'login-user-failures' | 'recheck' | 'oidc-flow' | 'oidc-starts' | 'oidc-index' | 'oidc-logout';

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
