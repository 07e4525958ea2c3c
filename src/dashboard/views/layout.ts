/**
 * The page shell every dashboard page shares: head (stylesheet and script from our own routes,
 * nothing inline, nothing external), a skip link, the navigation with the logged-in person and a
 * logout form, the flash message of the last action, and the page's own content under one h1.
 */
import { html, type HtmlValue, type SafeHtml } from '../html.js';
import { may } from '../roles.js';
import type { DashboardSession, Flash } from '../sessions.js';

export type Section = 'pending' | 'grants' | 'history' | 'policy' | 'none';

export interface PageModel {
  title: string;
  section: Section;
  /** Absent on the login page. */
  session: DashboardSession | undefined;
  flash?: Flash | undefined;
  body: HtmlValue;
}

const sections: Array<{ id: Section; href: string; label: string }> = [
  { id: 'pending', href: '/', label: 'Pending' },
  { id: 'grants', href: '/grants', label: 'Grants' },
  { id: 'history', href: '/history', label: 'History' },
  { id: 'policy', href: '/policy', label: 'Policy' },
];

/** A whole HTML document. */
export function renderPage(model: PageModel): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${model.title} · Airlock</title>
        <link rel="stylesheet" href="/assets/dashboard.css" />
        <link rel="icon" href="/assets/favicon.svg" type="image/svg+xml" />
        <script src="/assets/dashboard.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <p class="brand"><a href="/">Airlock</a></p>
          ${model.session && navigation(model.section, model.session)}
        </header>
        <main id="main" tabindex="-1">${model.flash && flashMessage(model.flash)} ${model.body}</main>
      </body>
    </html> `.value;
}

function navigation(active: Section, session: DashboardSession): SafeHtml {
  const links = sections
    .filter((s) => s.id !== 'history' || may(session.role, 'history'))
    .map((s) => html`<li><a href="${s.href}" ${s.id === active ? html` aria-current="page"` : ''}>${s.label}</a></li>`);
  return html`<nav aria-label="Dashboard">
      <ul>
        ${links}
      </ul>
    </nav>
    <form class="logout" method="post" action="/logout">
      <input type="hidden" name="_csrf" value="${session.csrfToken}" />
      <span class="who">Signed in as <strong>${session.login}</strong> (${session.role})</span>
      <button type="submit" class="link-button">Log out</button>
    </form>`;
}

/** The outcome of the last action; errors are announced at once, the rest politely. */
export function flashMessage(flash: Flash): SafeHtml {
  const role = flash.level === 'error' ? 'alert' : 'status';
  return html`<div class="flash flash-${flash.level}" role="${role}">${flash.text}</div>`;
}

/** A titled error page body. */
export function errorBody(title: string, message: string, link: { href: string; label: string } = { href: '/', label: 'Back to the dashboard' }): SafeHtml {
  return html`<h1>${title}</h1>
    <p>${message}</p>
    <p><a href="${link.href}">${link.label}</a></p>`;
}
