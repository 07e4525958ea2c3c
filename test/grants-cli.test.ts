/**
 * Standing grants from the command line (a separate process, straight to Redis): `airlock
 * approvals approve --grant` makes one, `airlock grants list` shows it, `airlock grants revoke`
 * ends it for every replica — the call path's lookup finds nothing afterwards — and each step is
 * recorded as `cli:<login>`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { runJobHold, startReplica, testPrefix, type Replica } from './helpers/approvals.js';
import { repoRoot } from './helpers/upstreams.js';

const replicas: Replica[] = [];
afterEach(async () => {
  await Promise.all(replicas.splice(0).map((r) => r.close()));
});

function cli(prefix: string, args: string[]) {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-cli-')), 'airlock.config.json');
  writeFileSync(file, JSON.stringify({ redis: { url: inject('redisUrl'), prefix }, mcpServers: { x: { url: 'http://127.0.0.1:9/mcp' } } }));
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli.ts'), ...args, '--config', file], {
    cwd: repoRoot,
    env: { ...process.env, USER: 'oncall', LOG_LEVEL: 'silent' },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

const pin = { path: 'params.job_id', digest: 'hmac-sha256:job-123', shown: 123 };

describe('airlock grants', () => {
  it('approves with a grant, lists it, and revokes it so the call path no longer finds it', async () => {
    const prefix = testPrefix();
    const replica = await startReplica(prefix);
    replicas.push(replica);
    const { approvals } = replica;
    const held = (await approvals.hold({ ...runJobHold({ settings: { grants: { pin: ['params.job_id'], maxDurationMs: 3_600_000 } } }), grantPins: [pin] }))
      .record;

    const tooLong = cli(prefix, ['approvals', 'approve', held.id, '--grant', '2h']);
    expect(tooLong.status).toBe(2);
    expect(tooLong.stderr).toContain('may last at most 1 h');

    const approved = cli(prefix, ['approvals', 'approve', held.id, '--grant', '30m', '--pin', 'params.job_id', '--reason', 'backfill']);
    expect(approved.stderr).toBe('');
    expect(approved.status).toBe(0);
    const grantId = /grant (grt_\w+): agent-a may call run_job with params\.job_id=123 until /.exec(approved.stdout)?.[1];
    expect(grantId).toBeDefined();
    const query = { agent: 'agent-a', tool: 'run_job', digests: { 'params.job_id': pin.digest }, maxDurationMs: 3_600_000 };
    expect((await approvals.findGrant(query))?.id).toBe(grantId);
    expect(await approvals.findGrant({ ...query, digests: { 'params.job_id': 'hmac-sha256:job-124' } })).toBeUndefined();

    const listed = cli(prefix, ['grants', 'list']);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${grantId}\\s+agent-a\\s+run_job\\s+params\\.job_id=123\\s+\\S+\\s+oncall`));

    const revoked = cli(prefix, ['grants', 'revoke', grantId!, '--reason', 'done']);
    expect(revoked.stdout).toBe(`${grantId}: revoked (agent-a on run_job is held again)\n`);
    expect(await approvals.findGrant(query)).toBeUndefined();
    expect(cli(prefix, ['grants', 'revoke', grantId!]).stderr).toContain(`no live grant ${grantId}`);
    expect(cli(prefix, ['grants', 'list']).stdout).toContain('no live grants');
  }, 90_000);
});
