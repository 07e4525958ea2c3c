/**
 * Signing in at the identity provider: `GET /login/oidc` leaves for the provider (a link, not a
 * form: the CSP's `form-action 'self'` would stop a form's redirect to another site), and
 * `GET /login/oidc/callback` is where it sends the person back; `POST
 * /login/oidc/backchannel-logout` is where a provider that supports back-channel logout says a
 * session ended there.
 *
 * Cookies: the flow cookie is SameSite=Lax, because the callback is a top-level navigation from
 * the provider's site and a Strict cookie would not come with it; it holds only a one-time flow
 * id. The session cookie stays Strict (the CSRF defences rely on it), so the callback does not
 * redirect: a redirect would continue the cross-site navigation and the browser would withhold
 * the new Strict cookie. It answers a short page that moves on by itself (Refresh), which the
 * browser treats as a navigation from our own site.
 */
import express, { type Request, type Response, type Router } from 'express';
import { refuse, safeNext, sendPage, type DashboardContext } from './context.js';
import { html } from './html.js';
import { signInFlowTtlMs } from './oidc-sessions.js';
import { clearCookie, clientAddress, readCookie, sessionCookie, setCookie } from './security.js';

/** The one-time sign-in flow id, on the way to the provider and back. */
export const oidcFlowCookie = 'airlock_oidc_flow';
const flowCookiePath = '/login/oidc';

export function addOidcRoutes(router: Router, ctx: DashboardContext): void {
  const secure = ctx.deps.secureCookies;

  router.get('/login/oidc', async (req, res) => {
    const oidc = ctx.oidc;
    if (!oidc) return refuse(res, 404, 'Not configured', 'Sign-in at an identity provider is not configured on this gateway (dashboard.oidc).', loginLink);
    const next = safeNext(req.query['next']);
    try {
      const started = await oidc.start(next, clientAddress(req, ctx.deps.trustProxyHops));
      if (!started) {
        ctx.deps.log.warn({ address: clientAddress(req, ctx.deps.trustProxyHops) }, 'dashboard OIDC sign-in refused: too many started from one address');
        return refuse(
          res,
          429,
          'Too many sign-ins',
          'Too many sign-ins were started from your address in the last few minutes. Wait a few minutes and try again.',
          loginLink,
        );
      }
      const { url, flowId } = started;
      res.cookie(oidcFlowCookie, flowId, { httpOnly: true, sameSite: 'lax', path: flowCookiePath, maxAge: signInFlowTtlMs, secure: secure ?? req.secure });
      res.setHeader('Cache-Control', 'no-store');
      res.redirect(303, url);
    } catch (error) {
      ctx.deps.log.error({ err: errorText(error) }, 'dashboard OIDC sign-in could not start (identity provider or Redis unreachable)');
      refuse(
        res,
        503,
        'Sign-in unavailable',
        `${oidc.displayName} cannot be reached from the gateway right now. Try again in a minute; the gateway log says why.`,
        loginLink,
      );
    }
  });

  router.post(backchannelLogoutPath, logoutTokenForm, async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const oidc = ctx.oidc;
    const token: unknown = (req.body as Record<string, unknown> | undefined)?.['logout_token'];
    if (!oidc || typeof token !== 'string' || token === '') {
      res.status(400).json({ error: 'invalid_request', error_description: oidc ? 'logout_token is missing' : 'OIDC sign-in is not configured' });
      return;
    }
    try {
      const result = await oidc.backchannelLogout(token);
      if (!result.ok) {
        ctx.deps.log.warn({ why: result.why }, 'back-channel logout refused');
        res.status(400).json({ error: 'invalid_request', error_description: result.why });
        return;
      }
      res.status(200).end();
    } catch (error) {
      ctx.deps.log.error({ err: errorText(error) }, 'back-channel logout failed (state store unreachable?)');
      res.status(503).json({ error: 'temporarily_unavailable' });
    }
  });

  router.get('/login/oidc/callback', async (req, res) => {
    const oidc = ctx.oidc;
    if (!oidc) return refuse(res, 404, 'Not configured', 'Sign-in at an identity provider is not configured on this gateway (dashboard.oidc).', loginLink);
    const flowId = readCookie(req, oidcFlowCookie);
    res.clearCookie(oidcFlowCookie, { httpOnly: true, sameSite: 'lax', path: flowCookiePath, secure: secure ?? req.secure });
    try {
      const result = await oidc.finish(flowId, new URL(req.originalUrl, 'http://callback.invalid').searchParams);
      if (!result.ok) {
        ctx.deps.log.warn(result.log, 'dashboard OIDC sign-in refused');
        return refuse(res, result.status, result.title, result.message, loginLink);
      }
      // A new session id at every sign-in (no fixation); a session this browser already had ends.
      const previous = readCookie(req, sessionCookie);
      if (previous !== undefined) await ctx.sessions.delete(previous);
      const { session } = result;
      ctx.deps.log.info({ login: session.login, actor: session.actor.id, role: session.role, via: 'oidc' }, 'dashboard sign-in');
      setCookie(req, res, sessionCookie, result.id, { maxAgeMs: Math.max(1_000, session.expiresAt - ctx.now()), path: '/', secure });
      continuePage(res, result.next, 'Signed in', `Signed in as ${session.login}. Continuing to the dashboard…`);
    } catch (error) {
      ctx.deps.log.error({ err: errorText(error) }, 'dashboard OIDC callback failed');
      refuse(
        res,
        503,
        'Temporarily unavailable',
        'The gateway cannot reach its state store (Redis) right now, so sign-in cannot finish. Try again in a few seconds.',
        loginLink,
      );
    }
  });
}

/** The provider posts logout tokens here (OpenID Connect Back-Channel Logout): no cookie, no CSRF token, the signed token is the proof. */
export const backchannelLogoutPath = '/login/oidc/backchannel-logout';
const logoutTokenForm = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 5 });

/** Sign-out of an identity provider session: ours is gone; continue at the provider's end-session endpoint, else to the sign-in page. */
export async function finishOidcSignOut(ctx: DashboardContext, req: Request, res: Response, endSessionUrl: string | undefined): Promise<void> {
  clearCookie(req, res, sessionCookie, { path: '/', secure: ctx.deps.secureCookies });
  if (endSessionUrl === undefined) {
    res.redirect(303, '/login');
    return;
  }
  const name = ctx.oidc?.displayName ?? 'the identity provider';
  continuePage(res, endSessionUrl, 'Signed out', `You are signed out of Airlock. Continuing to sign out at ${name}…`);
}

const loginLink = { href: '/login', label: 'Back to sign-in' };

/**
 * A page that moves on to `target` by itself (the Refresh header) with a link for browsers that
 * do not: a navigation from our own page, so the Strict session cookie goes with it.
 */
function continuePage(res: Response, target: string, title: string, message: string): void {
  res.setHeader('Refresh', `0; url=${target}`);
  sendPage(res, 200, {
    title,
    section: 'none',
    session: undefined,
    body: html`<h1>${title}</h1>
      <p>${message}</p>
      <p><a href="${target}" id="continue">Continue</a></p>`,
  });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
