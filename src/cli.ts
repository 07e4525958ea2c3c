#!/usr/bin/env node
/**
 * `airlock` command line: one entry, one module per command group under src/cli/.
 * Exit codes: 0 success, 1 runtime failure, 2 usage or invalid input (config, policy, arguments).
 */
import { runAgentsCommand, runDashboardCommand } from './cli/agents.js';
import { runApprovalsCommand } from './cli/approvals.js';
import { runAuditCommand } from './cli/audit.js';
import { CliError, printError } from './cli/common.js';
import { runLimitsCommand } from './cli/limits.js';
import { runPolicyCommand } from './cli/policy.js';
import { runServe, runStdio } from './cli/serve.js';

const usage = `airlock — human-in-the-loop approval gateway for MCP

Usage:
  airlock serve [--config FILE]            run the gateway (HTTP: /mcp, /api, /slack/events, dashboard)
  airlock stdio [--config FILE]            serve one agent over stdin/stdout (token in AIRLOCK_TOKEN)
  airlock agents token NAME                print a new agent token and the config line to paste
  airlock dashboard token NAME             the same for a dashboard user
  airlock approvals list [--status S]      held calls, newest first (pending, approved, executed, outcome_unknown, …)
  airlock approvals show ID                one held call, arguments redacted
  airlock approvals approve|deny|rerun ID [--reason TEXT]   (rerun: a failed or outcome_unknown call, once more)
  airlock policy check [PATH ...]          validate policy files: every problem with its file and JSON path
  airlock policy explain --agent NAME --tool TOOL [--args JSON] [--json]
                                           the decision and its trace, before you ship a change
  airlock policy init [--out FILE] [--force]  a starting policy from the upstreams' tools/list
  airlock audit list [--agent A --tool T --type E --approval ID --since 7d --until 1h --limit N] [--json]
  airlock audit export [--format jsonl|csv] [--since … --until …] [--out FILE]
  airlock audit verify                     walk the hash chain; report the first broken link
  airlock audit show APPROVAL_ID           the story of one held call
  airlock limits show [--agent NAME] [--json]  rate-limit counters: count, max, window, when each frees a slot

Config: --config FILE, else $AIRLOCK_CONFIG, else ./airlock.config.json.`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, Command> = {
  serve: runServe,
  stdio: runStdio,
  agents: runAgentsCommand,
  dashboard: runDashboardCommand,
  approvals: runApprovalsCommand,
  audit: (args) => runAuditCommand(args),
  limits: runLimitsCommand,
  policy: (args) => runPolicyCommand(args),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) throw new CliError(`unknown command "${name}"\n\n${usage}`);
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = printError(error);
  },
);
