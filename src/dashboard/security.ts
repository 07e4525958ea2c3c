/**
 * The dashboard's browser-facing defences, applied to its own routes only (the router sits at
 * the root beside /healthz and /metrics and must not touch them):
 * - headers: a strict Content-Security-Policy (same-origin resources only, no inline script or
 *   style, no framing, forms post only to us), nosniff, no referrer to other sites, no caching
 *   of pages;
 * - CSRF: a state-changing request must come from our own origin (Origin, else Referer, else a
 *   browser-set `Sec-Fetch-Site: same-origin`, compared with Host) and carry the session's CSRF
 *   token (form field `_csrf` or `X-CSRF-Token` header);
 * - cookies: the session cookie is HttpOnly, SameSite=Strict, Path=/ (Secure on HTTPS).
 */
import type { Request, Response } from 'express';
import { tokensEqual } from './sessions.js';

export const sessionCookie = 'airlock_session';
/** Double-submit cookie guarding the login form (there is no session yet to hold a CSRF token). */
export const loginCsrfCookie = 'airlock_login_csrf';

const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join('; ');

/**
 * Headers for every dashboard response. Referrer-Policy is `same-origin` rather than
 * `no-referrer`: under `no-referrer` browsers send `Origin: null` with form posts, which would
 * defeat the Origin check; `same-origin` still sends nothing to other sites.
 */
export function setSecurityHeaders(res: Response, cache: 'no-store' | 'revalidate' = 'no-store'): void {
  res.setHeader('Content-Security-Policy', contentSecurityPolicy);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()');
  res.setHeader('Cache-Control', cache === 'no-store' ? 'no-store' : 'no-cache');
}

/** The host[:port] part of an absolute URL, or undefined. */
function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Whether a state-changing request comes from a page of ours: its Origin (else Referer) names
 * the host it was sent to. When a browser hides both (`Origin: null` under a strict referrer
 * policy), its own `Sec-Fetch-Site: same-origin` — a header pages cannot set — vouches instead.
 * Anything else (another site, a sandboxed frame, no evidence at all) is refused.
 */
export function isSameOrigin(req: Request): boolean {
  const host = req.header('host')?.toLowerCase();
  if (host === undefined || host === '') return false;
  const origin = req.header('origin');
  if (origin !== undefined && origin !== 'null') return hostOf(origin) === host;
  const referer = req.header('referer');
  if (referer !== undefined) return hostOf(referer) === host;
  return req.header('sec-fetch-site') === 'same-origin';
}

/** The CSRF token a request carries (header first, then the form field). */
export function presentedCsrfToken(req: Request, body: { _csrf?: string | undefined }): string | undefined {
  return req.header('x-csrf-token') ?? body._csrf;
}

/** Whether the presented CSRF token is the expected one (constant time). */
export function csrfTokenValid(presented: string | undefined, expected: string): boolean {
  return presented !== undefined && presented.length > 0 && tokensEqual(presented, expected);
}

/** One cookie's value from the request's Cookie header. */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.header('cookie');
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

/** Sets an HttpOnly, SameSite=Strict cookie; Secure on HTTPS or when configured. */
export function setCookie(
  req: Request,
  res: Response,
  name: string,
  value: string,
  options: { maxAgeMs: number; path: string; secure: boolean | undefined },
): void {
  res.cookie(name, value, { httpOnly: true, sameSite: 'strict', path: options.path, maxAge: options.maxAgeMs, secure: options.secure ?? req.secure });
}

/** Removes a cookie set by setCookie. */
export function clearCookie(req: Request, res: Response, name: string, options: { path: string; secure: boolean | undefined }): void {
  res.clearCookie(name, { httpOnly: true, sameSite: 'strict', path: options.path, secure: options.secure ?? req.secure });
}

/**
 * The address failed logins are counted against. With no trusted proxy (`dashboard.trustProxy`
 * false, the default) it is the socket's: X-Forwarded-For is anyone's to write. Behind N trusted
 * proxies it is the N-th X-Forwarded-For entry from the right — the one the outermost trusted
 * proxy appended, i.e. the address that connected to it; entries further left are the client's
 * own claims. Without enough entries, the left-most one there is.
 */
export function clientAddress(req: Request, trustProxyHops = 0): string {
  const socket = req.socket.remoteAddress ?? 'unknown';
  if (trustProxyHops <= 0) return socket;
  const header = req.headers['x-forwarded-for'];
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text === undefined) return socket;
  const hops = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (hops.length === 0) return socket;
  return hops[Math.max(0, hops.length - trustProxyHops)] ?? socket;
}
