/**
 * `airlock approvals` as an operator runs it (a separate process, straight to Redis): a re-run of
 * a failed call is a new decision recorded as `cli:<login>`; a call that did not fail is refused.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { releaseApproved, runJobHold, runJobResult, slackUser, startReplica, testPrefix, type Replica } from './helpers/approvals.js';
import { repoRoot } from './helpers/upstreams.js';

const replicas: Replica[] = [];
afterEach(async () => {
  await Promise.all(replicas.splice(0).map((r) => r.close()));
});

function approvalsCli(prefix: string, args: string[]) {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'airlock-cli-')), 'airlock.config.json');
  writeFileSync(file, JSON.stringify({ redis: { url: inject('redisUrl'), prefix }, mcpServers: { x: { url: 'http://127.0.0.1:9/mcp' } } }));
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli.ts'), 'approvals', ...args, '--config', file], {
    cwd: repoRoot,
    env: { ...process.env, USER: 'oncall', LOG_LEVEL: 'silent' },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('airlock approvals rerun', () => {
  it('approves a re-run of a failed call as cli:<login>, and refuses one for a call that ran', async () => {
    const prefix = testPrefix();
    const replica = await startReplica(prefix);
    replicas.push(replica);
    const { approvals } = replica;
    const failed = (await approvals.hold(runJobHold())).record;
    await approvals.decide(failed.id, slackUser('U0APPROVER1'), 'approve', undefined);
    await expect(
      releaseApproved(approvals, failed.id, async () => {
        throw new Error('upstream went away');
      }),
    ).rejects.toThrow();
    const ran = (await approvals.hold(runJobHold({ arguments: { params: { job_id: 101 } } }))).record;
    await approvals.decide(ran.id, slackUser('U0APPROVER1'), 'approve', undefined);
    await releaseApproved(approvals, ran.id, async () => runJobResult(7));

    const refused = approvalsCli(prefix, ['rerun', ran.id]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`${ran.id} is executed; a re-run is only for a call that failed or whose outcome is unknown`);

    const accepted = approvalsCli(prefix, ['rerun', failed.id, '--reason', 'checked: nothing ran']);
    expect(accepted.stderr).toBe('');
    expect(accepted.stdout).toBe(`${failed.id}: approved\n`);
    expect(accepted.status).toBe(0);
    expect(await approvals.get(failed.id)).toMatchObject({
      status: 'approved',
      attempt: 2,
      decidedBy: { kind: 'cli', id: 'cli:oncall' },
      reason: 'checked: nothing ran',
    });
  }, 60_000);
});
