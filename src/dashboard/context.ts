/**
 * How every dashboard route runs: the shared context (ports, sessions, credentials, clock) and
 * three wrappers that put the same guards in front of each handler, so no route can forget one:
 * - `page`: a GET page; security headers; a session or a redirect to the login form;
 * - `fragment`: a GET the script fetches; a session or 401 (no redirect, no data);
 * - `action`: a state-changing POST; form body parsed, same-origin check, session, CSRF token —
 *   each refusal answers 403/401 before the handler runs, so nothing changes.
 * Each takes the permission its route needs (roles.ts); a session whose role falls short gets 403.
 * A fault (Redis down, a bug) becomes an HTML error page with the right status, never a stack.
 */
import express, { type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { asAirlockError } from '../errors.js';
import type { CredentialChecker } from './credentials.js';
import type { OidcSignIn } from './oidc-sessions.js';
import type { DashboardDeps } from './ports.js';
import { csrfTokenValid, isSameOrigin, presentedCsrfToken, readCookie, sessionCookie, setSecurityHeaders } from './security.js';
import { may, roleRefusal, type DashboardPermission } from './roles.js';
import type { DashboardSession, SessionStore } from './sessions.js';
import { errorBody, renderPage, type PageModel } from './views/layout.js';

export interface DashboardContext {
  deps: DashboardDeps;
  sessions: SessionStore;
  credentials: CredentialChecker;
  /** Sign-in at the identity provider, when `dashboard.oidc` is configured. */
  oidc: OidcSignIn | undefined;
  now: () => number;
}

/** A session together with the cookie value that named it. */
export interface ActiveSession extends DashboardSession {
  id: string;
}

export type SessionHandler = (req: Request, res: Response, session: ActiveSession) => Promise<void>;
export type FormHandler<T> = (req: Request, res: Response, session: ActiveSession, form: T) => Promise<void>;

/** Every dashboard form carries the CSRF token; handlers add their own fields. */
export const CsrfField = z.object({ _csrf: z.string().max(200).optional() });

const formParser = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 50 });

/** Sends a whole page (with the security headers). */
export function sendPage(res: Response, status: number, model: PageModel): void {
  setSecurityHeaders(res);
  res.status(status).type('html').send(renderPage(model));
}

/** The session a request's cookie names, if it is live (re-checked at the identity provider when one is due). */
export async function sessionOf(ctx: DashboardContext, req: Request): Promise<ActiveSession | undefined> {
  const id = readCookie(req, sessionCookie);
  if (id === undefined) return undefined;
  const stored = await ctx.sessions.get(id);
  if (stored?.oidc && !ctx.oidc) {
    // Signed in at a provider this gateway no longer uses: nothing can re-check it, so it has ended.
    await ctx.sessions.delete(id);
    return undefined;
  }
  const session = stored?.oidc && ctx.oidc ? await ctx.oidc.recheck(id, stored) : stored;
  return session && { ...session, id };
}

/** A local path to return to after login: only our own absolute paths (no `//host`, no scheme). */
export function safeNext(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.includes('\\') || value.length > 500) return '/';
  return /^[\w\-./?=&%:+,~]*$/.test(value) ? value : '/';
}

/** A GET page for a logged-in person (with `permission`, when given); others are sent to the login form. */
export function page(ctx: DashboardContext, handler: SessionHandler, permission?: DashboardPermission): RequestHandler {
  return guarded(ctx, async (req, res) => {
    const session = await sessionOf(ctx, req);
    if (!session) {
      setSecurityHeaders(res);
      res.redirect(303, req.originalUrl === '/' ? '/login' : `/login?next=${encodeURIComponent(safeNext(req.originalUrl))}`);
      return;
    }
    if (permission && !may(session.role, permission)) {
      refuse(res, 403, 'Not allowed', roleRefusal(session.login, session.role, permission, session.via), undefined, session);
      return;
    }
    await handler(req, res, session);
  });
}

