/**
 * The audit history as text for a person at a terminal (`airlock audit list|show|verify`): a
 * table of events, one held call's story as a timeline, and the verify verdict in one line.
 * Machine-readable output is `--json` or the exports, never this.
 */
import { formatDurationMs } from '../util/duration.js';
import { actorText } from './csv.js';
import type { AuditPage } from './query.js';
import type { AuditEvent, AuditLatency } from './types.js';
import type { VerifyResult } from './verify.js';

/** A page of events as an aligned table, newest first, plus how to get the next page. */
export function formatTable(page: AuditPage): string {
  if (page.events.length === 0)
    return page.nextCursor ? `no matching events among the ${page.scanned} scanned; continue with --cursor ${page.nextCursor}\n` : 'no events\n';
  const rows = page.events.map((e) => [e.time, e.type, e.agent ?? '', e.tool ?? '', actorText(e.actor), e.approvalId ?? '', clip(summary(e), 60)]);
  const table = alignTable(['TIME', 'TYPE', 'AGENT', 'TOOL', 'ACTOR', 'APPROVAL', 'DETAIL'], rows);
  return `${table}${page.nextCursor ? `more: --cursor ${page.nextCursor}\n` : ''}`;
}

/** One held call from request to execution, oldest first. */
export function formatStory(approvalId: string, events: readonly AuditEvent[]): string {
  const first = events[0];
  const lines = [
    `approval ${approvalId}${first?.tool ? `: ${first.tool}` : ''}${first?.agent ? ` by agent ${first.agent}` : ''}${first?.upstream ? ` on ${first.upstream}` : ''}`,
  ];
  if (first?.arguments !== undefined) lines.push(`  arguments ${clip(JSON.stringify(first.arguments), 200)}`);
  if (first?.rule) lines.push(`  rule ${first.rule}${first.policyVersion ? ` (policy ${first.policyVersion})` : ''}`);
  const width = Math.max(...events.map((e) => e.type.length));
  for (const event of events) lines.push(`  ${event.time}  ${event.type.padEnd(width)}  ${summary(event)}`.trimEnd());
  return `${lines.join('\n')}\n`;
}

/** The verdict: what was checked, or where the chain breaks. */
export function formatVerify(result: VerifyResult): string {
  if (!result.ok)
    return `audit chain BROKEN at ${result.at || '(empty stream)'}${result.seq === undefined ? '' : ` (seq ${result.seq})`}: ${result.problem}: ${result.message}\n`;
  if (result.events === 0) return 'audit chain ok: no events yet\n';
  const from = result.anchoredAt === 'genesis' ? 'from the first event' : `from seq ${result.firstSeq}, the first event kept after retention trimming`;
  return `audit chain ok: ${result.events} events, seq ${result.firstSeq}–${result.lastSeq}, verified ${from}\n`;
}

/** Who, why and how long, in a few words. */
function summary(event: AuditEvent): string {
  const parts: string[] = [];
  if (event.actor && event.actor.kind !== 'system') parts.push(`by ${actorText(event.actor)}`);
  if (event.outcome) parts.push(event.outcome);
  if (event.reason) parts.push(`"${event.reason}"`);
  const quorum = event.details?.['approvals'];
  if (event.type === 'approval_vote' && typeof quorum === 'number') parts.push(`${quorum} of ${JSON.stringify(event.details?.['quorum'] ?? '?')}`);
  const latency = latencyText(event.latency);
  if (latency) parts.push(latency);
  return parts.join(', ');
}

function latencyText(latency: AuditLatency | undefined): string {
  if (!latency) return '';
  const named: Array<[string, number | undefined]> = [
    ['held', latency.heldMs],
    ['decision', latency.decisionMs],
    ['upstream', latency.upstreamMs],
    ['total', latency.totalMs],
  ];
  return named
    .filter((pair): pair is [string, number] => pair[1] !== undefined)
    .map(([name, ms]) => `${name} ${formatDurationMs(ms)}`)
    .join(' ');
}

function clip(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max - 3)}...` : oneLine;
}

function alignTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
