/**
 * The dashboard's only way to make HTML: a tagged template that escapes every interpolated value
 * unless it is already SafeHtml (the result of another `html` template). Argument values, agent
 * names, reasons — anything that came from an agent, a policy or a person — go through `escape`,
 * so a value such as `<script>` renders as text. Invisible and text-reordering characters (bidi
 * controls, zero-width characters …) in interpolated text are shown as `\u202E`-style escapes, so
 * what a person reads is what the value is. Nothing in the dashboard builds HTML by string
 * concatenation.
 */
import { showInvisible } from '../util/visible-text.js';

/** HTML that is safe to insert as is: produced by `html`, whose interpolations are escaped. */
export class SafeHtml {
  constructor(readonly value: string) {}

  toString(): string {
    return this.value;
  }
}

/** What a template may interpolate; `false`, `null` and `undefined` render nothing (for `cond && html…`). */
export type HtmlValue = SafeHtml | string | number | false | null | undefined | readonly HtmlValue[];

const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for element content and for quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => entities[char] ?? char);
}

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.value;
  if (value === false || value === null || value === undefined) return '';
  if (typeof value === 'number') return escapeHtml(String(value));
  if (typeof value === 'string') return escapeHtml(showInvisible(value));
  return value.map(render).join('');
}

/** Builds HTML from a template; every interpolation is escaped unless it is SafeHtml. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i += 1) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}

/** A local URL with a query string built by URLSearchParams; empty and undefined values are left out. */
export function localUrl(path: string, params: Record<string, string | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== '') query.set(key, value);
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}
