/**
 * `airlock grants list|revoke`: standing grants from the command line, straight to Redis through
 * the approvals core's grant store (no gateway needs to run, no BullMQ is loaded). A revocation is
 * recorded as `cli:<login>` in the gateway's hash-chained audit history and holds on every replica
 * from the next call on (they read Redis on each check).
 */
import { openGrantChannels, type GrantChannels } from '../approvals/approval-reader.js';
import { pinsText, toGrantView } from '../approvals/grant-view.js';
import { redactRedisUrl, type Redis } from '../state/redis.js';
import { cliActor } from './approvals.js';
import { CliError, configOption, connectCliRedisAt, loadCliConfig, parse } from './common.js';

const usage = 'usage: airlock grants list [--json] | revoke GRANT_ID [--reason TEXT]  [--config FILE]';

export async function runGrantsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...configOption, reason: { type: 'string' }, json: { type: 'boolean' } });
  const [sub, id] = positionals;
  if (sub !== 'list' && sub !== 'revoke') throw new CliError(usage);
  if (sub === 'revoke' && id === undefined) throw new CliError(usage);
  const config = loadCliConfig(values.config);
  const { redis, url } = await connectCliRedisAt(config);
  try {
    const grants = await openGrants(redis, config.redis.prefix);
    if (sub === 'list') {
      const views = (await grants.listGrants(1_000)).map(toGrantView);
      if (values.json === true) {
        process.stdout.write(`${JSON.stringify(views, null, 2)}\n`);
      } else if (views.length === 0) {
        process.stdout.write(`no live grants in ${redactRedisUrl(url)} under the key prefix "${config.redis.prefix}"\n`);
      } else {
        const rows = views.map((v) => [v.id, v.agent, v.tool, pinsText(v), v.expiresAt, v.createdBy.name ?? v.createdBy.id]);
        printTable(['ID', 'AGENT', 'TOOL', 'PINNED', 'EXPIRES', 'GRANTED BY'], rows);
      }
      return 0;
    }
    const grantId = id ?? '';
    const result = await grants.revokeGrant(grantId, cliActor(), values.reason);
    switch (result.kind) {
      case 'revoked':
        process.stdout.write(`${grantId}: revoked (${result.grant.agent} on ${result.grant.tool} is held again)\n`);
        return 0;
      case 'not_authorized':
        process.stderr.write(`airlock: not allowed to revoke ${grantId}: ${result.why}\n`);
        return 1;
      case 'not_found':
        process.stderr.write(`airlock: no live grant ${grantId} (it may have expired or been revoked already)\n`);
        return 1;
    }
  } finally {
    redis.disconnect();
  }
}

/** The grants part of the approvals core, auditing into the gateway's own history (which the CLI never trims). */
async function openGrants(redis: Redis, prefix: string): Promise<GrantChannels> {
  const [{ AuditStore }, { createLogger }] = await Promise.all([import('../audit/audit-store.js'), import('../log.js')]);
  const log = createLogger({ stderr: true, level: 'warn' });
  const audit = new AuditStore({ redis, prefix, log, trimIntervalMs: 0 });
  return openGrantChannels(redis, prefix, audit);
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
