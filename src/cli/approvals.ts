/**
 * `airlock approvals list|show|approve|deny`: the CLI channel. It talks to Redis directly through
 * the same approvals core as the gateway (no gateway needs to be running, no admin token on the
 * command line); the actor is `cli:<login>`, and channels such as Slack still hear of decisions.
 */
import { userInfo } from 'node:os';
import type { ApprovalService } from '../approvals/approval-service.js';
import { openApprovalReader, type ApprovalReader } from '../approvals/approval-reader.js';
import { toApprovalView, type ApprovalView } from '../approvals/approval-view.js';
import { approvalStatuses, type ApprovalStatus, type DecisionResult } from '../approvals/types.js';
import { pinsText, toGrantView } from '../approvals/grant-view.js';
import type { Logger } from '../log.js';
import { durationHelp, parseDurationMs } from '../util/duration.js';
import { redactRedisUrl, type Redis } from '../state/redis.js';
import { CliError, configOption, connectCliRedisAt, loadCliConfig, parse } from './common.js';

const usage = `usage: airlock approvals list [--status ${approvalStatuses.join('|')}] [--limit N] | show ID | approve ID [--reason TEXT] [--grant DURATION [--pin PATH]...] | deny ID [--reason TEXT] | rerun ID [--reason TEXT]  [--config FILE]`;

export async function runApprovalsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...configOption,
    status: { type: 'string' },
    limit: { type: 'string' },
    reason: { type: 'string' },
    grant: { type: 'string' },
    pin: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  if ((values.grant !== undefined || values.pin !== undefined) && positionals[0] !== 'approve') {
    throw new CliError('--grant and --pin go with `airlock approvals approve` only');
  }
  if (values.pin !== undefined && values.grant === undefined) throw new CliError('--pin needs --grant DURATION (e.g. --grant 1h)');
  const grant = values.grant === undefined ? undefined : { durationMs: grantDuration(values.grant), pin: values.pin };
  const [sub, id] = positionals;
  if (sub === undefined || !['list', 'show', 'approve', 'deny', 'rerun'].includes(sub)) throw new CliError(usage);
  if (sub !== 'list') required(id);
  const config = loadCliConfig(values.config);
  const { redis, url } = await connectCliRedisAt(config);
  try {
    // Reading needs only the store; deciding goes through the approvals core (BullMQ and all),
    // loaded only then, so `list` and `show` stay quick.
    const store = openApprovalReader(redis, config.redis.prefix);
    switch (sub) {
      case 'list':
        return await list(store, values.status, values.limit, values.json === true, `${redactRedisUrl(url)} under the key prefix "${config.redis.prefix}"`);
      case 'show':
        return await show(store, required(id));
      default: {
        const verdict = sub === 'approve' ? 'approve' : sub === 'rerun' ? 'rerun' : 'deny';
        const approvals = await openApprovals(redis, url, config);
        try {
          return report(required(id), await approvals.decide(required(id), cliActor(), verdict, values.reason, grant ? { grant } : {}));
        } finally {
          await approvals.close();
        }
      }
    }
  } finally {
    redis.disconnect();
  }
}

/** The approvals core as the gateway runs it, minus the workers: a CLI decision is audited and channels hear of it. */
async function openApprovals(redis: Redis, redisUrl: string, config: ReturnType<typeof loadCliConfig>): Promise<ApprovalService> {
  const [{ ApprovalService }, { AuditStore }, { operatorLogSink }, { createLogger }] = await Promise.all([
    import('../approvals/approval-service.js'),
    import('../audit/audit-store.js'),
    import('../audit/operator-log.js'),
    import('../log.js'),
  ]);
  const log: Logger = createLogger({ stderr: true, level: 'warn' });
  // The gateway's own hash-chained history: a CLI decision is audited like any other (with the
  // policy's `show` paths, as the gateway writes them). It never trims.
  const store = openApprovalReader(redis, config.redis.prefix);
  const audit = operatorLogSink(new AuditStore({ redis, prefix: config.redis.prefix, log, trimIntervalMs: 0 }), {
    showPaths: async (id) => (await store.get(id))?.settings.show,
  });
  const approvals = new ApprovalService({
    redis,
    redisUrl,
    prefix: config.redis.prefix,
    log,
    audit,
    retryValidityMs: config.approvals.retryValidity,
    runWorkers: false,
  });
  await approvals.start();
  return approvals;
}

