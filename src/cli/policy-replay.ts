/**
 * `airlock policy replay --policy CANDIDATE --since 7d`: reads the audit history of the config's
 * Redis oldest first, a chunk at a time (flat memory, progress on a terminal's stderr), and
 * reports what the candidate policy would have decided differently — per tool and transition,
 * with examples, and how many decisions read redacted values. It only reads: no counters, no
 * approvals, no audit events are written.
 */
import path from 'node:path';
import { AuditStore } from '../audit/audit-store.js';
import { parseTime, timeHelp } from '../audit/time.js';
import { formatProblems } from '../errors.js';
import { loadPolicyFile } from '../policy/load.js';
import { PolicyReplay, replayedEventTypes, type ReplayReport } from '../policy/replay.js';
import { CliError, configOption, connectCliRedis, loadCliConfig, parse } from './common.js';
import type { CliIo } from './policy.js';
import { terminalProgress } from './progress.js';

export async function runPolicyReplay(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    ...configOption,
    policy: { type: 'string' },
    since: { type: 'string', default: '7d' },
    until: { type: 'string' },
    agent: { type: 'string' },
    tool: { type: 'string' },
    examples: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  });
  if (values.policy === undefined) throw new CliError('--policy CANDIDATE is required: the policy file to replay the history under');
  const since = parseTime(values.since);
  if (since === undefined) throw new CliError(`--since must be ${timeHelp}`);
  const until = values.until === undefined ? undefined : parseTime(values.until);
  if (values.until !== undefined && until === undefined) throw new CliError(`--until must be ${timeHelp}`);
  const examples = Number(values.examples);
  if (!Number.isInteger(examples) || examples < 0 || examples > 100) throw new CliError('--examples must be a whole number from 0 to 100');
  const file = path.resolve(values.policy);
  const loaded = await loadPolicyFile(file);
  if (!loaded.ok) {
    io.stdout.write(`${formatProblems(loaded.problems)}\n`);
    io.stderr.write(`${file}: ${loaded.problems.length} problem${loaded.problems.length === 1 ? '' : 's'}; fix them before replaying\n`);
    return 2;
  }
  const config = loadCliConfig(values.config);
  const store = new AuditStore({ redis: await connectCliRedis(config), prefix: config.redis.prefix, trimIntervalMs: 0, ownsConnection: true });
  const replay = new PolicyReplay(loaded.policy, { examplesPerTransition: examples });
  const skipped = { count: 0 };
  const progress = terminalProgress(process.stderr, (n) => `replayed ${n.toLocaleString('en-US')} calls`);
  try {
    const filter = {
      types: replayedEventTypes,
      since,
      ...(until === undefined ? {} : { until }),
      ...(values.agent ? { agent: values.agent } : {}),
      ...(values.tool ? { tool: values.tool } : {}),
    };
    for await (const chunk of store.calls(filter, skipped)) {
      let calls = 0;
      for (const event of chunk) if (replay.observe(event)) calls += 1;
      progress.add(calls);
    }
  } finally {
    progress.done();
    await store.close();
  }
  const report = replay.report();
  if (skipped.count > 0)
    io.stderr.write(`airlock: ${skipped.count} audit entries in the range could not be read and were left out; run \`airlock audit verify\`\n`);
  io.stdout.write(values.json ? `${JSON.stringify({ policy: file, ...report }, null, 2)}\n` : formatReport(file, report));
  return 0;
}

/** The report for a person: totals, then each tool's transitions with examples. */
export function formatReport(file: string, report: ReplayReport): string {
  const n = (count: number) => count.toLocaleString('en-US');
  const lines = [
    report.calls === 0
      ? `No audited calls in the range; nothing to replay under ${file}.`
      : `Replayed ${n(report.calls)} audited calls (${report.from} … ${report.to}) under ${file} (version ${report.policyVersion}):`,
  ];
  if (report.calls === 0) return `${lines.join('\n')}\n`;
  lines.push(`  ${n(report.changed)} would change, ${n(report.unchanged)} would not.`);
  if (report.uncertain > 0) {
    lines.push(
      `  ${n(report.uncertain)} decision${report.uncertain === 1 ? '' : 's'} uncertain: the candidate reads argument values the history keeps redacted (or truncated), so they were evaluated as "[redacted]".`,
    );
  }
  for (const tool of report.tools) {
    lines.push('', `${tool.tool}: ${n(tool.calls)} calls, ${n(tool.changed)} would change`);
    for (const t of tool.transitions) {
      lines.push(`  ${t.from} → ${t.to}: ${n(t.count)}${t.uncertain > 0 ? ` (${n(t.uncertain)} uncertain)` : ''}`);
      for (const e of t.examples) {
        const args = JSON.stringify(e.arguments ?? {});
        lines.push(
          `    e.g. ${e.time} ${e.agent ?? '?'} ${args.length > 120 ? `${args.slice(0, 117)}...` : args} → ${e.rule}${e.uncertain ? ' (uncertain)' : ''}`,
        );
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