/** A GET the dashboard script fetches (or a download): 401 without a session, 403 without `permission` (no redirect, no data). */
export function fragment(ctx: DashboardContext, handler: SessionHandler, permission?: DashboardPermission): RequestHandler {
  return guarded(ctx, async (req, res) => {
    setSecurityHeaders(res);
    const session = await sessionOf(ctx, req);
    if (!session) {
      res.status(401).type('text').send('Not signed in.');
      return;
    }
    if (permission && !may(session.role, permission)) {
      res
        .status(403)
        .type('text')
        .send(roleRefusal(session.login, session.role, permission, session.via));
      return;
    }
    await handler(req, res, session);
  });
}

/** A state-changing POST: same origin, a live session (with `permission`) and its CSRF token, then a form parsed by `schema`. */
export function action<T extends z.ZodType>(
  ctx: DashboardContext,
  schema: T,
  handler: FormHandler<z.output<T>>,
  permission?: DashboardPermission,
): RequestHandler {
  return guarded(ctx, async (req, res) => {
    const body = await parseForm(req, res);
    if (body === undefined) return;
    if (!isSameOrigin(req)) {
      refuse(res, 403, 'Request refused', 'This form was sent from another site (its Origin did not match this dashboard), so nothing was changed.');
      return;
    }
    const session = await sessionOf(ctx, req);
    if (!session) {
      refuse(res, 401, 'Signed out', 'Your session has ended, so nothing was changed. Sign in and try again.', { href: '/login', label: 'Sign in' });
      return;
    }
    const csrf = CsrfField.safeParse(body);
    if (!csrf.success || !csrfTokenValid(presentedCsrfToken(req, csrf.data), session.csrfToken)) {
      refuse(
        res,
        403,
        'Request refused',
        'This form is missing its security token or is from an old session, so nothing was changed. Reload the page and try again.',
        undefined,
        session,
      );
      return;
    }
    if (permission && !may(session.role, permission)) {
      refuse(res, 403, 'Not allowed', `${roleRefusal(session.login, session.role, permission, session.via)} Nothing was changed.`, undefined, session);
      return;
    }
    const form = schema.safeParse(body);
    if (!form.success) {
      refuse(res, 400, 'Bad form', 'The form was incomplete or too long; nothing was changed.', undefined, session);
      return;
    }
    await handler(req, res, session, form.data);
  });
}

/** Parses a URL-encoded body; answers 400/413 itself and returns undefined when it cannot. */
export async function parseForm(req: Request, res: Response): Promise<unknown> {
  const failure = await new Promise<unknown>((resolve) => formParser(req, res, (error?: unknown) => resolve(error)));
  if (failure !== undefined) {
    const tooLarge = failure !== null && typeof failure === 'object' && 'type' in failure && failure.type === 'entity.too.large';
    refuse(res, tooLarge ? 413 : 400, 'Bad request', tooLarge ? 'The form was too large.' : 'The form could not be read.');
    return undefined;
  }
  return req.body ?? {};
}

/** An error page for a refused request. */
export function refuse(res: Response, status: number, title: string, message: string, link?: { href: string; label: string }, session?: ActiveSession): void {
  sendPage(res, status, { title, section: 'none', session, body: errorBody(title, message, link) });
}

/** Runs a handler; a fault becomes an error page (503 when the state store is down) and a log line. */
function guarded(ctx: DashboardContext, run: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return async (req, res) => {
    try {
      await run(req, res);
    } catch (error) {
      const airlock = asAirlockError(error);
      if (airlock.fault === 'server') ctx.deps.log.error({ err: airlock.message, path: req.path }, 'dashboard request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.removeHeader('Content-Disposition');
      const unavailable = airlock.code === 'state_store_unavailable';
      refuse(
        res,
        unavailable ? 503 : airlock.fault === 'server' ? 500 : airlock.httpStatus,
        unavailable ? 'Temporarily unavailable' : 'Something went wrong',
        unavailable
          ? 'The gateway cannot reach its state store (Redis) right now. Try again in a few seconds.'
          : airlock.fault === 'server'
            ? 'Internal error; see the gateway log.'
            : airlock.message,
      );
    }
  };
}