function grantDuration(text: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms < 1_000) throw new CliError(`--grant must be ${durationHelp}, at least 1 second`);
  return ms;
}

/** The operator running the CLI, as decisions and revocations record them. */
export function cliActor() {
  const login = process.env['USER'] ?? safeLogin();
  return { kind: 'cli' as const, id: `cli:${login}`, name: login };
}

function safeLogin(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

function required(id: string | undefined): string {
  if (id === undefined) throw new CliError(usage);
  return id;
}

async function list(store: ApprovalReader, status: string | undefined, limitText: string | undefined, json: boolean, where: string): Promise<number> {
  if (status !== undefined && !(approvalStatuses as readonly string[]).includes(status))
    throw new CliError(`--status must be one of ${approvalStatuses.join(', ')}`);
  const limit = limitText === undefined ? 50 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1) throw new CliError('--limit must be a positive integer');
  const records = await store.list({ limit, ...(status ? { status: status as ApprovalStatus } : {}) }); // checked against approvalStatuses above
  const views = records.map(toApprovalView);
  if (json) {
    process.stdout.write(`${JSON.stringify(views, null, 2)}\n`);
    return 0;
  }
  if (views.length === 0) {
    // Say where we looked: "none" from the wrong Redis or prefix must not read like "none at all".
    process.stdout.write(`no ${status ? `${status} ` : ''}approvals in ${where}\n`);
    return 0;
  }
  const rows = views.map((v) => [v.id, v.status, v.tool, v.agent, `${v.approvals}/${v.quorum}`, v.createdAt, summary(v)]);
  printTable(['ID', 'STATUS', 'TOOL', 'AGENT', 'VOTES', 'CREATED', 'ARGUMENTS'], rows);
  return 0;
}

async function show(store: ApprovalReader, id: string): Promise<number> {
  const record = await store.get(id);
  if (!record) {
    process.stderr.write(`airlock: no approval ${id}\n`);
    return 1;
  }
  process.stdout.write(`${JSON.stringify(toApprovalView(record), null, 2)}\n`);
  return 0;
}

function report(id: string, result: DecisionResult): number {
  switch (result.kind) {
    case 'decided':
      process.stdout.write(`${id}: ${result.record.status}\n`);
      if (result.grant) {
        const view = toGrantView(result.grant);
        process.stdout.write(`grant ${view.id}: ${view.agent} may call ${view.tool} with ${pinsText(view)} until ${view.expiresAt}\n`);
      }
      return 0;
    case 'vote_recorded':
      process.stdout.write(`${id}: approval recorded, ${result.approvals} of ${result.quorum}\n`);
      return 0;
    case 'duplicate_vote':
      process.stderr.write(`airlock: you already approved ${id} (${result.approvals} of ${result.quorum})\n`);
      return 1;
    case 'not_rerunnable':
      process.stderr.write(`airlock: ${id} is ${result.record.status}; a re-run is only for a call that failed or whose outcome is unknown\n`);
      return 1;
    case 'already_decided':
      process.stderr.write(`airlock: ${id} was already ${result.record.status}${result.record.decidedBy ? ` by ${result.record.decidedBy.id}` : ''}\n`);
      return 1;
    case 'not_authorized':
      process.stderr.write(`airlock: not allowed to decide ${id}: ${result.why}\n`);
      return 1;
    case 'not_found':
      process.stderr.write(`airlock: no approval ${id}\n`);
      return 1;
  }
}

function summary(view: ApprovalView): string {
  const text = view.highlights.length > 0 ? view.highlights.map((h) => `${h.path}=${JSON.stringify(h.value)}`).join(' ') : JSON.stringify(view.arguments);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line(header), ...rows.map(line)].join('\n')}\n`);
}
