/**
 * CSV rendering of audit events for spreadsheets (RFC 4180: CRLF line ends, a field holding a
 * comma, quote, CR or LF is quoted and its quotes doubled). Structured values are JSON in their
 * cell. The JSONL export is the lossless one (and the one whose hashes re-verify); CSV is for reading.
 *
 * Cells are written for people and spreadsheets, never for formulas: a cell beginning with
 * `=`, `+`, `-`, `@`, tab or CR gets a leading `'` (OWASP's advice against CSV injection — a deny
 * reason `=HYPERLINK(…)` stays text), and invisible or bidi characters are shown as `\u202E`.
 */
import { showInvisible } from '../util/visible-text.js';
import { contentFields } from './chain.js';
import type { AuditActor, AuditEvent } from './types.js';

/** The CSV columns, in order (the header row): the stream position, then the hashed content, then the links. */
export const csvColumns = ['id', 'time', 'seq', ...contentFields.filter((field) => field !== 'time'), 'prevHash', 'hash'] as const;

const formulaStart = /^[=+\-@\t\r]/;

/** One field: neutralised if a spreadsheet would read it as a formula, invisible characters shown, quoted only when it has to be. */
export function csvField(raw: string): string {
  const shown = showInvisible(raw);
  const value = formulaStart.test(shown) ? `'${shown}` : shown;
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One record with its CRLF. */
export function csvRecord(fields: readonly string[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}

/** The header row with its CRLF. */
export const csvHeader = csvRecord(csvColumns);

/** An event as one CSV record in `csvColumns` order; absent fields are empty cells. */
export function eventCsvRecord(event: AuditEvent): string {
  return csvRecord(csvColumns.map((column) => cell(event, column)));
}

/** Structured values are JSON in their cell; the actor is `kind:id`; the rest as text. */
function cell(event: AuditEvent, column: (typeof csvColumns)[number]): string {
  switch (column) {
    case 'actor':
      return actorText(event.actor);
    case 'arguments':
    case 'latency':
    case 'details':
      return event[column] === undefined ? '' : JSON.stringify(event[column]);
    default: {
      const value = event[column];
      return value === undefined ? '' : String(value);
    }
  }
}

/** `slack:U012AB`, `admin:alice`, `cli:bob`, `system:airlock`: kind and id in one readable cell. */
export function actorText(actor: AuditActor | undefined): string {
  if (!actor) return '';
  return actor.id.startsWith(`${actor.kind}:`) ? actor.id : `${actor.kind}:${actor.id}`;
}
