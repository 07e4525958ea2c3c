/**
 * CSV rendering of audit events for spreadsheets (RFC 4180: CRLF line ends, a field holding a
 * comma, quote, CR or LF is quoted and its quotes doubled). Structured values are JSON in their
 * cell. The JSONL export is the lossless one (and the one whose hashes re-verify); CSV is for reading.
 */
import type { AuditActor, AuditEvent } from './types.js';

/** The CSV columns, in order (the header row). */
export const csvColumns = [
  'id',
  'time',
  'seq',
  'type',
  'agent',
  'session',
  'upstream',
  'tool',
  'approvalId',
  'actor',
  'reason',
  'outcome',
  'policyVersion',
  'rule',
  'argumentsHash',
  'arguments',
  'latency',
  'details',
  'prevHash',
  'hash',
] as const;

/** One field, quoted only when it has to be. */
export function csvField(value: string): string {
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
  const json = (value: unknown) => (value === undefined ? '' : JSON.stringify(value));
  return csvRecord([
    event.id,
    event.time,
    String(event.seq),
    event.type,
    event.agent ?? '',
    event.session ?? '',
    event.upstream ?? '',
    event.tool ?? '',
    event.approvalId ?? '',
    actorText(event.actor),
    event.reason ?? '',
    event.outcome ?? '',
    event.policyVersion ?? '',
    event.rule ?? '',
    event.argumentsHash ?? '',
    json(event.arguments),
    json(event.latency),
    json(event.details),
    event.prevHash,
    event.hash,
  ]);
}

/** `slack:U012AB`, `admin:alice`, `cli:bob`, `system:airlock`: kind and id in one readable cell. */
export function actorText(actor: AuditActor | undefined): string {
  if (!actor) return '';
  return actor.id.startsWith(`${actor.kind}:`) ? actor.id : `${actor.kind}:${actor.id}`;
}
