/**
 * The dashboard's one stylesheet, served from /assets/dashboard.css (no build step, no external
 * fonts). System fonts, AA contrast, a visible focus ring, tables that scroll sideways inside
 * their own box, and a single column at 600px and below.
 */
export const dashboardCss = `
:root { --fg: #1b1f24; --muted: #57606a; --bg: #ffffff; --panel: #f6f8fa; --line: #d0d7de; --link: #0550ae;
  --ok: #116329; --ok-bg: #dafbe1; --bad: #a40e26; --bad-bg: #ffebe9; --info-bg: #ddf4ff; --warn-bg: #fff8c5; --focus: #0969da; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--link); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
pre.value { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; background: var(--panel); padding: 0.25rem 0.5rem; border-radius: 4px; max-height: 24rem; overflow: auto; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--bg); padding: 0.5rem; }
.skip:focus { left: 0.5rem; z-index: 10; }
.vh { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.top { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1.5rem; padding: 0.5rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
.brand { margin: 0; font-weight: 700; }
.brand a { color: var(--fg); text-decoration: none; }
.top nav ul { display: flex; gap: 1rem; margin: 0; padding: 0; list-style: none; }
.top nav a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 3px; }
.logout { margin-left: auto; display: flex; gap: 0.5rem; align-items: center; flex-wrap: wrap; }
.who { color: var(--muted); }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
main:focus { outline: none; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 0 0 0.75rem; overflow-wrap: anywhere; }
h3 { font-size: 1.1rem; }
h4 { font-size: 1rem; margin-bottom: 0.25rem; }
.muted { color: var(--muted); font-weight: normal; }
.id { font-size: 0.85rem; }
.lead { margin-top: 0; }
.crumbs { font-size: 0.9rem; margin: 0; overflow-wrap: anywhere; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 1rem; margin: 0 0 1rem; background: var(--bg); }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: 0.5rem 1rem; margin: 0 0 0.75rem; }
.fact { min-width: 0; }
.fact-wide { grid-column: 1 / -1; }
.fact dt { font-size: 0.85rem; color: var(--muted); }
.fact dd { margin: 0; overflow-wrap: anywhere; }
details.arguments { margin: 0 0 0.75rem; }
details.arguments summary { cursor: pointer; color: var(--link); }
.progress p { margin: 0.25rem 0; }
.progress progress { vertical-align: middle; width: 8rem; }
.votes { margin: 0.25rem 0; padding-left: 1.25rem; }
.badge { display: inline-block; padding: 0 0.5rem; border-radius: 999px; font-size: 0.85rem; font-weight: 600; background: var(--panel); border: 1px solid var(--line); }
.badge-approved, .badge-allow { background: var(--ok-bg); color: var(--ok); }
.badge-denied, .badge-deny, .badge-expired, .badge-invalid_arguments { background: var(--bad-bg); color: var(--bad); }
.badge-pending, .badge-approve { background: var(--warn-bg); color: #6b4b00; }
.decide { display: flex; flex-wrap: wrap; gap: 0.75rem 1.5rem; align-items: flex-end; border-top: 1px solid var(--line); padding-top: 0.75rem; }
.deny-form { display: flex; flex-direction: column; gap: 0.25rem; flex: 1 1 18rem; }
.inline { display: flex; gap: 0.5rem; }
.inline input { flex: 1; min-width: 0; }
input, select, textarea { font: inherit; color: inherit; padding: 0.4rem 0.5rem; border: 1px solid #8c959f; border-radius: 6px; background: var(--bg); max-width: 100%; }
textarea { width: 100%; font-family: ui-monospace, Menlo, Consolas, monospace; }
label { font-weight: 600; }
.button { display: inline-block; font: inherit; font-weight: 600; padding: 0.4rem 1rem; border-radius: 6px; border: 1px solid transparent; background: var(--link); color: #fff; cursor: pointer; text-decoration: none; }
.button.approve { background: #1a7f37; }
details.approve-confirm > summary { list-style: none; }
details.approve-confirm > summary::-webkit-details-marker { display: none; }
details.approve-confirm[open] > summary { background: var(--bg); color: #1a7f37; border-color: #1a7f37; }
.approve-form { margin-top: 0.5rem; max-width: 28rem; }
.approve-form p { margin: 0 0 0.5rem; }
.pending-filter { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0 0 0.75rem; }
.pending-filter input { width: 12rem; }
.batch-decide { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: flex-start; padding: 0.75rem; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); margin: 0 0 0.75rem; }
.batch-decide .inline { flex: 1 1 18rem; }
.batch-confirm p { margin: 0.5rem 0; max-width: 28rem; }
.shortcuts { font-size: 0.85rem; }
kbd { font-family: ui-monospace, Menlo, Consolas, monospace; border: 1px solid var(--line); border-radius: 4px; padding: 0 0.3rem; }
.select-call { width: 1.1rem; height: 1.1rem; vertical-align: middle; margin-right: 0.4rem; }
article.current { outline: 3px solid var(--link); outline-offset: 2px; }
details.edit-confirm > summary { list-style: none; }
details.edit-confirm > summary::-webkit-details-marker { display: none; }
.edit-form { display: flex; flex-direction: column; gap: 0.35rem; margin-top: 0.5rem; max-width: 36rem; }
.edit-form p { margin: 0; }
.edit-facts { border-left: 3px solid var(--warn-bg); padding-left: 0.75rem; margin: 0.5rem 0; overflow-wrap: anywhere; }
.key-arguments { list-style: none; margin: 0; padding: 0; }
.button.deny { background: #cf222e; }
.button.secondary { background: var(--bg); color: var(--link); border-color: var(--line); }
.link-button { font: inherit; background: none; border: none; color: var(--link); text-decoration: underline; cursor: pointer; padding: 0; }
.flash { padding: 0.75rem 1rem; border-radius: 6px; margin: 0 0 1rem; border: 1px solid var(--line); overflow-wrap: anywhere; }
.flash-success { background: var(--ok-bg); color: var(--ok); }
.flash-error { background: var(--bad-bg); color: var(--bad); }
.flash-info { background: var(--info-bg); }
.notice { background: var(--warn-bg); padding: 0.5rem 0.75rem; border-radius: 6px; }
.filters, .explain, .login { display: flex; flex-wrap: wrap; gap: 0.75rem 1rem; align-items: flex-end; margin-bottom: 1rem; }
.field { display: flex; flex-direction: column; gap: 0.25rem; min-width: 0; }
.field-wide { flex: 1 1 100%; }
.help { flex: 1 1 100%; margin: 0; font-size: 0.85rem; }
.exports { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
.table-scroll { overflow-x: auto; max-width: 100%; border: 1px solid var(--line); border-radius: 6px; margin-bottom: 1rem; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; padding: 0.5rem; font-weight: 600; }
th, td { text-align: left; vertical-align: top; padding: 0.4rem 0.6rem; border-top: 1px solid var(--line); }
thead th { background: var(--panel); white-space: nowrap; }
tbody th { font-weight: normal; white-space: nowrap; }
ul.plain { margin: 0; padding: 0; list-style: none; }
.pager { display: flex; gap: 1.5rem; margin: 1rem 0; }
.timeline { padding-left: 1.5rem; }
.timeline .event p { margin: 0; }
.event-facts { margin: 0 0 0.75rem; padding-left: 1.25rem; }
.trace { padding-left: 1.5rem; }
.policy-file { margin-bottom: 2rem; }
.empty { padding: 1rem; background: var(--panel); border-radius: 6px; }
.stale { opacity: 0.6; }
@media (max-width: 600px) {
  main { padding: 0.75rem; }
  h1 { font-size: 1.35rem; }
  .logout { margin-left: 0; }
  .facts { grid-template-columns: 1fr; }
  .filters .field, .explain .field { flex: 1 1 100%; }
  .decide { flex-direction: column; align-items: stretch; }
  .deny-form { flex: none; }
  .inline { flex-direction: column; }
  .button { width: 100%; text-align: center; }
  .exports .button { width: auto; }
}
@media (prefers-reduced-motion: reduce) { * { transition: none !important; } }
`;

/** A small mark for the browser tab (served so the page needs nothing from elsewhere). */
export const faviconSvg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0550ae"/><path d="M4 12V7a4 4 0 0 1 8 0v5" fill="none" stroke="#fff" stroke-width="2"/></svg>`;
