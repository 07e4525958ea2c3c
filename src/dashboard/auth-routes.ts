/**
 * Login and logout. The login form posts a token (admin or a dashboard user's) in the body; a
 * match starts a Redis session and sets the session cookie (HttpOnly, SameSite=Strict, Path=/).
 * The login post is guarded like every other: same origin, plus a double-submit CSRF value (a
 * cookie set with the form must equal the form's hidden field). Repeated failures from one
 * client address, or for one user name, are refused for a while (the address is the socket's, or
 * X-Forwarded-For's behind `dashboard.trustProxy`). Logout deletes the session and clears the cookie
 * (and, for a session from the identity provider, continues to its end-session endpoint). With
 * `dashboard.oidc` configured the page leads with "Sign in with …" (oidc-routes.ts); the token
 * form stays below it, and the admin token there is break-glass: logged at warn and audited.
 */
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import { action, CsrfField, parseForm, refuse, safeNext, sendPage, sessionOf, type DashboardContext } from './context.js';
import { clearCookie, clientAddress, csrfTokenValid, isSameOrigin, loginCsrfCookie, readCookie, sessionCookie, setCookie } from './security.js';
import { adminLogin } from './credentials.js';
import { finishOidcSignOut } from './oidc-routes.js';
import { randomToken, sessionIdPattern } from './sessions.js';
import { loginBody } from './views/login-page.js';

const LoginForm = CsrfField.extend({
  user: z.string().trim().max(64).default(''),
  token: z.string().max(1_000).default(''),
  next: z.string().max(500).optional(),
});
const loginCsrfTtlMs = 60 * 60_000;

export function addAuthRoutes(router: Router, ctx: DashboardContext): void {
  const secure = ctx.deps.secureCookies;

  const showLogin = async (req: Request, res: Response, status: number, error: string | undefined, next: string, user = '') => {
    // A cookie naming no live session: it ended (its time, the provider, or a sign-out elsewhere).
    const ended = status === 200 && readCookie(req, sessionCookie) !== undefined;
    if (ended) clearCookie(req, res, sessionCookie, { path: '/', secure });
    const existing = readCookie(req, loginCsrfCookie);
    const csrfToken = existing !== undefined && sessionIdPattern.test(existing) ? existing : randomToken();
    setCookie(req, res, loginCsrfCookie, csrfToken, { maxAgeMs: loginCsrfTtlMs, path: '/login', secure });
    sendPage(res, status, {
      title: 'Sign in',
      section: 'none',
      session: undefined,
      body: loginBody({
        csrfToken,
        next,
        error,
        user,
        enabled: ctx.credentials.enabled,
        oidc: ctx.oidc && { displayName: ctx.oidc.displayName },
        ended,
      }),
    });
  };

  router.get('/login', async (req, res) => {
    try {
      const next = safeNext(req.query['next']);
      if (await sessionOf(ctx, req)) {
        res.redirect(303, next);
        return;
      }
      await showLogin(req, res, 200, undefined, next);
    } catch (error) {
      ctx.deps.log.error({ err: errorText(error) }, 'dashboard sign-in page failed');
      await showLogin(req, res, 503, 'The gateway cannot reach its state store (Redis); sign-in is unavailable for the moment.', '/');
    }
  });

  router.post('/login', async (req, res) => {
    const body = await parseForm(req, res);
    if (body === undefined) return;
    const form = LoginForm.safeParse(body);
    const next = safeNext(form.success ? form.data.next : undefined);
    const cookieToken = readCookie(req, loginCsrfCookie);
    if (!isSameOrigin(req) || !form.success || cookieToken === undefined || !csrfTokenValid(form.data._csrf, cookieToken)) {
      refuse(res, 403, 'Request refused', 'This sign-in form came from another site or has expired. Open the sign-in page again.', {
        href: '/login',
        label: 'Sign in',
      });
      return;
    }
    try {
      const address = clientAddress(req, ctx.deps.trustProxyHops);
      const user = form.data.user;
      const blocked = await ctx.sessions.loginBlocked(address, user);
      if (blocked) {
        const why = blocked === 'address' ? 'from your address' : `for the user "${user}"`;
        ctx.deps.log.warn({ address, user, throttle: blocked }, 'dashboard sign-in refused: too many failures');
        await showLogin(req, res, 429, `Too many failed sign-ins ${why}. Wait a few minutes and try again.`, next, user);
        return;
      }
      const identity = ctx.credentials.identify(user, form.data.token);
      if (!identity) {
        await ctx.sessions.recordFailedLogin(address, user);
        ctx.deps.log.warn({ address, user }, 'dashboard sign-in refused: unknown user or token');
        await showLogin(req, res, 401, 'That user name and token do not match a login of this dashboard.', next, user);
        return;
      }
      // A new session id at every sign-in (no fixation); a session this browser already had ends.
      const previous = readCookie(req, sessionCookie);
      if (previous !== undefined) await ctx.sessions.delete(previous);
      const { id } = await ctx.sessions.create(identity);
      if (ctx.oidc && identity.login === adminLogin) {
        // Break-glass: people normally sign in at the identity provider; the shared admin token
        // bypasses it, so every use is loud in the operator log and recorded in the audit history.
        ctx.deps.log.warn({ login: identity.login, address }, 'BREAK-GLASS dashboard sign-in with the admin token while OIDC sign-in is configured');
        await ctx.oidc.audit(identity, 'break-glass: signed in with the admin token while OIDC sign-in is configured', { method: 'break-glass', address });
      } else {
        ctx.deps.log.info({ login: identity.login, actor: identity.actor.id }, 'dashboard sign-in');
      }
      clearCookie(req, res, loginCsrfCookie, { path: '/login', secure });
      setCookie(req, res, sessionCookie, id, { maxAgeMs: ctx.deps.sessionTtlMs, path: '/', secure });
      res.setHeader('Cache-Control', 'no-store');
      res.redirect(303, next);
    } catch (error) {
      ctx.deps.log.error({ err: errorText(error) }, 'dashboard sign-in failed');
      await showLogin(req, res, 503, 'The gateway cannot reach its state store (Redis); sign-in is unavailable for the moment.', next);
    }
  });

  router.post(
    '/logout',
    action(ctx, CsrfField, async (req, res, session) => {
      // The provider's end-session URL carries the ID token as a hint; read it before the session goes.
      const endSession = session.oidc && ctx.oidc ? await ctx.oidc.endSessionUrl(session.id, session) : undefined;
      await ctx.sessions.delete(session.id);
      if (session.oidc) return finishOidcSignOut(ctx, req, res, endSession);
      clearCookie(req, res, sessionCookie, { path: '/', secure });
      res.redirect(303, '/login');
    }),
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
