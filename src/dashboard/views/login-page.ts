/**
 * The login form: a user name (`admin` for the admin token) and a password field for the token. The
 * token goes in a POST body only (never a URL), and the field is a password input so it is not
 * shown or kept in form history. A hidden CSRF value pairs with a login cookie (double submit).
 * With sign-in at an identity provider configured, its button leads and the token form folds
 * away below it as the break-glass way in.
 */
import { html, type SafeHtml } from '../html.js';

export interface LoginModel {
  csrfToken: string;
  /** Local path to return to after login. */
  next: string;
  error: string | undefined;
  /** The user name typed last time (echoed back after a failure). */
  user?: string;
  /** False when neither an admin token nor dashboard users are configured. */
  enabled: boolean;
  /** Sign-in at the identity provider, when configured: its button leads. */
  oidc?: { displayName: string } | undefined;
  /** The browser's previous session has ended. */
  ended?: boolean;
}

export function loginBody(model: LoginModel): SafeHtml {
  if (model.oidc) {
    const start = `/login/oidc${model.next === '/' ? '' : `?next=${encodeURIComponent(model.next)}`}`;
    return html`<h1>Sign in to Airlock</h1>
      ${model.ended && html`<div class="flash flash-info" role="status">Your session has ended. Sign in again.</div>`}
      ${model.error && html`<div class="flash flash-error" role="alert" id="login-error">${model.error}</div>`}
      <div class="card login">
        <p><a class="button" href="${start}" id="oidc-sign-in">Sign in with ${model.oidc.displayName}</a></p>
      </div>
      ${
        model.enabled &&
        html`<details class="card login break-glass" ${model.error ? 'open' : ''}>
          <summary>Sign in with a token (break-glass admin token or dashboard token)</summary>
          <p class="muted">
            Use this only when ${model.oidc.displayName} is unavailable: an admin-token sign-in is logged as break-glass and recorded in the audit history.
          </p>
          ${tokenForm(model)}
        </details>`
      }`;
  }
  if (!model.enabled) {
    return html`<h1>Airlock dashboard</h1>
      <div class="flash flash-error" role="alert">
        Login is disabled: set AIRLOCK_ADMIN_TOKEN on the gateway, or add users under "dashboard.users" in airlock.config.json.
      </div>`;
  }
  return html`<h1>Sign in to Airlock</h1>
    ${model.ended && html`<div class="flash flash-info" role="status">Your session has ended. Sign in again.</div>`}
    ${model.error && html`<div class="flash flash-error" role="alert" id="login-error">${model.error}</div>`} ${tokenForm(model, 'card login')}
    <p class="muted">Ask an operator for a dashboard token; it is stored in the gateway's config only as a SHA-256 hash.</p>`;
}

function tokenForm(model: LoginModel, className = ''): SafeHtml {
  return html`<form class="${className}" method="post" action="/login">
    <input type="hidden" name="_csrf" value="${model.csrfToken}" />
    <input type="hidden" name="next" value="${model.next}" />
    <div class="field field-wide">
      <label for="user">User name (admin for the admin token)</label>
      <input type="text" id="user" name="user" value="${model.user ?? ''}" required autocomplete="username" spellcheck="false" />
    </div>
    <div class="field field-wide">
      <label for="token">Dashboard token or admin token</label>
      <input
        type="password"
        id="token"
        name="token"
        required
        autocomplete="current-password"
        spellcheck="false"
        ${model.error ? html` aria-describedby="login-error" aria-invalid="true"` : ''}
      />
    </div>
    <div class="actions"><button type="submit" class="button">Sign in</button></div>
  </form>`;
}
