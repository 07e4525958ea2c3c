/**
 * What an approver reads cannot lie: characters that are invisible or that reorder the text
 * around them are shown as escapes wherever agent- or upstream-supplied text is displayed (Slack,
 * the dashboard, exports). Without this, `"prod\u202E..."` can render as something else, a
 * zero-width space makes two different values look equal, and Unicode tag characters carry text
 * nobody sees.
 *
 * Escaped: control characters except tab, line feed and carriage return (Cc), format characters (Cf: bidi controls
 * U+202A–202E and U+2066–2069, LRM/RLM/ALM, zero-width U+200B–200D, U+2060–2064, U+FEFF, soft
 * hyphen, tag characters U+E0000–E007F…), line and paragraph separators, variation selectors,
 * and the invisible Hangul fillers and U+034F / U+115F / U+1160 / U+3164 / U+FFA0 / U+180E.
 */

// The class lists invisible combining marks on purpose: each is matched (and escaped) on its own.
// eslint-disable-next-line no-misleading-character-class
const invisible = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u034F\u115F\u1160\u17B4\u17B5\u180B-\u180F\u3164\uFE00-\uFE0F\uFFA0\u{E0100}-\u{E01EF}]/gu;
const keep = new Set(['\t', '\n', '\r']);

function hex(code: number, width: number): string {
  return code.toString(16).toUpperCase().padStart(width, '0');
}

/** `text` with each invisible or reordering character written as `\uXXXX` (or `\u{XXXXX}`). */
export function showInvisible(text: string): string {
  return text.replace(invisible, (char) => {
    if (keep.has(char)) return char;
    const code = char.codePointAt(0) ?? 0;
    return code > 0xffff ? `\\u{${hex(code, 5)}}` : `\\u${hex(code, 4)}`;
  });
}

/**
 * For JSON text (exports): the same characters as JSON escapes (`\u202e`, astral ones as a
 * surrogate pair), so the JSON still parses to exactly the same value. Every non-ASCII
 * character of JSON.stringify output sits inside a string literal, so this is always valid.
 */
export function escapeInvisibleInJson(json: string): string {
  return json.replace(invisible, (char) => {
    if (keep.has(char)) return char; // JSON.stringify has escaped these already
    let out = '';
    for (let i = 0; i < char.length; i += 1) out += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return out;
  });
}
