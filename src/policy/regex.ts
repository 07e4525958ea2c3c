/**
 * Policy regular expressions run in RE2JS, a pure-JavaScript port of RE2: matching time grows
 * linearly with the input, whatever the pattern, so no argument value can stall the gateway the
 * way a backtracking engine (JavaScript's own RegExp) can with `[^;]*;?\s*$` on a long near-miss.
 * The schema, compile, evaluate() and the dashboard's explain form all compile through here,
 * so a pattern the engine cannot run is a load problem, never a surprise at call time.
 *
 * Syntax is RE2's, with JavaScript spellings translated (`(?<name>…)`, `\uXXXX`, `\/`).
 * Differences people meet: no lookaround and no backreferences; `\s`, `\d`, `\w` and `\b` are
 * ASCII-only; matching is always by code point (the `u` flag changes nothing).
 */
import { RE2JS } from 're2js';

/** A compiled pattern: `test` finds a match anywhere in the input (anchor with ^ and $). */
export interface LinearRegex {
  readonly source: string;
  readonly flags: string;
  test(input: string): boolean;
}

export type RegexCompileResult = { ok: true; regex: LinearRegex } | { ok: false; message: string };

const flagBits: Record<string, number> = { i: RE2JS.CASE_INSENSITIVE, m: RE2JS.MULTILINE, s: RE2JS.DOTALL, u: 0 };

/** Compiles a policy pattern with JavaScript-style flags (`i`, `m`, `s`, `u`). */
export function compileRegex(pattern: string, flags = ''): RegexCompileResult {
  let bits = 0;
  for (const flag of flags) {
    const bit = flagBits[flag];
    if (bit === undefined) return { ok: false, message: `unknown regex flag "${flag}" (use i, m, s, u)` };
    bits |= bit;
  }
  try {
    const compiled = RE2JS.compile(RE2JS.translateRegExp(pattern), bits);
    return { ok: true, regex: { source: pattern, flags, test: (input) => compiled.test(input) } };
  } catch (error) {
    return { ok: false, message: unsupportedMessage(error instanceof Error ? error.message : String(error)) };
  }
}

/** The engine's complaint, with what to do about the usual causes. */
function unsupportedMessage(raw: string): string {
  const reason = raw.replace(/^error parsing regexp: /, '');
  const hint = /\(\?[=!<]|lookbehind|Perl syntax/.test(reason)
    ? ' Lookahead and lookbehind ((?=…), (?!…), (?<=…), (?<!…)) are not supported: use "not_regex" for "must not contain", or two conditions.'
    : /escape|\\[1-9]/.test(reason)
      ? ' Backreferences (\\1) are not supported.'
      : '';
  return `the linear-time regex engine (RE2 syntax) cannot run this pattern: ${reason}.${hint}`;
}
