/**
 * `airlock audit list|export|verify|show`: the operator's view of the audit history. It talks to
 * Redis directly through the same AuditStore as the gateway (no gateway needs to be running), and
 * never writes. Exit codes: 0 ok, 1 a broken chain or a runtime failure, 2 bad input.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AuditStore } from '../audit/audit-store.js';
import { exportFormats, type ExportFormat } from '../audit/export.js';
import type { AuditFilter } from '../audit/filter.js';
import { maxPageSize } from '../audit/query.js';
import { streamIdPattern } from '../audit/stream-entry.js';
import { formatStory, formatTable, formatVerify } from '../audit/text-format.js';
import { parseTime, timeHelp } from '../audit/time.js';
import { auditEventTypes, type AuditEventType } from '../audit/types.js';
import { CliError, configOption, connectCliRedis, loadCliConfig, parse } from './common.js';
import { terminalProgress } from './progress.js';

const usage = `usage: airlock audit list [--agent A] [--tool T] [--type T[,T…]] [--approval ID] [--since TIME] [--until TIME] [--limit N] [--cursor C] [--json]
       airlock audit export [--format jsonl|csv] [--since TIME] [--until TIME] [--agent A] [--tool T] [--type T] [--out FILE]
       airlock audit verify [--json]
       airlock audit show APPROVAL_ID [--json]
TIME is ${timeHelp}.`;

/** Where the command writes; tests pass their own streams. */
export interface CliOutput {
  stdout: Writable;
  stderr: Writable;
}

/** Runs `airlock audit …`; returns the exit code. */
export async function runAuditCommand(args: string[], output: CliOutput = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const { values, positionals } = parse(args, {
    ...configOption,
    agent: { type: 'string' },
    tool: { type: 'string' },
    type: { type: 'string' },
    approval: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string', short: 'o' },
    json: { type: 'boolean' },
  });
  const [sub, id] = positionals;
  if (sub === undefined || !['list', 'export', 'verify', 'show'].includes(sub)) throw new CliError(usage);
  const filter = parseFilter(values);
  const config = loadCliConfig(values.config);
  // Reads only, and never trims (the gateway does); close() also closes the connection. No logger:
  // every failure is the command's answer, printed once.
  const store = new AuditStore({ redis: await connectCliRedis(config), prefix: config.redis.prefix, trimIntervalMs: 0, ownsConnection: true });
  await store.start();
  const out = output.stdout;
  try {
    switch (sub) {
      case 'list': {
        const limit = parseLimit(values.limit);
        if (values.cursor !== undefined && !streamIdPattern.test(values.cursor)) throw new CliError('--cursor takes the "next" value a previous list printed');
        const page = await store.query({ ...filter, limit, ...(values.cursor ? { cursor: values.cursor } : {}) });
        await write(out, values.json ? `${JSON.stringify(page, null, 2)}\n` : formatTable(page));
        return 0;
      }
      case 'export':
        await exportTo(store, { ...filter, format: parseFormat(values.format) }, values.out, out, output.stderr);
        return 0;
      case 'verify': {
        const result = await store.verify();
        await write(out, values.json ? `${JSON.stringify(result, null, 2)}\n` : formatVerify(result));
        return result.ok ? 0 : 1;
      }
      default: {
        if (id === undefined) throw new CliError(usage);
        const events = await store.story(id);
        if (events.length === 0) {
          await write(output.stderr, `airlock: no audit events for approval ${id} (unknown id, or older than the retention)\n`);
          return 1;
        }
        await write(out, values.json ? `${JSON.stringify(events, null, 2)}\n` : formatStory(id, events));
        return 0;
      }
    }
  } finally {
    await store.close();
  }
}

interface FilterFlags {
  agent?: string | undefined;
  tool?: string | undefined;
  type?: string | undefined;
  approval?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

function parseFilter(flags: FilterFlags): AuditFilter {
  const filter: AuditFilter = {};
  if (flags.agent !== undefined) filter.agent = flags.agent;
  if (flags.tool !== undefined) filter.tool = flags.tool;
  if (flags.approval !== undefined) filter.approval = flags.approval;
  if (flags.type !== undefined) {
    const types = flags.type
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const unknown = types.filter((t) => !(auditEventTypes as readonly string[]).includes(t));
    if (types.length === 0 || unknown.length > 0)
      throw new CliError(`--type must be one or more of ${auditEventTypes.join(', ')}${unknown.length ? ` (not ${unknown.join(', ')})` : ''}`);
    filter.type = types as AuditEventType[]; // each checked against auditEventTypes above
  }
  if (flags.since !== undefined) filter.since = parseTimeFlag('--since', flags.since);
  if (flags.until !== undefined) filter.until = parseTimeFlag('--until', flags.until);
  return filter;
}

function parseTimeFlag(flag: string, text: string): number {
  const ms = parseTime(text);
  if (ms === undefined) throw new CliError(`${flag} must be ${timeHelp}; got ${JSON.stringify(text)}`);
  return ms;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return 50;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxPageSize) throw new CliError(`--limit must be an integer from 1 to ${maxPageSize}`);
  return limit;
}

function parseFormat(text: string | undefined): ExportFormat {
  if (text === undefined) return 'jsonl';
  if (!(exportFormats as readonly string[]).includes(text)) throw new CliError(`--format must be ${exportFormats.join(' or ')}`);
  return text as ExportFormat; // checked against exportFormats above
}

/**
 * Streams the export to a file (created or truncated) or to stdout, at the pace they drain. On a
 * terminal, stderr counts the events as they go (a large history takes a while), unless the
 * export itself is going to that terminal.
 */
async function exportTo(
  store: AuditStore,
  options: Parameters<AuditStore['export']>[0],
  file: string | undefined,
  out: Writable,
  err: Writable,
): Promise<void> {
  const total = await store.size().catch(() => undefined);
  const of = total === undefined ? '' : ` of ${total.toLocaleString('en-US')} in the history`;
  const toTerminal = file === undefined && (out as Writable & { isTTY?: boolean }).isTTY === true;
  const progress = terminalProgress(err, (n) => `exported ${n.toLocaleString('en-US')} events${of}`, !toTerminal);
  let header = options.format === 'csv';
  const count = (chunk: string) => {
    let lines = 0;
    for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) lines += 1;
    if (header && lines > 0) {
      header = false;
      lines -= 1; // the CSV header row is not an event
    }
    progress.add(lines);
  };
  if (file !== undefined) {
    const counted = new Transform({
      transform(chunk: Buffer | string, _encoding, done) {
        count(chunk.toString());
        done(null, chunk);
      },
    });
    await pipeline(store.exportStream(options), counted, createWriteStream(file));
  } else {
    // stdout is not ended (other output may follow, and process.stdout cannot be closed), so no pipeline().
    for await (const chunk of store.export(options)) {
      count(chunk);
      await write(out, chunk);
    }
  }
  progress.done();
}

async function write(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}
