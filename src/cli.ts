#!/usr/bin/env node
/**
 * `airlock` command line: one entry, one module per command group under src/cli/, each loaded
 * only when its command runs — `airlock approvals list` never loads Slack, express or the MCP
 * server side, so it answers in a fraction of a second.
 * Exit codes: 0 success, 1 runtime failure, 2 usage or invalid input (config, policy, arguments).
 */
import { CliError, printError } from './cli/cli-error.js';

const usage = `airlock — human-in-the-loop approval gateway for MCP

Usage:
  airlock serve                            run the gateway (HTTP: /mcp, /api, /slack/events, dashboard)
  airlock stdio                            serve one agent over stdin/stdout (token in AIRLOCK_TOKEN)
  airlock doctor                           check the config, Redis, upstreams, policy and Slack; say how to fix each problem
  airlock agents token NAME                print a new agent token and the config line to paste
  airlock dashboard token NAME             the same for a dashboard user
  airlock approvals list [--status S]      held calls, newest first (pending, approved, executed, outcome_unknown, …)
  airlock approvals show ID                one held call, arguments redacted
  airlock approvals approve|deny|rerun ID [--reason TEXT]   (rerun: a failed or outcome_unknown call, once more)
  airlock approvals approve ID --grant 1h [--pin PATH]...   approve, and let matching calls run for 1h (policy approval.grants)
  airlock grants list [--json]             live standing grants: agent, tool, pinned values, expiry
  airlock grants revoke ID [--reason TEXT] revoke a grant on every replica at once
  airlock policy check [PATH ...]          validate policy files: every problem with its file and JSON path
  airlock policy explain --agent NAME --tool TOOL [--args JSON] [--json]
                                           the decision and its trace, before you ship a change
  airlock policy init [--out FILE] [--force]  a starting policy from the upstreams' tools/list
  airlock audit list [--agent A --tool T --type E --approval ID --since 7d --until 1h --limit N] [--json]
  airlock audit export [--format jsonl|csv] [--since … --until …] [--out FILE]
  airlock audit verify                     walk the hash chain; report the first broken link
  airlock audit show APPROVAL_ID           the story of one held call
  airlock limits show [--agent NAME] [--json]  rate-limit counters: count, max, window, when each frees a slot

Every command takes --config FILE (default: $AIRLOCK_CONFIG, else ./airlock.config.json) and uses
that config's Redis (its URL and key prefix, or the embedded redis-server \`airlock serve\` runs).`;

type Command = (args: string[]) => Promise<number>;

/** Each command's module, imported only when it runs. */
const commands: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./cli/serve.js')).runServe,
  stdio: async () => (await import('./cli/serve.js')).runStdio,
  doctor: async () => (await import('./cli/doctor.js')).runDoctor,
  agents: async () => (await import('./cli/agents.js')).runAgentsCommand,
  dashboard: async () => (await import('./cli/agents.js')).runDashboardCommand,
  approvals: async () => (await import('./cli/approvals.js')).runApprovalsCommand,
  grants: async () => (await import('./cli/grants.js')).runGrantsCommand,
  audit: async () => {
    const { runAuditCommand } = await import('./cli/audit.js');
    return (args) => runAuditCommand(args);
  },
  limits: async () => (await import('./cli/limits.js')).runLimitsCommand,
  policy: async () => {
    const { runPolicyCommand } = await import('./cli/policy.js');
    return (args) => runPolicyCommand(args);
  },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) throw new CliError(`unknown command "${name}"\n\n${usage}`);
  return (await load())(rest);
}

/**
 * A command is done when it returns: exit then (once stdout and stderr are flushed), rather than
 * wait for client libraries to wind down sockets they no longer need (ioredis waits up to 2 s for
 * a closing connection to end).
 */
function exitWhenFlushed(code: number): void {
  let pending = 2;
  const flushed = () => {
    pending -= 1;
    if (pending === 0) process.exit(code);
  };
  process.stdout.write('', flushed);
  process.stderr.write('', flushed);
}

main(process.argv.slice(2)).then(exitWhenFlushed, (error: unknown) => exitWhenFlushed(printError(error)));
